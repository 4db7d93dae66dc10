# Every target works on a fresh clone. `make test` is what CI runs.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c

GO            ?= go
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
ACTIONLINT    := github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
# A count, not a duration: Go 1.26's fuzz coordinator can fail a timed run
# with a spurious "context deadline exceeded" when the time is up while a
# worker is busy (go.dev/issue/75804, fixed in Go 1.27); a count has no
# deadline to race.
FUZZTIME      ?= 20000x
SERVER_PKGS    = $(shell $(GO) list ./server/... | grep -v /server/e2e)
INFRA_PKGS    := ./policy/... $(if $(wildcard stack/*.go),. ./stack/...)

.PHONY: run test test-server test-e2e test-browser screenshot test-infra fuzz compat lint bench build

## run: the server on localhost:8080, in memory, readable logs, with a
## local Pusher app (id local, key local-key) whose secret is for local use only
run:
	$(GO) run ./server/cmd/wsserver -log-format text \
	  -pusher-app-id local -pusher-app-key local-key -pusher-app-secret local-secret-not-for-production \
	  -pusher-client-events=true

## build: the server and load generator for this machine, into bin/
build:
	$(GO) build -trimpath -o bin/ ./server/cmd/...

## test: every test; installs nothing it can't find, and says so
test: lint test-server test-e2e test-browser test-infra fuzz compat

test-server:
	$(GO) test -race -count=1 $(SERVER_PKGS)

## test-e2e: three server processes, haproxy and redis-server (no -race: 1,000 clients)
test-e2e:
	$(GO) test -count=1 ./server/e2e/

## test-browser: the demo page in headless Chromium
test-browser:
	$(GO) test -count=1 -tags browser ./server/demo/

## screenshot: regenerate docs/demo.png and docs/pusher-demo.png
screenshot:
	DEMO_SCREENSHOT=docs/demo.png PUSHER_DEMO_SCREENSHOT=docs/pusher-demo.png $(GO) test -count=1 -tags browser -run 'TestScreenshot|TestPusherScreenshot' ./server/demo/

test-infra:
	$(GO) test -count=1 $(INFRA_PKGS)

## fuzz: each fuzz target for FUZZTIME executions
fuzz:
	@for pkg in $$($(GO) list $(SERVER_PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## compat: third-party clients (npm ws, wscat; pusher-js, the pusher SDK, Laravel Echo) against a real server
compat:
	@command -v npm >/dev/null || { echo "make compat needs node and npm (apt-get install -y nodejs npm)"; exit 1; }
	cd server/testdata/compat && npm ci --no-audit --no-fund --loglevel=error
	cd server/testdata/pusher && npm ci --no-audit --no-fund --loglevel=error
	$(GO) test -count=1 -run TestThirdPartyClients -tags compat ./server/transport/
	$(GO) test -count=1 -run TestPusherClients -tags compat ./server/app/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@if ls .github/workflows/*.yml >/dev/null 2>&1; then $(GO) run $(ACTIONLINT) .github/workflows/*.yml; fi

## bench: the benchmark report, bench/REPORT.md
bench:
	bash bench/run.sh
