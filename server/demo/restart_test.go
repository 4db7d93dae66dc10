//go:build browser

package demo_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/internal/testredis"
)

// buildServer compiles the real binary once per test.
func buildServer(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wsserver")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/wsfargate/websocket-service/server/cmd/wsserver")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build wsserver: %v\n%s", err, out)
	}
	return bin
}

// process is a running wsserver.
type process struct {
	t      testing.TB
	cmd    *exec.Cmd
	addr   string // host:port of the public listener
	mu     sync.Mutex
	logs   bytes.Buffer
	exited chan struct{}
	err    error
}

// startServer runs bin with env on addr (host:port, port 0 for any) and
// waits for its "listening" log line.
func startServer(t testing.TB, bin, addr string, env ...string) *process {
	t.Helper()
	p := &process{t: t, exited: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append(os.Environ(), append([]string{"ADDR=" + addr, "ADMIN_ADDR=", "LOG_FORMAT=json", "EMF_INTERVAL=0"}, env...)...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
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
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	select {
	case p.addr = <-ready:
	case <-p.exited:
		t.Fatalf("wsserver exited at start: %v\n%s", p.err, p.output())
	case <-time.After(15 * time.Second):
		t.Fatalf("wsserver did not start\n%s", p.output())
	}
	return p
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.t.Fatalf("wsserver still running 15s after SIGTERM\n%s", p.output())
	}
	if p.err != nil {
		p.t.Fatalf("wsserver exit: %v\n%s", p.err, p.output())
	}
}

// The real binary, backed by Redis, is stopped with SIGTERM and a new
// process started on the same port. Meanwhile another task on the same
// Redis takes messages. The page reconnects on its own and shows every
// message sent meanwhile, each once, and says how many it recovered.
func TestServerRestartResumesWithRedis(t *testing.T) {
	b := newBrowser(t)
	bin := buildServer(t)
	redis := testredis.Start(t, false)
	env := []string{"BROKER=redis", "REDIS_URL=" + redis.URL, "DRAIN_DELAY=0s", "DRAIN_SPREAD=0s", "SHUTDOWN_TIMEOUT=5s"}

	first := startServer(t, bin, "127.0.0.1:0", env...)
	other := startServer(t, bin, "127.0.0.1:0", env...) // another task on the same Redis
	base := "http://" + first.addr
	resp, err := http.Get(base + "/demo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /demo on the wsserver binary: %s; server/app must mount demo.Handler on GET /demo and GET /demo/", resp.Status)
	}

	p := b.open(t, base+"/demo")
	p.waitConnected()
	sender := dialClient(t, "ws://"+other.addr+"/wss")
	before := sender.publish(`{"n":0}`)
	checkOffset(t, before)
	p.waitMessage(before) // crossed from the other task through Redis

	first.stop()
	p.waitFor("the page to see 1001", `document.querySelector('#log li[data-close="1001"]')`, 10*time.Second)

	var missed []string
	for i := 1; i <= 3; i++ {
		missed = append(missed, sender.publish(fmt.Sprintf(`{"n":%d}`, i)))
	}
	if state := eval[string](p, `document.getElementById('state').dataset.state`); state == "connected" {
		t.Fatal("the page is connected while its server is down")
	}

	second := startServer(t, bin, first.addr, env...)
	if second.addr != first.addr {
		t.Fatalf("second process listens on %s, want %s", second.addr, first.addr)
	}
	p.waitFor("the recovered notice", `!document.getElementById('recovered').hidden`, 30*time.Second)
	if got := eval[string](p, `document.getElementById('recovered').dataset.count`); got != "3" {
		t.Errorf("recovered count %q, want 3; notice: %s", got, p.text("recovered"))
	}
	if !eval[bool](p, `document.getElementById('alert').hidden`) {
		t.Errorf("unexpected alert: %s", p.text("alert"))
	}

	after := sender.publish(`{"n":4}`)
	p.waitMessage(after)
	var got []string
	for _, m := range p.messages() {
		got = append(got, m.Offset+" "+m.Payload)
	}
	want := []string{before + ` {"n":0}`}
	for i, o := range missed {
		want = append(want, fmt.Sprintf(`%s {"n":%d}`, o, i+1))
	}
	want = append(want, after+` {"n":4}`)
	if !slices.Equal(got, want) {
		t.Errorf("page shows\n  %s\nwant each message once, in order:\n  %s\nfirst process:\n%s\nsecond process:\n%s",
			strings.Join(got, "\n  "), strings.Join(want, "\n  "), first.output(), second.output())
	}
}
