package transport

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/hub"
	"github.com/wsfargate/websocket-service/server/metrics"
)

// Delivering a broadcast to a client that keeps up allocates nothing: the
// frame is shared, and the woken client writes it from its own stack. Only
// the log's entry is allocated, once per broadcast however many clients
// there are.
func TestDeliveryDoesNotAllocate(t *testing.T) {
	cfg, err := config.Load(func(string) (string, bool) { return "", false }, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log := hub.NewLog(cfg.HistorySize, hub.StartOffset(time.Now()))
	srv := New(cfg, log, log, metrics.New(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	const clients = 50
	for range clients {
		peer, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		go func() { _, _ = io.Copy(io.Discard, peer) }()
		nc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		c := &Conn{srv: srv, raw: newRawConn(nc), profile: &seedProfile}
		c.room = feed{c: c, log: log, cursor: log.Head()}
		c.room.waiter = hub.NewWaiter(c.room.wake)
		if !log.Park(c.room.cursor, c.room.waiter) {
			t.Fatal("a new client could not park")
		}
	}
	payload := []byte(`{"n":1}`)
	log.Append(payload) // first use of every path
	perBroadcast := testing.AllocsPerRun(200, func() { log.Append(payload) })
	if got := log.Parked(); got != clients {
		t.Fatalf("%d clients parked after the broadcasts, want %d: some fell off the fast path", got, clients)
	}
	t.Logf("%.1f allocations per broadcast to %d clients", perBroadcast, clients)
	if perBroadcast > 3 {
		t.Errorf("%.1f allocations per broadcast to %d clients, want the log's own 1 or 2", perBroadcast, clients)
	}
}
