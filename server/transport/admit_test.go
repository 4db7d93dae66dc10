package transport

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/contract"
	"github.com/wsfargate/websocket-service/server/metrics"
	"github.com/wsfargate/websocket-service/server/source"
)

// admitServer serves WebSockets on loopback behind a sourceGate, the way
// the server's upgrade does: admit first, release when the connection
// ends. Each WebSocket is held until its client closes it.
type admitServer struct {
	gate    *sourceGate
	metrics *metrics.Metrics
	ws      string // ws://127.0.0.1:port/
	http    string // http://127.0.0.1:port
	logs    *admitLogs
}

type admitLogs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *admitLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *admitLogs) lines(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for line := range strings.Lines(l.buf.String()) {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

func startAdmit(t *testing.T, tune func(*config.Config)) *admitServer {
	t.Helper()
	cfg, err := config.Load(func(string) (string, bool) { return "", false }, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(cfg)
	}
	m := metrics.New()
	logs := &admitLogs{}
	g := newSourceGate(cfg, m, slog.New(slog.NewJSONHandler(logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := g.admitAPI(w, r); ok {
			_, _ = io.WriteString(w, "ok\n")
		}
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		_, release, ok := g.admit(w, r)
		if !ok {
			return
		}
		defer release()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		cancel()
		hs.Close()
	})
	return &admitServer{gate: g, metrics: m, ws: "ws" + strings.TrimPrefix(hs.URL, "http") + "/", http: hs.URL, logs: logs}
}

// dial opens a WebSocket with the given CloudFront-Viewer-Address (none if
// empty) and X-Forwarded-For (none if empty). It returns the HTTP status
// of the handshake and, when refused, its Retry-After; the connection is
// closed when the test ends.
func (s *admitServer) dial(t *testing.T, viewer, forwarded string) (status int, retryAfter string, c *websocket.Conn) {
	t.Helper()
	h := http.Header{}
	if viewer != "" {
		h.Set(contract.ViewerAddressHeader, viewer)
	}
	if forwarded != "" {
		h.Set("X-Forwarded-For", forwarded)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, s.ws, &websocket.DialOptions{HTTPHeader: h})
	if err == nil {
		t.Cleanup(func() { c.CloseNow() })
		return resp.StatusCode, "", c
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Upgrade") != "" {
		t.Errorf("a refused upgrade carries Upgrade: %q", resp.Header.Get("Upgrade"))
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

func TestAdmitSources(t *testing.T) {
	type dial struct {
		viewer, forwarded string
		status            int
		retryAfter        string
		reason            source.Reason // of a refusal
	}
	const (
		ok   = http.StatusSwitchingProtocols
		over = http.StatusTooManyRequests
	)
	var (
		viewerA = "203.0.113.1:50000"
		viewerB = "198.51.100.7:50001"
	)
	tests := []struct {
		name        string
		tune        func(*config.Config)
		dials       []dial
		wantInvalid float64
	}{
		{
			name: "forged headers ignored: every dial is the loopback peer's",
			tune: func(c *config.Config) { c.SourceMaxConnections = 2 },
			dials: []dial{
				{viewer: viewerA, status: ok},
				{viewer: viewerB, forwarded: "192.0.2.9", status: ok},
				{viewer: "192.0.2.10:1", forwarded: "192.0.2.11", status: over, retryAfter: "5", reason: source.ReasonConnections},
			},
		},
		{
			name: "trusted header: each viewer is a source, X-Forwarded-For counts for nothing",
			tune: func(c *config.Config) { c.BehindCloudFront, c.SourceMaxConnections = true, 2 },
			dials: []dial{
				{viewer: viewerA, status: ok},
				{viewer: viewerA, status: ok},
				{viewer: viewerA, forwarded: "198.51.100.7", status: over, retryAfter: "5", reason: source.ReasonConnections},
				{viewer: viewerB, status: ok},
				{viewer: viewerB, forwarded: "203.0.113.1", status: ok},
				{viewer: viewerB, status: over, retryAfter: "5", reason: source.ReasonConnections},
			},
		},
		{
			name: "IPv6 viewers are counted per /64",
			tune: func(c *config.Config) { c.BehindCloudFront, c.SourceMaxConnections, c.SourceIPv6Prefix = true, 2, 64 },
			dials: []dial{
				{viewer: "2001:db8:1:2::a:443", status: ok},
				{viewer: "2001:db8:1:2:ffff::b:443", status: ok},
				{viewer: "[2001:db8:1:2::c]:443", status: over, retryAfter: "5", reason: source.ReasonConnections},
				{viewer: "2001:db8:1:3::a:443", status: ok},
			},
		},
		{
			name: "IPv6 per address with SOURCE_IPV6_PREFIX=128",
			tune: func(c *config.Config) { c.BehindCloudFront, c.SourceMaxConnections, c.SourceIPv6Prefix = true, 1, 128 },
			dials: []dial{
				{viewer: "2001:db8:1:2::a:443", status: ok},
				{viewer: "2001:db8:1:2::b:443", status: ok},
				{viewer: "2001:db8:1:2::a:444", status: over, retryAfter: "5", reason: source.ReasonConnections},
			},
		},
		{
			name: "connect rate: the burst, then 429 until a token is back",
			tune: func(c *config.Config) {
				c.BehindCloudFront, c.SourceMaxConnections, c.SourceConnectRate, c.SourceConnectBurst = true, 0, 0.001, 2
			},
			dials: []dial{
				{viewer: viewerA, status: ok},
				{viewer: viewerA, status: ok},
				{viewer: viewerA, status: over, retryAfter: "1000", reason: source.ReasonConnectRate},
				{viewer: viewerB, status: ok},
			},
		},
		{
			name: "a trusted header that is missing or malformed counts against the peer",
			tune: func(c *config.Config) { c.BehindCloudFront, c.SourceMaxConnections = true, 2 },
			dials: []dial{
				{viewer: "203.0.113.1", status: ok}, // no port
				{viewer: "", status: ok},
				{viewer: "203.0.113.1:0", status: over, retryAfter: "5", reason: source.ReasonConnections},
				{viewer: viewerA, status: ok},
			},
			wantInvalid: 3,
		},
		{
			name: "every limit off",
			tune: func(c *config.Config) { c.SourceMaxConnections, c.SourceConnectRate = 0, 0 },
			dials: []dial{
				{status: ok}, {status: ok}, {status: ok}, {status: ok}, {status: ok},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startAdmit(t, tc.tune)
			want := map[source.Reason]float64{}
			for i, d := range tc.dials {
				status, retry, _ := s.dial(t, d.viewer, d.forwarded)
				if status != d.status || retry != d.retryAfter {
					t.Fatalf("dial %d (%q): %d, Retry-After %q; want %d, %q", i, d.viewer, status, retry, d.status, d.retryAfter)
				}
				if d.reason != "" {
					want[d.reason]++
				}
			}
			for _, r := range []source.Reason{source.ReasonConnections, source.ReasonConnectRate, source.ReasonTableFull} {
				if got := testutil.ToFloat64(s.metrics.Rejected.WithLabelValues(string(r))); got != want[r] {
					t.Errorf("ws_upgrades_rejected_total{reason=%q} = %v, want %v", r, got, want[r])
				}
			}
			if got := testutil.ToFloat64(s.metrics.ViewerAddressInvalid); got != tc.wantInvalid {
				t.Errorf("ws_viewer_address_invalid_total = %v, want %v", got, tc.wantInvalid)
			}
		})
	}
}

// A closed WebSocket gives its place back to its source.
func TestAdmitReleaseOnClose(t *testing.T) {
	s := startAdmit(t, func(c *config.Config) { c.SourceMaxConnections = 2 })
	_, _, first := s.dial(t, "", "")
	if status, _, _ := s.dial(t, "", ""); status != http.StatusSwitchingProtocols {
		t.Fatalf("second dial: %d", status)
	}
	if status, _, _ := s.dial(t, "", ""); status != http.StatusTooManyRequests {
		t.Fatalf("third dial: %d, want 429", status)
	}
	if err := first.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	// The server lets go of the place once its read ends, just after the
	// close handshake.
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _, _ := s.dial(t, "", "")
		if status == http.StatusSwitchingProtocols {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the closed connection's place never came back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if status, _, _ := s.dial(t, "", ""); status != http.StatusTooManyRequests {
		t.Fatalf("dial over the cap again: %d, want 429", status)
	}
	if got := testutil.ToFloat64(s.metrics.SourceEntries); got != 1 {
		t.Errorf("ws_source_table_entries = %v, want 1", got)
	}
}

// A flood of refused requests is counted in full and logged once per
// logEvery, and the refusal comes before any WebSocket work: a plain GET
// gets 429, not the 426 the handshake would give it.
func TestAdmitFloodIsCountedNotLogged(t *testing.T) {
	s := startAdmit(t, func(c *config.Config) { c.SourceMaxConnections = 1 })
	s.dial(t, "", "")
	const flood = 300
	for i := range flood {
		resp, err := http.Get(s.http + "/")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "5" {
			t.Fatalf("request %d: %d, Retry-After %q", i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if got := testutil.ToFloat64(s.metrics.Rejected.WithLabelValues(string(source.ReasonConnections))); got != flood {
		t.Errorf("%v refusals counted, want %d", got, flood)
	}
	if n := s.logs.lines("refused by a per-source limit"); n != 1 {
		t.Errorf("%d log lines for %d refusals, want 1", n, flood)
	}
}

func TestAdmitAPI(t *testing.T) {
	s := startAdmit(t, func(c *config.Config) {
		c.BehindCloudFront, c.SourceAPIRate, c.SourceAPIBurst = true, 0.001, 3
	})
	get := func(viewer string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, s.http+"/api", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(contract.ViewerAddressHeader, viewer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	for i := range 3 {
		if status, _ := get("203.0.113.1:1000"); status != http.StatusOK {
			t.Fatalf("request %d: %d", i, status)
		}
	}
	if status, retry := get("203.0.113.1:1001"); status != http.StatusTooManyRequests || retry != "1000" {
		t.Fatalf("4th request: %d, Retry-After %q; want 429, 1000", status, retry)
	}
	if status, _ := get("198.51.100.7:1000"); status != http.StatusOK {
		t.Fatalf("another source: %d", status)
	}
	if got := testutil.ToFloat64(s.metrics.APIRejected.WithLabelValues(string(source.ReasonAPIRate))); got != 1 {
		t.Errorf("ws_api_requests_rejected_total = %v, want 1", got)
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "1"},
		{time.Nanosecond, "1"},
		{999 * time.Millisecond, "1"},
		{time.Second, "1"},
		{time.Second + time.Nanosecond, "2"},
		{source.BusyRetry, "5"},
		{1000 * time.Second, "1000"},
	} {
		if got := retryAfter(tc.d); got != tc.want {
			t.Errorf("retryAfter(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestSampler(t *testing.T) {
	s := sampler{every: 10 * time.Second}
	t0 := time.Unix(1_700_000_000, 0)
	steps := []struct {
		at      time.Duration
		ok      bool
		skipped int64
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{9 * time.Second, false, 0},
		{10 * time.Second, true, 2},
		{11 * time.Second, false, 0},
		{time.Hour, true, 1},
	}
	for _, st := range steps {
		skipped, ok := s.pass(t0.Add(st.at))
		if ok != st.ok || skipped != st.skipped {
			t.Errorf("at %v: %v, %d skipped; want %v, %d", st.at, ok, skipped, st.ok, st.skipped)
		}
	}
}
