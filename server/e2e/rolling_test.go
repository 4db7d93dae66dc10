package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/client"
)

// Clients spread over three instances see every message in the same order
// with the same offsets, whichever instance each message was published on.
func TestEveryClientSeesEveryMessageInOrder(t *testing.T) {
	c := startCluster(t, 3, false)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ls := startListeners(t, ctx, c.url(), 30) // round robin: 10 per instance
	for i, l := range ls[:6] {
		for j := range 20 {
			if err := l.c.Publish(ctx, json.RawMessage(fmt.Sprintf(`{"from":%d,"n":%d}`, i, j))); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := waitAll(t, ctx, c, ls, 120)
	for i, l := range ls {
		got, _, _ := l.snapshot()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("listener %d saw %d messages, different from the stream's %d", i, len(got), len(want))
		}
	}
}

// The rolling restart ECS performs on every deploy: each instance gets
// SIGTERM in turn and a replacement starts, while a publisher keeps sending
// 100 msg/s and 1,000 clients listen through the proxy. With the resuming
// client nobody loses, repeats or reorders a message.
func TestRollingRestartLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 clients and three restarts; run without -short")
	}
	c := startCluster(t, 3, false)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ls := startListeners(t, ctx, c.url(), 1000)

	pub := client.New(client.Options{URL: c.url(), MinBackoff: 50 * time.Millisecond})
	go pub.Run(ctx)
	stopPub := make(chan struct{})
	pubDone := make(chan int)
	go func() {
		tick := time.NewTicker(10 * time.Millisecond) // 100 msg/s
		defer tick.Stop()
		skipped := 0
		for i := 0; ; i++ {
			select {
			case <-stopPub:
				pubDone <- skipped
				return
			case <-tick.C:
			}
			if err := pub.Publish(ctx, json.RawMessage(fmt.Sprintf(`{"seq":%d}`, i))); err != nil {
				skipped++ // between connections; the sender knows it was not sent
			}
		}
	}()

	time.Sleep(time.Second)
	for i := range c.procs {
		began := time.Now()
		c.restart(i)
		t.Logf("instance %d restarted in %v", i, time.Since(began).Round(time.Millisecond))
		time.Sleep(1500 * time.Millisecond)
	}
	time.Sleep(time.Second)
	close(stopPub)
	skipped := <-pubDone

	want := waitAll(t, ctx, c, ls, 0)
	var sum tally
	var downs []time.Duration
	failed := 0
	for i, l := range ls {
		got, rc, f := l.snapshot()
		r := compare(want, got)
		if r != (tally{}) && sum == (tally{}) {
			t.Errorf("listener %d: %+v (received %d of %d)", i, r, len(got), len(want))
		}
		sum.lost += r.lost
		sum.duplicated += r.duplicated
		sum.outOfOrder += r.outOfOrder
		downs = append(downs, rc...)
		failed += f
	}
	t.Logf("stream: %d messages (%d publishes skipped while the publisher reconnected)", len(want), skipped)
	t.Logf("over %d listeners: lost %d, duplicated %d, out of order %d, recovery failures %d", len(ls), sum.lost, sum.duplicated, sum.outOfOrder, failed)
	t.Logf("reconnect time (disconnect to greeting): %s", percentiles(downs))
	if sum != (tally{}) || failed != 0 {
		t.Fatalf("lost %d, duplicated %d, out of order %d, recovery failures %d: want all zero", sum.lost, sum.duplicated, sum.outOfOrder, failed)
	}
	if len(downs) < len(ls) {
		t.Errorf("only %d reconnects for %d listeners over three restarts: the restarts did not reach every instance", len(downs), len(ls))
	}
}

// waitAll waits until every listener has every entry of the stream (at
// least min of them) and returns the stream's offsets.
func waitAll(t *testing.T, ctx context.Context, c *cluster, ls []*listener, min int) []uint64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		want := streamOffsets(t, ctx, c.redis.URL, "e2e")
		done := len(want) >= min && len(want) > 0
		for _, l := range ls {
			got, _, _ := l.snapshot()
			if len(got) == 0 || got[len(got)-1] != want[len(want)-1] {
				done = false
				break
			}
		}
		if done {
			return want
		}
		if time.Now().After(deadline) {
			return want // compare reports what is missing
		}
		time.Sleep(100 * time.Millisecond)
	}
}
