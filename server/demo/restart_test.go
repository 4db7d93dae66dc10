//go:build browser

package demo_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/internal/testproc"
	"github.com/wsfargate/websocket-service/server/internal/testredis"
)

// startServer runs bin on addr (host:port, port 0 for any) with env.
func startServer(t testing.TB, bin, addr string, env ...string) *testproc.Process {
	t.Helper()
	return testproc.Start(t, bin, append([]string{"ADDR=" + addr, "ADMIN_ADDR=", "LOG_FORMAT=json", "EMF_INTERVAL=0"}, env...)...)
}

// The real binary, backed by Redis, is stopped with SIGTERM and a new
// process started on the same port. Meanwhile another task on the same
// Redis takes messages. The page reconnects on its own and shows every
// message sent meanwhile, each once, and says how many it recovered.
func TestServerRestartResumesWithRedis(t *testing.T) {
	b := newBrowser(t)
	bin, err := testproc.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	redis := testredis.Start(t, false)
	env := []string{"BROKER=redis", "REDIS_URL=" + redis.URL, "DRAIN_DELAY=0s", "DRAIN_SPREAD=0s", "SHUTDOWN_TIMEOUT=5s"}

	first := startServer(t, bin, "127.0.0.1:0", env...)
	other := startServer(t, bin, "127.0.0.1:0", env...) // another task on the same Redis
	base := "http://" + first.Addr
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
	sender := dialClient(t, "ws://"+other.Addr+"/wss")
	before := sender.publish(`{"n":0}`)
	checkOffset(t, before)
	p.waitMessage(before) // crossed from the other task through Redis

	first.Stop(t, 15*time.Second)
	p.waitFor("the page to see 1001", `document.querySelector('#log li[data-close="1001"]')`, 10*time.Second)

	var missed []string
	for i := 1; i <= 3; i++ {
		missed = append(missed, sender.publish(fmt.Sprintf(`{"n":%d}`, i)))
	}
	if state := eval[string](p, `document.getElementById('state').dataset.state`); state == "connected" {
		t.Fatal("the page is connected while its server is down")
	}

	second := startServer(t, bin, first.Addr, env...)
	if second.Addr != first.Addr {
		t.Fatalf("second process listens on %s, want %s", second.Addr, first.Addr)
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
			strings.Join(got, "\n  "), strings.Join(want, "\n  "), first.Logs(), second.Logs())
	}
}
