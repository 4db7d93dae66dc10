package transport_test

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestDrain(t *testing.T) {
	ts := start(t, nil)
	ctx := testContext(t, 20*time.Second)
	const clients = 10
	const spread = time.Second
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conns[i] = dial(t, ctx, ts.URL)
	}

	ts.StartDraining()
	if got := get(t, ts.HTTP+"/health", nil).StatusCode; got != http.StatusServiceUnavailable {
		t.Errorf("/health while draining = %d, want 503", got)
	}
	if got := get(t, ts.HTTP+"/", nil).StatusCode; got != http.StatusServiceUnavailable {
		t.Errorf("/ while draining = %d, want 503", got)
	}
	if _, resp, err := websocket.Dial(ctx, ts.URL, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("upgrade while draining: %v %v, want 503", resp, err)
	}
	// Existing clients are untouched until CloseAll: they still broadcast.
	send(t, ctx, conns[0], `{"still":"here"}`)
	for _, c := range conns {
		if f := readFrame(t, ctx, c); f["message"] == nil {
			t.Fatalf("while draining got %v, want the broadcast", f)
		}
	}

	began := time.Now()
	var mu sync.Mutex
	var at []time.Duration
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			code, reason := closeStatus(t, ctx, c)
			if code != websocket.StatusGoingAway || reason != "server shutting down" {
				t.Errorf("close %v %q, want 1001 server shutting down", code, reason)
			}
			mu.Lock()
			at = append(at, time.Since(began))
			mu.Unlock()
		})
	}
	if err := ts.CloseAll(ctx, spread); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	sort.Slice(at, func(i, j int) bool { return at[i] < at[j] })
	t.Logf("close times: %v", at)
	// Closes are spread: the first comes at once, the last near the end of
	// the window, not all together.
	if first, last := at[0], at[len(at)-1]; last-first < spread/2 || last > 3*spread {
		t.Errorf("closes between %v and %v, want them spread over about %v", first, last, spread)
	}
	if ts.Connections() != 0 {
		t.Errorf("%d connections left", ts.Connections())
	}
	if n := testutil.ToFloat64(ts.Metrics.Closes.WithLabelValues("1001")); n != clients {
		t.Errorf("closes{1001} = %v, want %d", n, clients)
	}
}

func TestCloseAllGivesUpAtDeadline(t *testing.T) {
	ts := start(t, nil)
	ctx := testContext(t, 10*time.Second)
	for range 3 {
		discard(ctx, dial(t, ctx, ts.URL))
	}
	ts.StartDraining()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	// Spread far beyond the deadline: CloseAll must stop waiting and drop
	// the rest rather than overrun the shutdown timeout.
	if err := ts.CloseAll(short, time.Minute); err == nil {
		t.Fatal("CloseAll returned nil past its deadline")
	}
	eventually(t, 2*time.Second, "remaining clients dropped", func() bool { return ts.Connections() == 0 })
	if n := testutil.ToFloat64(ts.Metrics.Closes.WithLabelValues("1006")); n != 2 {
		t.Errorf("closes{1006} = %v, want the 2 clients the schedule had not reached", n)
	}
}
