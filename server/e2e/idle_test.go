package e2e_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wsfargate/websocket-service/server/internal/rawws"
	"github.com/wsfargate/websocket-service/server/internal/testproc"
)

// An idle connection holds no goroutine and so no stack: its socket is
// parked on the server's epoll poller, which starts a reader only when
// input arrives; a client that has sent a ping too. Measured in a server
// process built without the race detector; the clients are raw sockets.
func TestIdleConnectionCost(t *testing.T) {
	const n = 1000
	port, admin := testproc.FreePort(t), testproc.FreePort(t)
	testproc.Start(t, binary,
		"ADDR=127.0.0.1:"+strconv.Itoa(port), "ADMIN_ADDR=127.0.0.1:"+strconv.Itoa(admin),
		"EMF_INTERVAL=0", "STOP_POLL_INTERVAL=0",
		"SOURCE_MAX_CONNECTIONS=0", "SOURCE_CONNECT_RATE=0") // every client dials from one address
	metrics := "http://127.0.0.1:" + strconv.Itoa(admin) + "/metrics"
	before := scrape(t, metrics)
	for i := range n {
		nc, br := rawws.Dial(t, "127.0.0.1:"+strconv.Itoa(port), nil)
		if got := rawws.ReadText(t, br); got != `{"connection":"ok"}` {
			t.Fatalf("first frame %s, want the greeting", got)
		}
		if i%2 == 1 { // half of them send a heartbeat, as many client libraries do
			if _, err := nc.Write(rawws.Masked(0x9, "beat")); err != nil {
				t.Fatal(err)
			}
			if op, payload := rawws.ReadFrame(t, br); op != 0xA || payload != "beat" {
				t.Fatalf("answer to a ping: opcode %#x payload %q, want the pong", op, payload)
			}
		}
	}
	var after map[string]float64
	deadline := time.Now().Add(10 * time.Second)
	for {
		after = scrape(t, metrics)
		if after["ws_connections"] == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := after["ws_connections"]; got != n {
		t.Fatalf("ws_connections = %v, want %d", got, n)
	}
	stack := (after["go_memstats_stack_inuse_bytes"] - before["go_memstats_stack_inuse_bytes"]) / n
	goroutines := (after["go_goroutines"] - before["go_goroutines"]) / n
	t.Logf("per idle connection: %.0f bytes of stack, %.2f goroutines", stack, goroutines)
	// A few goroutines of the process's own may come and go meanwhile.
	if goroutines > 0.01 {
		t.Errorf("%.3f goroutines per idle connection, want none", goroutines)
	}
	// Stacks freed by the goroutines that served the upgrades stay in the
	// runtime's cache for a while; a reader per connection would be 2 KiB.
	if stack > 1024 {
		t.Errorf("%.0f bytes of stack per idle connection, want none", stack)
	}
}

// scrape reads the gauges of a Prometheus text page.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	out := make(map[string]float64)
	for name, f := range families {
		if ms := f.GetMetric(); len(ms) == 1 && ms[0].GetGauge() != nil {
			out[name] = ms[0].GetGauge().GetValue()
		}
	}
	return out
}
