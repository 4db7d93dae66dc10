package transport_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/contract"
)

// A flood from one address, and a slowloris from it, cost the other
// sources nothing: the flood is refused with 429 once over its limits
// while honest clients from other addresses connect and get every
// broadcast. Their latency with and without the flood is logged for the
// record (timing belongs in benchmarks, not in assertions).
func TestFloodFromOneAddress(t *testing.T) {
	ts := start(t, func(c *config.Config) {
		c.BehindCloudFront = true
		c.RateLimit = 0
		c.ReadHeaderTimeout = 2 * time.Second
	})
	ctx := testContext(t, 60*time.Second)
	const honest, broadcasts = 20, 200
	viewer := func(ip string) *websocket.DialOptions {
		return &websocket.DialOptions{HTTPHeader: http.Header{contract.ViewerAddressHeader: {ip + ":40000"}}}
	}

	// Honest clients, each from an address of its own.
	readers := make([]*websocket.Conn, honest)
	for i := range readers {
		c, _, err := websocket.Dial(ctx, ts.URL, viewer(fmt.Sprintf("198.51.100.%d", i+1)))
		if err != nil {
			t.Fatalf("honest client %d: %v", i, err)
		}
		t.Cleanup(func() { c.CloseNow() })
		readFrame(t, ctx, c)
		readers[i] = c
	}
	baseline := broadcastLatencies(t, ctx, ts.URL, readers, broadcasts)

	// The attacker: slowloris connections that never finish their headers,
	// and a flood of upgrades, all from one address.
	for range 50 {
		nc, err := net.Dial("tcp", ts.HTTP[len("http://"):])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		_, _ = nc.Write([]byte("GET /wss HTTP/1.1\r\nHost: x\r\nCloudFront-Viewer-Address: 203.0.113.66:1\r\n"))
	}
	var accepted, refused, other atomic.Int64
	var flood sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		flood.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, resp, err := websocket.Dial(ctx, ts.URL, viewer("203.0.113.66"))
				switch {
				case err == nil:
					accepted.Add(1)
					t.Cleanup(func() { c.CloseNow() }) // held: it counts against the address
				case resp != nil && resp.StatusCode == http.StatusTooManyRequests:
					refused.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	during := broadcastLatencies(t, ctx, ts.URL, readers, broadcasts)
	close(stop)
	flood.Wait()

	// A newcomer from another address still gets in.
	late, _, err := websocket.Dial(ctx, ts.URL, viewer("192.0.2.200"))
	if err != nil {
		t.Fatalf("a new client from another address during the flood: %v", err)
	}
	late.CloseNow()

	if got := accepted.Load(); got > 100 {
		t.Errorf("the flooding address holds %d connections, over SOURCE_MAX_CONNECTIONS (100)", got)
	}
	if refused.Load() == 0 || other.Load() != 0 {
		t.Errorf("flood: %d refused with 429, %d other failures; want refusals and nothing else", refused.Load(), other.Load())
	}
	t.Logf("flood: %d upgrades accepted, %d refused with 429, 50 slowloris sockets; honest broadcast latency p50/p99: %v/%v alone, %v/%v during the flood",
		accepted.Load(), refused.Load(), pct(baseline, 50), pct(baseline, 99), pct(during, 50), pct(during, 99))
}

// broadcastLatencies publishes n broadcasts and returns, for each one and
// each reader, how long it took to arrive. Every reader must get every
// broadcast.
func broadcastLatencies(t *testing.T, ctx context.Context, url string, readers []*websocket.Conn, n int) []time.Duration {
	t.Helper()
	pub := dial(t, ctx, url)
	discard(ctx, pub)
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for i, c := range readers {
		wg.Go(func() {
			for k := range n {
				_, b, err := c.Read(ctx)
				if err != nil {
					t.Errorf("reader %d after %d broadcasts: %v", i, k, err)
					return
				}
				var f struct {
					Message struct{ TS int64 } `json:"message"`
				}
				if err := json.Unmarshal(b, &f); err != nil {
					t.Errorf("reader %d: %v", i, err)
					return
				}
				mu.Lock()
				lat = append(lat, time.Since(time.Unix(0, f.Message.TS)))
				mu.Unlock()
			}
		})
	}
	for range n {
		send(t, ctx, pub, fmt.Sprintf(`{"ts":%d}`, time.Now().UnixNano()))
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	_ = pub.Close(websocket.StatusNormalClosure, "")
	return lat
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100].Round(10 * time.Microsecond)
}
