// Package testproc builds the wsserver binary and runs it as a real process
// for tests that need real signals, real exits and several instances.
package testproc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles server/cmd/wsserver into dir and returns the binary's path.
func Build(dir string) (string, error) {
	_, here, _, _ := runtime.Caller(0)
	pkg := filepath.Join(filepath.Dir(here), "..", "..", "cmd", "wsserver")
	bin := filepath.Join(dir, "wsserver")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = pkg
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New("build wsserver: " + err.Error() + "\n" + string(out))
	}
	return bin, nil
}

// RunMain is a TestMain body for packages that run the binary: it builds
// wsserver into a temporary directory, stores the path in *bin, runs the
// tests and cleans up, returning the exit code for os.Exit.
func RunMain(m *testing.M, bin *string) int {
	dir, err := os.MkdirTemp("", "wsserver")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	if *bin, err = Build(dir); err != nil {
		panic(err)
	}
	return m.Run()
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Process is a running wsserver.
type Process struct {
	Cmd  *exec.Cmd
	Addr string // host:port of the public listener, from its "listening" log line

	mu     sync.Mutex
	stdout bytes.Buffer
	logs   bytes.Buffer
	exited chan struct{}
	err    error
}

// Start runs bin with the environment plus env and waits until it listens.
// It is killed when the test ends, if still running.
func Start(t testing.TB, bin string, env ...string) *Process {
	t.Helper()
	p := &Process{exited: make(chan struct{})}
	p.Cmd = exec.Command(bin)
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.Stdout = writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.stdout.Write(b)
	})
	stderr, err := p.Cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Cmd.Process.Kill()
		<-p.exited
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Bytes()
			p.mu.Lock()
			p.logs.Write(append(line, '\n'))
			p.mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" {
				ready <- rec.Addr
			}
		}
		p.err = p.Cmd.Wait()
		close(p.exited)
	}()
	select {
	case p.Addr = <-ready:
	case <-p.exited:
		t.Fatalf("wsserver exited at start: %v\n%s", p.err, p.Logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("wsserver did not start\n%s", p.Logs())
	}
	return p
}

// Logs returns what the process wrote to stderr so far.
func (p *Process) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// Stdout returns what the process wrote to stdout so far.
func (p *Process) Stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

// Signal sends sig to the process.
func (p *Process) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal: %v", err)
	}
}

// Stop sends SIGTERM and fails the test unless the process exits 0 within d.
func (p *Process) Stop(t testing.TB, d time.Duration) {
	t.Helper()
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, d); code != 0 {
		t.Fatalf("wsserver exited %d after SIGTERM\n%s", code, p.Logs())
	}
}

// Wait waits up to d for the process to exit and returns its exit status.
func (p *Process) Wait(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(d):
		t.Fatalf("wsserver still running after %v\n%s", d, p.Logs())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

var _ io.Writer = writerFunc(nil)
