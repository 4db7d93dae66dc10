package main_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/wsfargate/websocket-service/server/contract"
)

// instruction is one parsed Dockerfile line: the command and its arguments,
// flags such as --platform kept apart.
type instruction struct {
	cmd   string
	args  []string
	flags []string
	raw   string
}

func parseDockerfile(t *testing.T) []instruction {
	t.Helper()
	f, err := os.Open("../../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("parse Dockerfile: %v", err)
	}
	var out []instruction
	for _, n := range res.AST.Children {
		in := instruction{cmd: strings.ToUpper(n.Value), flags: n.Flags, raw: n.Original}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		out = append(out, in)
	}
	return out
}

func TestDockerfileInvariants(t *testing.T) {
	ins := parseDockerfile(t)
	var stages [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stages", len(stages))
	}
	builder, final := stages[0], stages[len(stages)-1]

	t.Run("builder runs on the build platform and cross-compiles for arm64", func(t *testing.T) {
		if !slices.Contains(builder[0].flags, "--platform=$BUILDPLATFORM") {
			t.Errorf("builder FROM flags %v, want --platform=$BUILDPLATFORM", builder[0].flags)
		}
		var build string
		for _, in := range builder {
			if in.cmd == "RUN" && strings.Contains(in.raw, "go build") {
				build = in.raw
			}
			if in.cmd == "RUN" && strings.Contains(in.raw, "go mod download") {
				t.Errorf("%q downloads every module, the Pulumi SDKs included", in.raw)
			}
			if in.cmd == "COPY" && slices.Contains(in.args, ".") && in.args[0] == "." {
				t.Errorf("%q copies the whole context into the builder", in.raw)
			}
		}
		for _, want := range []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "-trimpath", "./server/cmd/wsserver"} {
			if !strings.Contains(build, want) {
				t.Errorf("go build step %q lacks %s", build, want)
			}
		}
	})
	t.Run("final image is distroless, arm64, non-root", func(t *testing.T) {
		from := final[0]
		if !slices.Contains(from.flags, "--platform=linux/arm64") {
			t.Errorf("final FROM flags %v, want --platform=linux/arm64", from.flags)
		}
		if !strings.HasPrefix(from.args[0], "gcr.io/distroless/static") {
			t.Errorf("final base %s, want distroless static", from.args[0])
		}
		user := ""
		for _, in := range final {
			if in.cmd == "USER" {
				user = in.args[0]
			}
		}
		if u := strings.Split(user, ":")[0]; u == "" || u == "root" || u == "0" {
			t.Errorf("final USER %q, want a non-root user", user)
		}
	})
	t.Run("exposes the contract port and checks its own health", func(t *testing.T) {
		var expose, health, entry []string
		for _, in := range final {
			switch in.cmd {
			case "EXPOSE":
				expose = in.args
			case "HEALTHCHECK":
				health = in.args
			case "ENTRYPOINT":
				entry = in.args
			}
		}
		if !slices.Contains(expose, strconv.Itoa(contract.Port)) {
			t.Errorf("EXPOSE %v, want %d", expose, contract.Port)
		}
		if len(health) < 2 || health[0] != "CMD" || !strings.Contains(strings.Join(health, " "), "/wsserver -healthcheck") {
			t.Errorf("HEALTHCHECK %v, want CMD /wsserver -healthcheck", health)
		}
		if len(entry) == 0 || entry[0] != "/wsserver" {
			t.Errorf("ENTRYPOINT %v, want /wsserver", entry)
		}
	})
}

// The image's binary: cross-compiled here exactly as the Dockerfile does,
// then checked to be a static AArch64 executable.
func TestCrossCompilesForARM64(t *testing.T) {
	out := filepath.Join(t.TempDir(), "wsserver")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cross-compile: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 || f.Type != elf.ET_EXEC {
		t.Fatalf("binary is %v %v %v, want a 64-bit AArch64 executable", f.Machine, f.Class, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("binary has an ELF interpreter: it is dynamically linked and would not run on distroless/static")
		}
	}
	st, _ := os.Stat(out)
	t.Logf("linux/arm64 binary: %d KiB", st.Size()>>10)
}

// The container must not link the Pulumi or AWS SDKs.
func TestServerImportsNoCloudSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps returned only %v", deps)
	}
	for _, d := range deps {
		for _, banned := range []string{"github.com/pulumi/", "github.com/aws/aws-sdk-go"} {
			if strings.HasPrefix(d, banned) {
				t.Errorf("wsserver depends on %s", d)
			}
		}
	}
}
