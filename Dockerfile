# syntax=docker/dockerfile:1
# The server image: built natively on the build machine, cross-compiled for
# the ARM64 Fargate tasks, shipped as a single static binary on distroless.

FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src
# Only the server's sources: the Pulumi program shares go.mod but its
# packages (and SDK downloads) are never needed to build the server.
COPY go.mod go.sum ./
COPY server/ server/
RUN --mount=type=cache,target=/root/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux GOARCH=arm64 \
    go build -trimpath -ldflags="-s -w" -o /out/wsserver ./server/cmd/wsserver

FROM --platform=linux/arm64 gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/wsserver /wsserver
USER nonroot:nonroot
EXPOSE 8080
# No shell or curl in the image: the binary probes its own /health.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/wsserver", "-healthcheck"]
ENTRYPOINT ["/wsserver"]
