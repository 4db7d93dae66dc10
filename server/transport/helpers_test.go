package transport_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/hub"
	"github.com/wsfargate/websocket-service/server/metrics"
	"github.com/wsfargate/websocket-service/server/transport"
)

// testServer is a transport.Server on a loopback listener.
type testServer struct {
	*transport.Server
	URL     string // ws://127.0.0.1:port/wss
	HTTP    string // http://127.0.0.1:port
	Metrics *metrics.Metrics
	Log     *hub.Log
}

func defaultConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Load(func(string) (string, bool) { return "", false }, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// start runs a server with the default config as changed by tune.
func start(t testing.TB, tune func(*config.Config)) *testServer {
	t.Helper()
	return startOn(t, tune, func(l net.Listener) net.Listener { return smallBuffers{l} })
}

// startOn is start with the listener wrapped by wrap.
func startOn(t testing.TB, tune func(*config.Config), wrap func(net.Listener) net.Listener) *testServer {
	t.Helper()
	cfg := defaultConfig(t)
	if tune != nil {
		tune(cfg)
	}
	m := metrics.New()
	log := hub.NewLog(max(cfg.HistorySize, cfg.SendQueue+1), hub.StartOffset(time.Now()))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := transport.New(cfg, log, log, m, logger)
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener = wrap(hs.Listener)
	hs.Start()
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Run(ctx)
	t.Cleanup(func() {
		cancel()
		hs.CloseClientConnections()
		hs.Close()
		srv.Close()
	})
	return &testServer{
		Server:  srv,
		URL:     "ws" + strings.TrimPrefix(hs.URL, "http") + "/wss",
		HTTP:    hs.URL,
		Metrics: m,
		Log:     log,
	}
}

func testContext(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// dial connects and consumes the greeting.
func dial(t testing.TB, ctx context.Context, url string) *websocket.Conn {
	t.Helper()
	c, _ := dialHello(t, ctx, url)
	return c
}

// dialHello connects and returns the greeting too.
func dialHello(t testing.TB, ctx context.Context, url string) (*websocket.Conn, map[string]any) {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(1 << 22)
	t.Cleanup(func() { c.CloseNow() })
	hello := readFrame(t, ctx, c)
	if hello["connection"] != "ok" {
		t.Fatalf("greeting = %v, want connection ok", hello)
	}
	return c, hello
}

func readFrame(t testing.TB, ctx context.Context, c *websocket.Conn) map[string]any {
	t.Helper()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("frame type %v, want text", typ)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("frame %q is not JSON: %v", b, err)
	}
	return m
}

func send(t testing.TB, ctx context.Context, c *websocket.Conn, s string) {
	t.Helper()
	if err := c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

// closeStatus reads until the connection ends and returns its close error.
func closeStatus(t testing.TB, ctx context.Context, c *websocket.Conn) (websocket.StatusCode, string) {
	t.Helper()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason
		}
		return websocket.CloseStatus(err), err.Error()
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func get(t testing.TB, url string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// smallBuffers shrinks the kernel send buffer of every accepted connection,
// so that a client that stops reading fills it after a few kilobytes rather
// than megabytes. Clients that read are unaffected.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

// dialStalled connects with a small receive buffer, for a client that will
// stop reading.
func dialStalled(t testing.TB, ctx context.Context, url string) *websocket.Conn {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(8 << 10)
			}
			return c, err
		},
	}}
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(1 << 22)
	t.Cleanup(func() { c.CloseNow() })
	if got := readFrame(t, ctx, c); got["connection"] != "ok" {
		t.Fatalf("greeting = %v, want connection ok", got)
	}
	return c
}

// discard reads and drops everything c receives, for a publisher that does
// not care about its own copies but must not become a slow consumer.
func discard(ctx context.Context, c *websocket.Conn) {
	go func() {
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()
}
