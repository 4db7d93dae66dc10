package transport_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wsfargate/websocket-service/server/config"
)

func TestBroadcastReachesEveryClientInOrder(t *testing.T) {
	ts := start(t, nil)
	ctx := testContext(t, 10*time.Second)
	const clients, perClient = 4, 25
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conns[i] = dial(t, ctx, ts.URL)
	}
	eventually(t, 2*time.Second, "clients registered", func() bool { return ts.Connections() == clients })

	// Every client publishes at once; all must see the same sequence.
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			for j := range perClient {
				if err := c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"from":%d,"n":%d}`, i, j)); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()

	var first []string
	for i, c := range conns {
		var got []string
		var last uint64
		for range clients * perClient {
			f := readFrame(t, ctx, c)
			msg, ok := f["message"].(map[string]any)
			if !ok {
				t.Fatalf("frame %v has no message object", f)
			}
			off, err := strconv.ParseUint(f["offset"].(string), 10, 64)
			if err != nil || (last != 0 && off != last+1) {
				t.Fatalf("client %d: offset %v after %d, want consecutive", i, f["offset"], last)
			}
			last = off
			got = append(got, fmt.Sprintf("%v/%v@%d", msg["from"], msg["n"], off))
		}
		if first == nil {
			first = got
			continue
		}
		if strings.Join(got, ",") != strings.Join(first, ",") {
			t.Fatalf("client %d saw a different sequence:\n%v\nvs\n%v", i, got, first)
		}
	}
	if n := testutil.ToFloat64(ts.Metrics.MessagesIn); n != clients*perClient {
		t.Errorf("messages in = %v, want %d", n, clients*perClient)
	}
}

func TestSeedFramesAreCompatible(t *testing.T) {
	ts := start(t, nil)
	ctx := testContext(t, 5*time.Second)
	c, _, err := websocket.Dial(ctx, ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_, hello, err := c.Read(ctx)
	if err != nil || string(hello) != `{"connection":"ok"}` {
		t.Fatalf("greeting %q, %v", hello, err)
	}
	send(t, ctx, c, `{"test": true}`)
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"message":{"test": true},"offset":"`) {
		t.Fatalf("broadcast %q does not keep the sender's JSON under \"message\"", b)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name       string
		tune       func(*config.Config)
		send       func(ctx context.Context, c *websocket.Conn) error
		wantError  string // error code in an error frame; the connection stays open
		wantClose  websocket.StatusCode
		wantReason string
		metric     string
	}{
		{
			name:      "invalid JSON gets an error frame",
			send:      text(`{"unterminated": `),
			wantError: "invalid_json",
			metric:    "invalid_json",
		},
		{
			name:      "two JSON values are not one message",
			send:      text(`{} {}`),
			wantError: "invalid_json",
			metric:    "invalid_json",
		},
		{
			name: "binary frame closes with 1003",
			send: func(ctx context.Context, c *websocket.Conn) error {
				return c.Write(ctx, websocket.MessageBinary, []byte("{}"))
			},
			wantClose:  websocket.StatusUnsupportedData,
			wantReason: "binary frames are not supported; send JSON text",
			metric:     "binary",
		},
		{
			name:      "message over the size limit closes with 1009",
			tune:      func(c *config.Config) { c.MaxMessageBytes = 1024 },
			send:      text(`{"pad":"` + strings.Repeat("x", 2000) + `"}`),
			wantClose: websocket.StatusMessageTooBig,
			metric:    "too_big",
		},
		{
			name: "sustained flood closes with 1008",
			tune: func(c *config.Config) { c.RateLimit, c.RateBurst = 1, 5 },
			send: func(ctx context.Context, c *websocket.Conn) error {
				for range 50 {
					if err := c.Write(ctx, websocket.MessageText, []byte(`{}`)); err != nil {
						return nil // the server may close before all 50 are written
					}
				}
				return nil
			},
			wantClose:  websocket.StatusPolicyViolation,
			wantReason: "rate limit exceeded",
			metric:     "rate_limited",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := start(t, tt.tune)
			ctx := testContext(t, 10*time.Second)
			c := dial(t, ctx, ts.URL)
			if err := tt.send(ctx, c); err != nil {
				t.Fatal(err)
			}
			if tt.wantError != "" {
				f := readFrame(t, ctx, c)
				e, _ := f["error"].(map[string]any)
				if e == nil || e["code"] != tt.wantError || e["detail"] == "" {
					t.Fatalf("got %v, want error frame with code %s and a detail", f, tt.wantError)
				}
				// Still open: a valid message afterwards is broadcast back.
				send(t, ctx, c, `{"ok":1}`)
				if f := readFrame(t, ctx, c); f["message"] == nil {
					t.Fatalf("after the error, got %v, want the broadcast", f)
				}
			} else {
				code, reason := closeStatus(t, ctx, c)
				if code != tt.wantClose {
					t.Fatalf("close code %v (%s), want %v", code, reason, tt.wantClose)
				}
				if tt.wantReason != "" && reason != tt.wantReason {
					t.Fatalf("close reason %q, want %q", reason, tt.wantReason)
				}
			}
			// The client may see the close before the server's read loop
			// has counted it.
			eventually(t, 2*time.Second, "refused messages{reason="+tt.metric+"} counted", func() bool {
				return testutil.ToFloat64(ts.Metrics.InvalidMessages.WithLabelValues(tt.metric)) >= 1
			})
		})
	}
}

func text(s string) func(context.Context, *websocket.Conn) error {
	return func(ctx context.Context, c *websocket.Conn) error {
		return c.Write(ctx, websocket.MessageText, []byte(s))
	}
}

func TestRateLimitDropsWithErrorFrameBeforeClosing(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.RateLimit, c.RateBurst = 0.001, 2 })
	ctx := testContext(t, 5*time.Second)
	c := dial(t, ctx, ts.URL)
	for range 3 {
		send(t, ctx, c, `{}`)
	}
	// The error frame goes straight to the sender while broadcasts come
	// through the log, so their relative order is not fixed.
	codes := map[string]int{}
	for range 3 {
		f := readFrame(t, ctx, c)
		if e, ok := f["error"].(map[string]any); ok {
			codes[e["code"].(string)]++
		} else {
			codes["message"]++
		}
	}
	if codes["message"] != 2 || codes["rate_limited"] != 1 {
		t.Fatalf("frames %v, want two broadcasts and one rate_limited", codes)
	}
}

func TestHTTPEndpoints(t *testing.T) {
	ts := start(t, nil)
	tests := []struct {
		path string
		want int
	}{
		{"/", http.StatusOK},
		{"/health", http.StatusOK},
		{"/nope", http.StatusNotFound},
		{"/wss", http.StatusUpgradeRequired}, // a plain GET is not an upgrade
		{"/wss?since=abc", http.StatusBadRequest},
	}
	for _, tt := range tests {
		if got := get(t, ts.HTTP+tt.path, nil).StatusCode; got != tt.want {
			t.Errorf("GET %s = %d, want %d", tt.path, got, tt.want)
		}
	}
}

func TestOrigins(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.AllowedOrigins = []string{"app.example.com"} })
	ctx := testContext(t, 5*time.Second)
	tests := []struct {
		origin string
		ok     bool
	}{
		{"", true}, // non-browser clients send no Origin
		{"https://app.example.com", true},
		{"https://evil.example.net", false},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.origin != "" {
			h.Set("Origin", tt.origin)
		}
		c, resp, err := websocket.Dial(ctx, ts.URL, &websocket.DialOptions{HTTPHeader: h})
		if tt.ok != (err == nil) {
			t.Errorf("origin %q: err %v, want ok=%v", tt.origin, err, tt.ok)
		}
		if c != nil {
			c.CloseNow()
		}
		if !tt.ok && (resp == nil || resp.StatusCode != http.StatusForbidden) {
			t.Errorf("origin %q: response %v, want 403", tt.origin, resp)
		}
	}
}

func TestConnectionLimit(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.MaxConnections = 2 })
	ctx := testContext(t, 5*time.Second)
	dial(t, ctx, ts.URL)
	second := dial(t, ctx, ts.URL)
	_, resp, err := websocket.Dial(ctx, ts.URL, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third connection: %v %v, want 503 with Retry-After", resp, err)
	}
	// A slot frees up when a client leaves.
	second.Close(websocket.StatusNormalClosure, "")
	eventually(t, 2*time.Second, "slot freed", func() bool { return ts.Connections() == 1 })
	dial(t, ctx, ts.URL)
	if n := testutil.ToFloat64(ts.Metrics.Rejected.WithLabelValues("capacity")); n != 1 {
		t.Errorf("rejected{capacity} = %v, want 1", n)
	}
}

func TestKeepalive(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.PingInterval, c.PingTimeout = 100*time.Millisecond, 50*time.Millisecond })
	ctx := testContext(t, 10*time.Second)
	// A client that reads answers pings; coder/websocket replies to pings
	// only while a Read is in progress, so this one stays.
	alive := dial(t, ctx, ts.URL)
	readerCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	go func() { _, _, _ = alive.Read(readerCtx) }()
	// A client that never reads never answers and must be dropped.
	dial(t, ctx, ts.URL)

	eventually(t, 5*time.Second, "the silent client dropped", func() bool { return ts.Connections() == 1 })
	if n := testutil.ToFloat64(ts.Metrics.Closes.WithLabelValues("1006")); n != 1 {
		t.Errorf("closes{1006} = %v, want 1", n)
	}
	time.Sleep(500 * time.Millisecond) // several more ping rounds
	if ts.Connections() != 1 {
		t.Fatal("the responsive client was dropped")
	}
}

// Broadcasts are framed by hand once for every client; every header length
// (7-bit, 16-bit and 64-bit payload lengths) must read back in a client.
func TestBroadcastFrameSizes(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.MaxMessageBytes = 1 << 20 })
	ctx := testContext(t, 10*time.Second)
	c := dial(t, ctx, ts.URL)
	for _, n := range []int{0, 80, 126 - 40, 70_000, 300_000} {
		msg := `"` + strings.Repeat("z", n) + `"`
		send(t, ctx, c, msg)
		f := readFrame(t, ctx, c)
		if f["message"] != strings.Repeat("z", n) {
			t.Fatalf("%d-byte string came back as %d bytes", n, len(fmt.Sprint(f["message"])))
		}
	}
}
