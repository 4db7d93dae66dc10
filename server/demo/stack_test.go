//go:build browser

package demo_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/demo"
	"github.com/wsfargate/websocket-service/server/hub"
	"github.com/wsfargate/websocket-service/server/metrics"
	"github.com/wsfargate/websocket-service/server/transport"
)

// testRate is what the in-process stats report as messages per second, so
// a test can tell the page shows the server's figure.
const testRate = 2.5

// site is the demo page and a WebSocket endpoint on one origin, as the
// binary serves them. The endpoint behind it can be swapped, to play a
// server going away and another taking its place.
type site struct {
	URL     string // http://127.0.0.1:port
	backend atomic.Pointer[transport.Server]
}

// backend is one transport.Server (one "task") reading a log.
func newBackend(t testing.TB, log *hub.Log) *transport.Server {
	t.Helper()
	cfg, err := config.Load(func(string) (string, bool) { return "", false }, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv := transport.New(cfg, log, log, metrics.New(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go srv.Run(ctx)
	return srv
}

func newLog() *hub.Log {
	return hub.NewLog(1024, hub.StartOffset(time.Now()))
}

// startSite serves the demo handler and, for everything else, whichever
// backend is current; with none, it answers 503 as a server that is
// restarting would.
func startSite(t testing.TB, first *transport.Server) *site {
	t.Helper()
	s := &site{}
	s.backend.Store(first)
	stats := func() demo.Stats {
		b := s.backend.Load()
		if b == nil {
			return demo.Stats{}
		}
		return demo.Stats{Connections: b.Connections(), MessagesPerSecond: testRate}
	}
	h := demo.Handler(stats)
	mux := http.NewServeMux()
	mux.Handle("GET /demo", h)
	mux.Handle("GET /demo/", h)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b := s.backend.Load()
		if b == nil {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		b.Handler().ServeHTTP(w, r)
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	s.URL = hs.URL
	return s
}

// wsURL is the WebSocket endpoint of an http://host:port base URL.
func wsURL(base string) string {
	return "ws" + strings.TrimPrefix(base, "http") + "/wss"
}

// serve puts srv behind its own listener, for a client that talks to a
// backend directly (another task behind the same load balancer).
func serve(t testing.TB, srv *transport.Server) string {
	t.Helper()
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	return hs.URL
}

// wsClient is a plain Go WebSocket client next to the pages.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
}

// broadcast is a message frame as the server sends it.
type broadcast struct {
	Message json.RawMessage `json:"message"`
	Offset  string          `json:"offset"`
}

func dialClient(t testing.TB, url string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	w := &wsClient{t: t, conn: c}
	var hello map[string]any
	w.read(&hello)
	if hello["connection"] != "ok" {
		t.Fatalf("greeting %v, want connection ok", hello)
	}
	return w
}

func (w *wsClient) read(v any) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := w.conn.Read(ctx)
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		w.t.Fatalf("frame %s: %v", b, err)
	}
}

// publish sends payload and returns the offset the server gave it, read
// from the client's own copy of the broadcast.
func (w *wsClient) publish(payload string) string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.conn.Write(ctx, websocket.MessageText, []byte(payload)); err != nil {
		w.t.Fatalf("write %s: %v", payload, err)
	}
	for {
		var b broadcast
		w.read(&b)
		if string(b.Message) == payload {
			return b.Offset
		}
	}
}

// next reads the next broadcast.
func (w *wsClient) next() broadcast {
	w.t.Helper()
	var b broadcast
	w.read(&b)
	return b
}
