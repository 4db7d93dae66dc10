package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsfargate/websocket-service/server/contract"
	"github.com/wsfargate/websocket-service/server/internal/testproc"
)

var binary string

func TestMain(m *testing.M) { os.Exit(testproc.RunMain(m, &binary)) }

func startProcess(t *testing.T, env ...string) *testproc.Process {
	t.Helper()
	return testproc.Start(t, binary, append([]string{"ADDR=127.0.0.1:0", "ADMIN_ADDR=127.0.0.1:0"}, env...)...)
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestShutdownPhases sends a real SIGTERM to a real process with real
// clients and checks the three phases: refuse at once, keep clients for the
// drain delay, close them with 1001 spread out, exit 0 in time.
func TestShutdownPhases(t *testing.T) {
	const delay, spread = time.Second, time.Second
	p := startProcess(t, "DRAIN_DELAY=1s", "DRAIN_SPREAD=1s", "SHUTDOWN_TIMEOUT=10s", "EMF_INTERVAL=100ms", "LOG_LEVEL=info")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := "ws://" + p.Addr + contract.WebSocketPath

	const clients = 5
	closedAt := make([]time.Duration, clients)
	codes := make([]websocket.StatusCode, clients)
	var wg sync.WaitGroup
	var signalled time.Time
	var sigMu sync.Mutex
	for i := range clients {
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if _, b, err := c.Read(ctx); err != nil || string(b) != `{"connection":"ok"}` {
			t.Fatalf("greeting %q %v", b, err)
		}
		wg.Go(func() {
			_, _, err := c.Read(ctx)
			sigMu.Lock()
			closedAt[i] = time.Since(signalled)
			sigMu.Unlock()
			codes[i] = websocket.CloseStatus(err)
		})
	}
	if got := status(t, "http://"+p.Addr+contract.HealthPath); got != http.StatusOK {
		t.Fatalf("/health before SIGTERM = %d", got)
	}
	time.Sleep(300 * time.Millisecond) // let a few EMF lines out

	sigMu.Lock()
	signalled = time.Now()
	sigMu.Unlock()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Phase 1, at once: unhealthy and refusing upgrades.
	eventually(t, 500*time.Millisecond, "/health 503", func() bool {
		return status(t, "http://"+p.Addr+contract.HealthPath) == http.StatusServiceUnavailable
	})
	if _, resp, err := websocket.Dial(ctx, url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("upgrade after SIGTERM: %v %v, want 503", resp, err)
	}
	began := time.Now()
	code := p.Wait(t, 10*time.Second)
	took := time.Since(began)
	wg.Wait()
	if code != 0 {
		t.Errorf("exit status %d, want 0\n%s", code, p.Logs())
	}
	t.Logf("exited %v after the stop began; clients closed at %v", took, closedAt)
	for i := range clients {
		// Phase 2: nobody closed during the drain delay. Phase 3: all got
		// 1001 within the spread window (plus slack for a slow machine).
		if codes[i] != websocket.StatusGoingAway {
			t.Errorf("client %d closed with %v, want 1001", i, codes[i])
		}
		if closedAt[i] < delay || closedAt[i] > delay+spread+2*time.Second {
			t.Errorf("client %d closed %v after SIGTERM, want between %v and %v", i, closedAt[i], delay, delay+spread)
		}
	}

	// EMF: one JSON record per line on stdout, named as the stack expects.
	lines := strings.Split(strings.TrimSpace(p.Stdout()), "\n")
	var sawClients bool
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("stdout line %q is not an EMF record: %v", l, err)
		}
		if rec[contract.MetricConnections] == float64(clients) && rec[contract.MetricDimension] == "websocket-service" {
			sawClients = true
		}
	}
	if !sawClients {
		t.Errorf("no EMF line reported %d connections: %q", clients, lines)
	}
}

func TestHealthcheckFlag(t *testing.T) {
	p := startProcess(t)
	tests := []struct {
		name string
		addr string
		want int
	}{
		{"server up", p.Addr, 0},
		{"nothing listening", "127.0.0.1:1", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(binary, "-healthcheck")
			cmd.Env = append(os.Environ(), "ADDR="+tt.addr)
			err := cmd.Run()
			got := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				got = ee.ExitCode()
			}
			if got != tt.want {
				t.Fatalf("-healthcheck against %s exited %d, want %d", tt.addr, got, tt.want)
			}
		})
	}
}

func TestConfigErrorExits2NamingTheKey(t *testing.T) {
	tests := []struct {
		env  []string
		args []string
		key  string
	}{
		{env: []string{"PING_INTERVAL=soon"}, key: "PING_INTERVAL"},
		{env: []string{"MAX_CONNECTIONS=-1"}, key: "MAX_CONNECTIONS"},
		{args: []string{"-log-format", "xml"}, key: "LOG_FORMAT"},
		{env: []string{"SHUTDOWN_TIMEOUT=130s"}, key: "SHUTDOWN_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			cmd := exec.Command(binary, tt.args...)
			cmd.Env = append(os.Environ(), tt.env...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want status 2; output %s", err, out)
			}
			if !strings.Contains(string(out), tt.key) {
				t.Fatalf("output %q does not name %s", out, tt.key)
			}
		})
	}
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// On ECS the stop decision shows in the task metadata before SIGTERM; the
// server must drain on it alone.
func TestDrainsWhenECSStopsTheTask(t *testing.T) {
	var stopping atomic.Bool
	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := "RUNNING"
		if stopping.Load() {
			status = "STOPPED"
		}
		fmt.Fprintf(w, `{"TaskARN":"arn:aws:ecs:us-east-1:1:task/c/abc","DesiredStatus":%q,"KnownStatus":"RUNNING"}`, status)
	}))
	defer meta.Close()
	p := startProcess(t, "ECS_CONTAINER_METADATA_URI_V4="+meta.URL+"/v4/abc", "STOP_POLL_INTERVAL=50ms",
		"DRAIN_DELAY=200ms", "DRAIN_SPREAD=200ms", "SHUTDOWN_TIMEOUT=10s")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+p.Addr+contract.WebSocketPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // several polls that say RUNNING
	if got := status(t, "http://"+p.Addr+contract.HealthPath); got != http.StatusOK {
		t.Fatalf("/health while RUNNING = %d", got)
	}
	stopping.Store(true)
	_, _, err = c.Read(ctx)
	if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
		t.Fatalf("client closed with %v (%v), want 1001", code, err)
	}
	if code := p.Wait(t, 5*time.Second); code != 0 {
		t.Fatalf("exit status %d, want 0\n%s", code, p.Logs())
	}
	if !strings.Contains(p.Logs(), "ECS is stopping this task") {
		t.Errorf("logs do not say why it drained:\n%s", p.Logs())
	}
}

func TestDemoPageIsMounted(t *testing.T) {
	p := startProcess(t)
	for _, path := range []string{"/demo", "/demo/app.js", "/demo/stats"} {
		resp, err := http.Get("http://" + p.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s = %d, CSP %q; want 200 with a CSP", path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
	}
	if !strings.Contains(p.Logs(), `"demo":"http://`+p.Addr+`/demo"`) {
		t.Errorf("start-up log does not give the demo URL:\n%s", p.Logs())
	}
}

// The listener's HTTP timeouts cut a client that dawdles over its request
// headers, but never an upgraded WebSocket, however long it idles.
func TestHTTPTimeoutsSpareWebSockets(t *testing.T) {
	p := startProcess(t, "READ_HEADER_TIMEOUT=300ms", "IDLE_TIMEOUT=300ms", "PING_INTERVAL=10s", "PING_TIMEOUT=5s")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ws, _, err := websocket.Dial(ctx, "ws://"+p.Addr+contract.WebSocketPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if _, _, err := ws.Read(ctx); err != nil {
		t.Fatal(err)
	}

	slow, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write([]byte("GET /health HTTP/1.1\r\nHost: x\r\n")); err != nil { // and never the blank line
		t.Fatal(err)
	}
	began := time.Now()
	_ = slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(slow); err != nil {
		t.Fatalf("half-sent request still open after 5s: %v", err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("half-sent request cut after %v, want about READ_HEADER_TIMEOUT (300ms)", took)
	}

	time.Sleep(time.Second) // idle, well past both timeouts
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"still":"open"}`)); err != nil {
		t.Fatalf("WebSocket cut while idle: %v", err)
	}
	if _, b, err := ws.Read(ctx); err != nil || !strings.Contains(string(b), `"still":"open"`) {
		t.Fatalf("after idling: %q %v", b, err)
	}
}

// Prometheus metrics are on the admin listener, and only there.
func TestMetricsOnAdminListenerOnly(t *testing.T) {
	p := startProcess(t)
	var admin string
	for _, line := range strings.Split(p.Logs(), "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "admin listening" {
			admin = rec.Addr
		}
	}
	if admin == "" {
		t.Fatalf("no admin address in the logs:\n%s", p.Logs())
	}
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"ws_connections", "ws_messages_received_total", "ws_broker_up 1", "go_goroutines"} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if got := status(t, "http://"+p.Addr+"/metrics"); got != http.StatusNotFound {
		t.Errorf("/metrics on the public listener = %d, want 404", got)
	}
}
