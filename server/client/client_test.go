package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/client"
	"github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/hub"
	"github.com/wsfargate/websocket-service/server/metrics"
	"github.com/wsfargate/websocket-service/server/transport"
)

// Two servers share one log, as two tasks fed by one broker do. The client
// is on the first when it drains; it must land on the second and receive
// what was published meanwhile, once each, in order.
func TestReconnectsAndResumesAcrossServers(t *testing.T) {
	cfg, err := config.Load(func(string) (string, bool) { return "", false }, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log := hub.NewLog(1000, 0)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := transport.New(cfg, log, log, metrics.New(), quiet)
	b := transport.New(cfg, log, log, metrics.New(), quiet)
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	var current atomic.Pointer[transport.Server]
	current.Store(a)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		current.Load().Handler().ServeHTTP(w, r)
	}))
	defer hs.Close()

	var mu sync.Mutex
	var got []string
	var events []client.Event
	c := client.New(client.Options{
		URL:        "ws" + strings.TrimPrefix(hs.URL, "http") + "/wss",
		MinBackoff: 20 * time.Millisecond,
		OnMessage: func(m client.Message) {
			var n int
			if err := json.Unmarshal(m.Payload, &n); err != nil {
				t.Errorf("payload %s: %v", m.Payload, err)
			}
			mu.Lock()
			got = append(got, fmt.Sprint(n))
			mu.Unlock()
		},
		OnEvent: func(e client.Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go c.Run(ctx)
	waitFor(t, "connected", func() bool { return a.Connections() == 1 })

	n := 0
	publish := func(k int) {
		for range k {
			log.Append(json.RawMessage(fmt.Sprint(n)))
			n++
		}
	}
	publish(5)
	waitFor(t, "first messages", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 5 })

	a.StartDraining()
	current.Store(b)
	publish(5) // still reaches the client through a
	closed := make(chan error, 1)
	go func() { closed <- a.CloseAll(ctx, 0) }()
	publish(5) // published while the client is between servers
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reconnected to b", func() bool { return b.Connections() == 1 })
	publish(5)
	waitFor(t, "all messages", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 20 })
	time.Sleep(50 * time.Millisecond)

	mu.Lock()
	defer mu.Unlock()
	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprint(i))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("received %v, want 0..19 once each in order", got)
	}
	var kinds []client.Kind
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	if fmt.Sprint(kinds) != fmt.Sprint([]client.Kind{client.Connected, client.Disconnected, client.Connected}) {
		t.Fatalf("events %v, want connected, disconnected, connected", kinds)
	}
	if events[2].Down <= 0 {
		t.Errorf("reconnect reported no downtime")
	}
}

func TestPublishAndErrorFrames(t *testing.T) {
	cfg, err := config.Load(func(string) (string, bool) { return "", false }, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log := hub.NewLog(100, 0)
	srv := transport.New(cfg, log, log, metrics.New(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(srv.Close)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	msgs := make(chan client.Message, 10)
	evs := make(chan client.Event, 10)
	c := client.New(client.Options{
		URL:       "ws" + strings.TrimPrefix(hs.URL, "http") + "/wss",
		OnMessage: func(m client.Message) { msgs <- m },
		OnEvent:   func(e client.Event) { evs <- e },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Publish(ctx, json.RawMessage(`{}`)); err != client.ErrNotConnected {
		t.Fatalf("publish before connecting: %v", err)
	}
	go c.Run(ctx)
	if e := <-evs; e.Kind != client.Connected {
		t.Fatalf("first event %+v", e)
	}
	if err := c.Publish(ctx, json.RawMessage(`{"hi":1}`)); err != nil {
		t.Fatal(err)
	}
	if m := <-msgs; string(m.Payload) != `{"hi":1}` || m.Offset != "1" || c.LastOffset() != "1" {
		t.Fatalf("got %+v", m)
	}
	if err := c.Publish(ctx, json.RawMessage(`nope`)); err != nil {
		t.Fatal(err)
	}
	if e := <-evs; e.Kind != client.ErrorFrame || e.Code != "invalid_json" {
		t.Fatalf("got %+v, want an invalid_json error event", e)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
