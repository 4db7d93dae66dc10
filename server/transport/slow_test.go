package transport_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wsfargate/websocket-service/server/config"
)

// A client that never reads must not delay anyone: the readers get every
// message with latency far below the write timeout the stalled client is
// stuck in, and the stalled client is evicted.
func TestSlowConsumerIsEvictedWithoutDelayingOthers(t *testing.T) {
	const writeTimeout = time.Second
	ts := start(t, func(c *config.Config) {
		c.WriteTimeout = writeTimeout
		c.RateLimit = 0
	})
	ctx := testContext(t, 30*time.Second)
	stalled := dialStalled(t, ctx, ts.URL)
	_ = stalled // never read again
	const readers, messages = 3, 300
	pad := strings.Repeat("x", 4<<10)

	var wg sync.WaitGroup
	worst := make([]time.Duration, readers)
	got := make([]int, readers)
	for i := range readers {
		c := dial(t, ctx, ts.URL)
		wg.Go(func() {
			for got[i] < messages {
				_, b, err := c.Read(ctx)
				if err != nil {
					t.Errorf("reader %d after %d messages: %v", i, got[i], err)
					return
				}
				var f struct {
					Message struct{ TS int64 } `json:"message"`
				}
				if err := json.Unmarshal(b, &f); err != nil {
					t.Errorf("reader %d: %v", i, err)
					return
				}
				worst[i] = max(worst[i], time.Since(time.Unix(0, f.Message.TS)))
				got[i]++
			}
		})
	}
	eventually(t, 2*time.Second, "all connected", func() bool { return ts.Connections() == readers+1 })

	pub := dial(t, ctx, ts.URL)
	discard(ctx, pub)
	tick := time.NewTicker(5 * time.Millisecond) // 1.5 s of traffic, past the write timeout
	defer tick.Stop()
	for range messages {
		<-tick.C
		send(t, ctx, pub, fmt.Sprintf(`{"ts":%d,"pad":%q}`, time.Now().UnixNano(), pad))
	}
	wg.Wait()

	for i := range readers {
		if got[i] != messages {
			t.Errorf("reader %d got %d of %d messages", i, got[i], messages)
		}
		if worst[i] >= writeTimeout {
			t.Errorf("reader %d: worst latency %v, at or above the write timeout the stalled client hit: it was held up", i, worst[i])
		}
		t.Logf("reader %d: worst latency %v", i, worst[i])
	}
	eventually(t, 5*time.Second, "stalled client evicted", func() bool { return ts.Connections() == readers+1 })
	if n := testutil.ToFloat64(ts.Metrics.Evictions.WithLabelValues("write_timeout")); n != 1 {
		t.Errorf("evictions{write_timeout} = %v, want 1", n)
	}
}

// A client that falls more than SEND_QUEUE messages behind, but can still
// receive, is told why it is dropped: close 1008 "slow consumer".
func TestLaggingClientGetsSlowConsumerClose(t *testing.T) {
	ts := start(t, func(c *config.Config) {
		c.SendQueue = 8
		c.RateLimit = 0
	})
	ctx := testContext(t, 20*time.Second)
	lagging := dialStalled(t, ctx, ts.URL)
	pub := dial(t, ctx, ts.URL)
	pad := strings.Repeat("y", 4<<10)
	for i := range 60 {
		// Closed loop: the publisher never falls behind itself.
		send(t, ctx, pub, fmt.Sprintf(`{"n":%d,"pad":%q}`, i, pad))
		readFrame(t, ctx, pub)
	}
	// Now read: a few buffered broadcasts arrive, then the close.
	code, reason := closeStatus(t, ctx, lagging)
	if code != websocket.StatusPolicyViolation || reason != "slow consumer: send queue full" {
		t.Fatalf("close %v %q, want 1008 slow consumer", code, reason)
	}
	if n := testutil.ToFloat64(ts.Metrics.Evictions.WithLabelValues("queue_full")); n != 1 {
		t.Errorf("evictions{queue_full} = %v, want 1", n)
	}
}
