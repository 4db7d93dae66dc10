package pusher_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/hub"
	"github.com/wsfargate/websocket-service/server/internal/testlog"
	"github.com/wsfargate/websocket-service/server/metrics"
	"github.com/wsfargate/websocket-service/server/pusher"
	"github.com/wsfargate/websocket-service/server/transport"
)

// The transport's mechanisms apply to Pusher connections unchanged.

func TestForeignOriginRefused(t *testing.T) {
	a := startApp(t, nil)
	h := http.Header{"Origin": {"https://evil.example"}}
	_, resp, err := websocket.Dial(testContext(t, 5*time.Second), a.WS, &websocket.DialOptions{HTTPHeader: h})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial from a foreign origin: %v, want 403", err)
	}
	h = http.Header{"Origin": {"https://app.example"}}
	allowed := startApp(t, map[string]string{"ALLOWED_ORIGINS": "app.example"})
	c, _, err := websocket.Dial(testContext(t, 5*time.Second), allowed.WS, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial from an allowed origin: %v", err)
	}
	c.CloseNow()
}

func TestOversizedMessageCloses1009(t *testing.T) {
	a := startApp(t, map[string]string{"MAX_MESSAGE_BYTES": "1024"})
	c := a.dial(t)
	c.send([]byte(`{"event":"pusher:ping","data":"` + strings.Repeat("x", 2048) + `"}`))
	c.closedWith(websocket.StatusMessageTooBig)
}

// A subscriber that stops reading falls behind its own cursor only: the
// others get every event at once, and it is evicted.
func TestSlowSubscriberEvicted(t *testing.T) {
	a := startApp(t, map[string]string{"WRITE_TIMEOUT": "1s", "SEND_QUEUE": "64", "SOURCE_API_RATE": "0"})
	readers := []*client{a.dial(t), a.dial(t)}
	for _, c := range readers {
		c.subscribe("firehose", "")
		c.next("pusher_internal:subscription_succeeded")
	}
	stalled := dialSmallBuffer(t, a.WS)
	stalled.subscribe("firehose", "")

	pad := strings.Repeat("x", 8000)
	const events = 1000 // 8 MB: more than loopback socket buffers hold
	for range events {
		a.trigger(t, "firehose", "e", pad, nil)
	}
	for i, c := range readers {
		for n := range events {
			select {
			case f, ok := <-c.frames:
				if !ok || f.Event != "e" {
					t.Fatalf("reader %d: frame %d is %+v (open %v)", i, n, f, ok)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("reader %d got %d of %d events: held up by the stalled subscriber", i, n, events)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.Connections() != 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := a.Connections(); n != 2 {
		t.Fatalf("%d connections, want the stalled subscriber evicted", n)
	}
	evicted := testutil.ToFloat64(a.Metrics.Evictions.WithLabelValues("queue_full")) + testutil.ToFloat64(a.Metrics.Evictions.WithLabelValues("write_timeout"))
	if evicted != 1 {
		t.Fatalf("%v evictions counted, want 1", evicted)
	}
}

// dialSmallBuffer connects with a small socket receive buffer and never
// reads past connection_established, so the server's writes back up.
func dialSmallBuffer(t *testing.T, u string) *client {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(4 << 10)
			}
			return c, err
		},
	}}
	conn, _, err := websocket.Dial(testContext(t, 5*time.Second), u, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	_, b, err := conn.Read(testContext(t, 5*time.Second))
	if err != nil || !bytes.Contains(b, []byte("connection_established")) {
		t.Fatalf("first frame %s, %v", b, err)
	}
	return &client{t: t, conn: conn}
}

// Connection log lines and metrics cover Pusher connections as they do
// the seed's.
func TestLogsAndMetrics(t *testing.T) {
	var logs testlog.Buffer
	vars := map[string]string{"PUSHER_APP_ID": appID, "PUSHER_APP_KEY": appKey, "PUSHER_APP_SECRET": appSecret}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	log := hub.NewLog(cfg.HistorySize, hub.StartOffset(time.Now()))
	srv := transport.New(cfg, log, log, m, logger)
	t.Cleanup(srv.Close)
	app := pusher.New(cfg, srv, logger, pusher.Options{Registry: m.Registry})
	mux := http.NewServeMux()
	app.Routes(mux)
	hs := newServer(t, mux)
	a := &testApp{Server: srv, App: app, HTTP: hs, Metrics: m, Config: cfg,
		WS: "ws" + strings.TrimPrefix(hs, "http") + "/app/" + appKey + "?protocol=7"}

	c := a.dial(t)
	c.subscribe("news", "")
	c.next("pusher_internal:subscription_succeeded")
	a.trigger(t, "news", "e", "1", nil)
	c.next("e")
	if got := testutil.ToFloat64(m.Connections); got != 1 {
		t.Fatalf("ws_connections %v, want 1", got)
	}
	_ = c.conn.Close(websocket.StatusNormalClosure, "bye")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), `"msg":"connection closed"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	out := logs.String()
	for _, want := range []string{`"msg":"connection opened","protocol":"pusher"`, `"msg":"connection closed","code":1000`, `"delivered":1`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, appSecret) {
		t.Error("the app secret is in the logs")
	}
	if got := testutil.ToFloat64(m.MessagesOut); got < 1 {
		t.Errorf("ws_messages_delivered_total %v, want the event counted", got)
	}
}

func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	return hs.URL
}
