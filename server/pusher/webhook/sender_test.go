package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/pusher/webhook"
)

func occupied(i int) webhook.Event {
	return webhook.Event{Name: webhook.ChannelOccupied, Channel: "c-" + strconv.Itoa(i)}
}

func TestBatching(t *testing.T) {
	for _, tc := range []struct {
		name            string
		events          int
		maxBatch        int
		wantPosts       int
		wantLastBatchOf int
	}{
		{"exact multiple", 100, 10, 10, 10},
		{"remainder in a last short batch", 95, 10, 10, 5},
		{"fewer than a batch", 7, 10, 1, 7},
		{"batches of one", 5, 1, 5, 1},
		{"default batch size", 250, 0, 3, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, nil)
			var c counts
			cfg := baseConfig(rc, &c)
			cfg.MaxBatch = tc.maxBatch
			s := webhook.New(cfg)
			// Queue everything before Run starts, so the split is determined.
			for i := range tc.events {
				s.Enqueue(occupied(i))
			}
			run(t, s)
			waitFor(t, "every event sent", func() bool { return c.sent.Load() == int64(tc.events) })

			posts := rc.all()
			if len(posts) != tc.wantPosts {
				t.Fatalf("%d events in %d POSTs, want %d", tc.events, len(posts), tc.wantPosts)
			}
			limit := cmp(tc.maxBatch, webhook.DefaultMaxBatch)
			for i, p := range posts {
				if n := len(p.Payload.Events); n == 0 || n > limit {
					t.Errorf("POST %d carries %d events, want 1..%d", i, n, limit)
				}
			}
			if n := len(posts[len(posts)-1].Payload.Events); n != tc.wantLastBatchOf {
				t.Errorf("last POST carries %d events, want %d", n, tc.wantLastBatchOf)
			}
			// Every event once, in the order it was queued.
			got := rc.accepted()
			for i, e := range got {
				if want := occupied(i); e != want {
					t.Fatalf("event %d = %+v, want %+v", i, e, want)
				}
			}
			if len(got) != tc.events || c.failed.Load() != 0 || c.dropped.Load() != 0 {
				t.Errorf("received %d, failed %d, dropped %d; want %d, 0, 0", len(got), c.failed.Load(), c.dropped.Load(), tc.events)
			}
		})
	}
}

func cmp(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// Events that trickle in within BatchWait of the first go in one POST, sent
// no earlier than BatchWait after the first; a later event goes in the next.
func TestBatchWaitCollectsTrickle(t *testing.T) {
	rc := newReceiver(t, nil)
	var c counts
	cfg := baseConfig(rc, &c)
	cfg.BatchWait = 150 * time.Millisecond
	s := webhook.New(cfg)
	run(t, s)

	start := time.Now()
	for i := range 5 {
		s.Enqueue(occupied(i))
		time.Sleep(5 * time.Millisecond)
	}
	rc.waitArrival(t)
	first := rc.all()[0]
	if n := len(first.Payload.Events); n != 5 {
		t.Fatalf("first POST carries %d events, want all 5 enqueued within BatchWait", n)
	}
	if waited := first.At.Sub(start); waited < cfg.BatchWait {
		t.Errorf("first POST after %v, want at least BatchWait %v", waited, cfg.BatchWait)
	}

	s.Enqueue(occupied(5))
	rc.waitArrival(t)
	if posts := rc.all(); len(posts) != 2 || len(posts[1].Payload.Events) != 1 {
		t.Fatalf("want a second POST with the late event alone, got %d POSTs", len(posts))
	}
}

// The body is Pusher's documented structure, field by field for each event
// type, and nothing else.
func TestBodyShape(t *testing.T) {
	in := []webhook.Event{
		// A stray user id must not leak into an event that has none.
		{Name: webhook.ChannelOccupied, Channel: "test_channel", UserID: "stray", SocketID: "1.1"},
		{Name: webhook.ChannelVacated, Channel: "test_channel"},
		{Name: webhook.MemberAdded, Channel: "presence-your_channel_name", UserID: "a_user_id"},
		{Name: webhook.MemberRemoved, Channel: "presence-your_channel_name", UserID: "a_user_id"},
		{Name: webhook.ClientEvent, Channel: "private-test_channel", Event: "client-my_event", Data: `{"data":1234}`, SocketID: "34718.5367461"},
		{Name: webhook.ClientEvent, Channel: "presence-room", Event: "client-typing", Data: `"<b>é</b> & ` + "\u2028" + `"`, SocketID: "1.2", UserID: "7"},
		{Name: webhook.ClientEvent, Channel: "private-empty", Event: "client-ping", Data: "", SocketID: "3.4"},
		{Name: webhook.CacheMiss, Channel: "cache-location"},
		{Name: webhook.SubscriptionCount, Channel: "my-channel", SubscriptionCount: 2},
	}
	want := []map[string]any{
		{"name": "channel_occupied", "channel": "test_channel"},
		{"name": "channel_vacated", "channel": "test_channel"},
		{"name": "member_added", "channel": "presence-your_channel_name", "user_id": "a_user_id"},
		{"name": "member_removed", "channel": "presence-your_channel_name", "user_id": "a_user_id"},
		{"name": "client_event", "channel": "private-test_channel", "event": "client-my_event", "data": `{"data":1234}`, "socket_id": "34718.5367461"},
		{"name": "client_event", "channel": "presence-room", "event": "client-typing", "data": `"<b>é</b> & ` + "\u2028" + `"`, "socket_id": "1.2", "user_id": "7"},
		{"name": "client_event", "channel": "private-empty", "event": "client-ping", "data": "", "socket_id": "3.4"},
		{"name": "cache_miss", "channel": "cache-location"},
		{"name": "subscription_count", "channel": "my-channel", "subscription_count": float64(2)},
	}

	rc := newReceiver(t, nil)
	var c counts
	s := webhook.New(baseConfig(rc, &c))
	for _, e := range in {
		s.Enqueue(e)
	}
	before := time.Now().UnixMilli()
	run(t, s)
	rc.waitArrival(t)
	after := time.Now().UnixMilli()
	p := rc.all()[0]

	if got := p.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := p.Header.Get("X-Pusher-Key"); got != testKey {
		t.Errorf("X-Pusher-Key = %q, want %q", got, testKey)
	}

	var top map[string]json.RawMessage
	if err := json.Unmarshal(p.Body, &top); err != nil {
		t.Fatal(err)
	}
	if keys := slices.Sorted(maps.Keys(top)); !slices.Equal(keys, []string{"events", "time_ms"}) {
		t.Errorf("top-level keys = %v, want [events time_ms]", keys)
	}
	var ms int64
	if err := json.Unmarshal(top["time_ms"], &ms); err != nil {
		t.Fatalf("time_ms is not an integer: %s", top["time_ms"])
	}
	if ms < before || ms > after {
		t.Errorf("time_ms = %d, want between %d and %d", ms, before, after)
	}
	var events []map[string]any
	if err := json.Unmarshal(top["events"], &events); err != nil {
		t.Fatal(err)
	}
	if len(events) != len(want) {
		t.Fatalf("got %d events, want %d:\n%s", len(events), len(want), p.Body)
	}
	for i := range want {
		if !reflect.DeepEqual(events[i], want[i]) {
			t.Errorf("event %d:\n got %v\nwant %v", i, events[i], want[i])
		}
	}
}

// The signature is the hex HMAC-SHA256 of the exact body bytes with the
// secret, computed here independently of the package.
func TestSignatureVerifiesWithSecret(t *testing.T) {
	rc := newReceiver(t, nil)
	var c counts
	s := webhook.New(baseConfig(rc, &c))
	s.Enqueue(webhook.Event{Name: webhook.ClientEvent, Channel: "private-x", Event: "client-y", Data: `{"html":"<a href='x'>&amp;</a>","u":"é\u2028"}`, SocketID: "1.2"})
	s.Enqueue(occupied(1))
	run(t, s)
	rc.waitArrival(t)
	p := rc.all()[0]

	sig := p.Header.Get("X-Pusher-Signature")
	m := hmac.New(sha256.New, []byte(testSecret))
	m.Write(p.Body)
	if want := hex.EncodeToString(m.Sum(nil)); sig != want {
		t.Fatalf("X-Pusher-Signature = %q, want %q", sig, want)
	}
	if !webhook.Verify(testSecret, p.Body, sig) {
		t.Error("Verify rejects the signature the Sender made")
	}
	if webhook.Verify("another-secret-of-16+", p.Body, sig) {
		t.Error("Verify accepts the signature under another secret")
	}
	tampered := bytes.Replace(p.Body, []byte("private-x"), []byte("private-z"), 1)
	if webhook.Verify(testSecret, tampered, sig) {
		t.Error("Verify accepts a changed body")
	}
}

func TestRetries(t *testing.T) {
	type answer struct {
		status   int  // 0 drops the connection
		location bool // send a Location header, as a redirect does
	}
	for _, tc := range []struct {
		name        string
		answers     []answer // then 200 for any further request
		maxAttempts int
		wantPosts   int
		wantSent    int64
	}{
		{"500 then success", []answer{{status: 500}}, 5, 2, 1},
		{"503 and 429 then success", []answer{{status: 503}, {status: 429}}, 5, 3, 1},
		{"network error then success", []answer{{status: 0}}, 5, 2, 1},
		{"400 is final", []answer{{status: 400}}, 5, 1, 0},
		{"401 is final", []answer{{status: 401}}, 5, 1, 0},
		{"404 is final", []answer{{status: 404}}, 5, 1, 0},
		{"redirect is not followed", []answer{{status: 302, location: true}}, 5, 1, 0},
		{"out of attempts", []answer{{status: 500}, {status: 502}, {status: 504}}, 3, 3, 0},
		{"one attempt means no retry", []answer{{status: 500}}, 1, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rc *receiver
			rc = newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) int {
				if i >= len(tc.answers) {
					w.WriteHeader(http.StatusOK)
					return http.StatusOK
				}
				a := tc.answers[i]
				if a.status == 0 {
					return hijackClose(w)
				}
				if a.location {
					w.Header().Set("Location", rc.srv.URL+"/elsewhere")
				}
				w.WriteHeader(a.status)
				return a.status
			})
			var c counts
			cfg := baseConfig(rc, &c)
			cfg.MaxAttempts = tc.maxAttempts
			s := webhook.New(cfg)
			s.Enqueue(occupied(1))
			stop := run(t, s)
			waitFor(t, "the batch to be sent or given up", func() bool { return c.sent.Load()+c.failed.Load() == 1 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}

			posts := rc.all()
			if len(posts) != tc.wantPosts {
				t.Fatalf("%d POSTs, want %d", len(posts), tc.wantPosts)
			}
			if c.sent.Load() != tc.wantSent || c.failed.Load() != 1-tc.wantSent {
				t.Errorf("sent %d failed %d, want %d and %d", c.sent.Load(), c.failed.Load(), tc.wantSent, 1-tc.wantSent)
			}
			// Delivered exactly once: one accepted copy, or none.
			if got := len(rc.accepted()); int64(got) != tc.wantSent {
				t.Errorf("receiver accepted the event %d times, want %d", got, tc.wantSent)
			}
			// A retry resends the same bytes under the same signature.
			for _, p := range posts[1:] {
				if !bytes.Equal(p.Body, posts[0].Body) || p.Header.Get("X-Pusher-Signature") != posts[0].Header.Get("X-Pusher-Signature") {
					t.Errorf("a retry changed the body or signature:\n%s\n%s", posts[0].Body, p.Body)
				}
			}
			for _, p := range posts {
				if p.Header.Get("X-Pusher-Signature") == "" {
					t.Error("a POST without X-Pusher-Signature")
				}
			}
		})
	}
}

// A Retry-After lengthens the wait (up to BackoffMax) beyond the backoff.
func TestRetryAfterIsHonoured(t *testing.T) {
	rc := newReceiver(t, func(i int, w http.ResponseWriter, _ *http.Request) int {
		if i == 0 {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusServiceUnavailable)
			return http.StatusServiceUnavailable
		}
		w.WriteHeader(http.StatusOK)
		return http.StatusOK
	})
	var c counts
	cfg := baseConfig(rc, &c)
	cfg.BackoffBase = time.Millisecond
	cfg.BackoffMax = 200 * time.Millisecond
	s := webhook.New(cfg)
	s.Enqueue(occupied(1))
	run(t, s)
	waitFor(t, "the retry to succeed", func() bool { return c.sent.Load() == 1 })
	posts := rc.all()
	if gap := posts[1].At.Sub(posts[0].At); gap < cfg.BackoffMax {
		t.Errorf("retried %v after a Retry-After of 30s, want BackoffMax %v (a plain backoff is ≤ 1ms)", gap, cfg.BackoffMax)
	} else if gap > 5*time.Second {
		t.Errorf("retried %v later: Retry-After was not capped at BackoffMax", gap)
	}
}

// With the receiver stuck, a million events cannot grow memory: the queue
// stays at MaxQueue and the rest are dropped and counted.
func TestQueueBoundWhileReceiverBlocked(t *testing.T) {
	const total = 1_000_000
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) int {
		<-release
		w.WriteHeader(http.StatusOK)
		return http.StatusOK
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	var c counts
	cfg := baseConfig(rc, &c)
	cfg.MaxQueue = 1000
	cfg.MaxBatch = 10
	cfg.AttemptTimeout = time.Minute
	s := webhook.New(cfg)
	run(t, s)
	s.Enqueue(occupied(-1))
	rc.waitArrival(t) // Run now holds one event in a POST that does not return

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		const workers = 8
		for w := range workers {
			wg.Go(func() {
				for i := w; i < total; i += workers {
					s.Enqueue(occupied(i)) // a fresh channel name each: real allocations
				}
			})
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("Enqueue blocked while the receiver was stuck")
	}

	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Errorf("heap grew by %d MiB over %d enqueues; the queue is not bounded", grew>>20, total)
	}
	if got := s.Len(); got != cfg.MaxQueue {
		t.Errorf("Len = %d, want MaxQueue %d", got, cfg.MaxQueue)
	}
	if got := c.dropped.Load(); got != total-int64(cfg.MaxQueue) {
		t.Errorf("dropped %d, want %d", got, total-cfg.MaxQueue)
	}

	// Once the receiver answers, everything that was accepted goes out.
	close(release)
	waitFor(t, "the queue to drain", func() bool { return c.sent.Load() == int64(cfg.MaxQueue)+1 })
	if got := len(rc.accepted()); got != cfg.MaxQueue+1 {
		t.Errorf("receiver got %d events, want %d", got, cfg.MaxQueue+1)
	}
	if c.total() != total+1 || c.failed.Load() != 0 {
		t.Errorf("sent %d + failed %d + dropped %d ≠ %d enqueued", c.sent.Load(), c.failed.Load(), c.dropped.Load(), total+1)
	}
}

// Large events are bounded by bytes before the count bound is reached.
func TestQueueBoundInBytes(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) int {
		<-release
		w.WriteHeader(http.StatusOK)
		return http.StatusOK
	})
	t.Cleanup(func() { close(release) })
	var c counts
	cfg := baseConfig(rc, &c)
	cfg.MaxQueue = 1000
	cfg.MaxQueueBytes = 105_000 // ten events of 10 KB and a half
	cfg.AttemptTimeout = time.Minute
	cfg.FlushTimeout = 100 * time.Millisecond // cleanup stops Run before releasing the receiver
	s := webhook.New(cfg)
	run(t, s)
	s.Enqueue(occupied(-1))
	rc.waitArrival(t)

	big := strings.Repeat("x", 10_000)
	for range 100 {
		s.Enqueue(webhook.Event{Name: webhook.ClientEvent, Channel: "private-big", Event: "client-big", Data: big, SocketID: "1.1"})
	}
	if got := s.Len(); got != 10 {
		t.Errorf("Len = %d with 10 KB events and MaxQueueBytes %d, want 10", got, cfg.MaxQueueBytes)
	}
	if got := c.dropped.Load(); got != 90 {
		t.Errorf("dropped %d, want 90", got)
	}
}

func TestEventFilter(t *testing.T) {
	all := func() []webhook.Event {
		var evs []webhook.Event
		for i, name := range webhook.Names() {
			evs = append(evs, webhook.Event{Name: name, Channel: "presence-c", UserID: "u", Event: "client-e", SocketID: "1.1", SubscriptionCount: i + 1})
		}
		return append(evs, webhook.Event{Name: "not_an_event", Channel: "x"})
	}
	for _, tc := range []struct {
		name   string
		events []string
	}{
		{"one kind", []string{webhook.MemberAdded}},
		{"two kinds", []string{webhook.ChannelOccupied, webhook.ClientEvent}},
		{"every kind", webhook.Names()},
		{"none", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, nil)
			var c counts
			cfg := baseConfig(rc, &c)
			cfg.Events = tc.events
			s := webhook.New(cfg)
			for _, name := range append(webhook.Names(), "not_an_event") {
				if got, want := s.Enabled(name), slices.Contains(tc.events, name); got != want {
					t.Errorf("Enabled(%q) = %v, want %v", name, got, want)
				}
			}
			stop := run(t, s)
			for _, e := range all() {
				s.Enqueue(e)
			}
			if err := stop(); err != nil { // Run flushes before returning
				t.Fatal(err)
			}
			var got []string
			for _, e := range rc.accepted() {
				got = append(got, e.Name)
			}
			var want []string
			for _, name := range webhook.Names() {
				if slices.Contains(tc.events, name) {
					want = append(want, name)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("sent %v, want %v", got, want)
			}
			if c.dropped.Load() != 0 || c.failed.Load() != 0 {
				t.Errorf("filtered events were counted: dropped %d failed %d", c.dropped.Load(), c.failed.Load())
			}
		})
	}
}

func TestShutdownFlushesQueue(t *testing.T) {
	rc := newReceiver(t, nil)
	var c counts
	cfg := baseConfig(rc, &c)
	cfg.BatchWait = time.Hour // nothing short of a full batch or shutdown sends
	cfg.MaxBatch = 1000
	s := webhook.New(cfg)
	for i := range 1500 {
		s.Enqueue(occupied(i))
	}
	stop := run(t, s)
	waitFor(t, "the first full batch", func() bool { return c.sent.Load() == 1000 })
	time.Sleep(20 * time.Millisecond)
	if got := len(rc.all()); got != 1 {
		t.Fatalf("%d POSTs before shutdown, want only the full batch", got)
	}

	start := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("shutdown took %v", took)
	}
	if got := len(rc.accepted()); got != 1500 || c.sent.Load() != 1500 {
		t.Errorf("after shutdown the receiver has %d events (sent %d), want 1500", got, c.sent.Load())
	}

	// After Run returned nothing would send: Enqueue counts a drop.
	s.Enqueue(occupied(9999))
	if c.dropped.Load() != 1 || s.Len() != 0 {
		t.Errorf("Enqueue after Run: dropped %d, Len %d; want 1 and 0", c.dropped.Load(), s.Len())
	}
}

// Events still queued behind a POST under way when the context ends are
// sent too, in batches, before Run returns.
func TestShutdownFlushesBacklog(t *testing.T) {
	hold := make(chan struct{})
	rc := newReceiver(t, func(i int, w http.ResponseWriter, _ *http.Request) int {
		if i == 0 {
			<-hold
		}
		w.WriteHeader(http.StatusOK)
		return http.StatusOK
	})
	var c counts
	cfg := baseConfig(rc, &c)
	cfg.BatchWait = time.Hour
	cfg.MaxBatch = 10
	s := webhook.New(cfg)
	stop := run(t, s)
	for i := range 10 {
		s.Enqueue(occupied(i))
	}
	rc.waitArrival(t) // a full batch is held by the receiver
	for i := range 35 {
		s.Enqueue(occupied(10 + i))
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	time.Sleep(20 * time.Millisecond) // let the cancel land while the POST is held
	close(hold)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	got := rc.accepted()
	if len(got) != 45 || c.sent.Load() != 45 || c.dropped.Load() != 0 {
		t.Fatalf("receiver has %d events, sent %d, dropped %d; want 45, 45, 0", len(got), c.sent.Load(), c.dropped.Load())
	}
	for i, e := range got {
		if e != occupied(i) {
			t.Fatalf("event %d = %+v, want %+v", i, e, occupied(i))
		}
	}
	if posts := len(rc.all()); posts != 5 {
		t.Errorf("%d POSTs, want 5 (10 held, then 10+10+10+5)", posts)
	}
}

// A POST under way at shutdown is allowed to finish (not resent), and the
// whole shutdown is bounded by FlushTimeout even if the receiver hangs.
func TestShutdownIsBounded(t *testing.T) {
	t.Run("in-flight POST completes", func(t *testing.T) {
		rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) int {
			time.Sleep(150 * time.Millisecond)
			w.WriteHeader(http.StatusOK)
			return http.StatusOK
		})
		var c counts
		s := webhook.New(baseConfig(rc, &c))
		stop := run(t, s)
		s.Enqueue(occupied(1))
		rc.waitArrival(t)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if c.sent.Load() != 1 || len(rc.all()) != 1 {
			t.Errorf("sent %d in %d POSTs, want 1 in 1", c.sent.Load(), len(rc.all()))
		}
	})

	t.Run("hung receiver", func(t *testing.T) {
		release := make(chan struct{})
		rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) int {
			<-release
			return http.StatusOK
		})
		t.Cleanup(func() { close(release) })
		var c counts
		cfg := baseConfig(rc, &c)
		cfg.AttemptTimeout = time.Hour
		cfg.FlushTimeout = 200 * time.Millisecond
		s := webhook.New(cfg)
		stop := run(t, s)
		s.Enqueue(occupied(0))
		rc.waitArrival(t)
		for i := range 50 {
			s.Enqueue(occupied(i + 1))
		}

		start := time.Now()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if took < cfg.FlushTimeout/2 {
			t.Errorf("shutdown took %v: the POST under way was cut short, not given FlushTimeout %v", took, cfg.FlushTimeout)
		}
		if took > cfg.FlushTimeout+2*time.Second {
			t.Errorf("shutdown took %v, want about FlushTimeout %v", took, cfg.FlushTimeout)
		}
		if c.failed.Load() != 1 || c.dropped.Load() != 50 || c.sent.Load() != 0 {
			t.Errorf("failed %d dropped %d sent %d; want 1 (in flight), 50 (never tried), 0", c.failed.Load(), c.dropped.Load(), c.sent.Load())
		}
	})
}

// Concurrent producers against a live Run: every event is accounted for,
// and the receiver gets each sent one exactly once.
func TestConcurrentEnqueueAccounting(t *testing.T) {
	rc := newReceiver(t, nil)
	var c counts
	cfg := baseConfig(rc, &c)
	cfg.MaxQueue = 64 // small, so that some drops happen
	cfg.BatchWait = time.Millisecond
	s := webhook.New(cfg)
	stop := run(t, s)
	const producers, each = 8, 2000
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				s.Enqueue(occupied(p*each + i))
			}
		})
	}
	wg.Wait()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if c.total() != producers*each {
		t.Fatalf("sent %d + failed %d + dropped %d ≠ %d", c.sent.Load(), c.failed.Load(), c.dropped.Load(), producers*each)
	}
	seen := map[string]bool{}
	for _, e := range rc.accepted() {
		if seen[e.Channel] {
			t.Fatalf("%s delivered twice", e.Channel)
		}
		seen[e.Channel] = true
	}
	if int64(len(seen)) != c.sent.Load() {
		t.Errorf("receiver has %d events, sender counted %d sent", len(seen), c.sent.Load())
	}
}

// Neither the Sender's logs, through retries, rejections, network errors,
// drops and shutdown, nor a printed or logged Config show the secret, or a
// credential in the URL.
func TestSecretNeverLogged(t *testing.T) {
	rc := newReceiver(t, func(i int, w http.ResponseWriter, _ *http.Request) int {
		switch i {
		case 0:
			w.WriteHeader(http.StatusInternalServerError)
			return 500
		case 1:
			return hijackClose(w)
		case 2:
			w.WriteHeader(http.StatusBadRequest)
			return 400
		case 3:
			time.Sleep(200 * time.Millisecond) // while the queue overflows
		}
		w.WriteHeader(http.StatusOK)
		return http.StatusOK
	})
	var buf lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := baseConfig(rc, nil)
	cfg.URL = strings.Replace(rc.srv.URL, "http://", "http://user:url-password@", 1) + "/hook?token=query-token"
	cfg.Logger = logger
	cfg.MaxQueue = 2
	s := webhook.New(cfg)
	stop := run(t, s)
	s.Enqueue(occupied(1))
	waitFor(t, "retry then rejection", func() bool { return len(rc.all()) == 3 })
	s.Enqueue(occupied(2))
	waitFor(t, "a slow POST", func() bool { return len(rc.all()) == 4 })
	for i := range 20 {
		s.Enqueue(occupied(i)) // 2 fit, 18 are dropped
	}
	_ = stop()
	logger.Info("config", "cfg", cfg)
	printed := fmt.Sprintf("%v %+v %#v %s %v", cfg, cfg, cfg, cfg, &cfg)

	for _, leak := range []string{testSecret, "url-password", "query-token"} {
		if strings.Contains(buf.String(), leak) {
			t.Errorf("log contains %q:\n%s", leak, buf.String())
		}
		if strings.Contains(printed, leak) {
			t.Errorf("printed Config contains %q: %s", leak, printed)
		}
	}
	for _, want := range []string{"retrying", "rejected", "dropped", "REDACTED"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q, so the test did not cover that path:\n%s", want, buf.String())
		}
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestInvalidConfig(t *testing.T) {
	ok := webhook.Config{URL: "https://example.com/hook", Key: testKey, Secret: testSecret, Events: webhook.Names()}
	for _, tc := range []struct {
		name string
		edit func(*webhook.Config)
		want string
	}{
		{"no URL", func(c *webhook.Config) { c.URL = "" }, "URL is empty"},
		{"bad scheme", func(c *webhook.Config) { c.URL = "ftp://example.com/x" }, "http or https"},
		{"no host", func(c *webhook.Config) { c.URL = "http:///path" }, "no host"},
		{"unparsable", func(c *webhook.Config) { c.URL = "http://[::1" }, "URL"},
		{"no key", func(c *webhook.Config) { c.Key = "" }, "Key is empty"},
		{"no secret", func(c *webhook.Config) { c.Secret = "" }, "Secret is empty"},
		{"unknown event", func(c *webhook.Config) { c.Events = []string{"channel_occupied", "member_joined"} }, `"member_joined"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			s := webhook.New(cfg)
			s.Enqueue(occupied(1)) // must not panic
			if s.Len() != 0 {
				t.Error("an unusable Sender queued an event")
			}
			err := s.Run(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want an error about %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	rc := newReceiver(t, nil)
	s := webhook.New(baseConfig(rc, nil))
	run(t, s)
	s.Enqueue(occupied(1))
	rc.waitArrival(t) // the first Run is under way
	if err := s.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("second Run = %v, want an error", err)
	}
}

func TestNilSender(t *testing.T) {
	var s *webhook.Sender
	s.Enqueue(occupied(1))
	if s.Enabled(webhook.ChannelOccupied) || s.Len() != 0 {
		t.Error("a nil Sender claims to send")
	}
	if s.Run(t.Context()) == nil {
		t.Error("Run on a nil Sender returned nil")
	}
}
