package transport_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/internal/rawws"
)

// A client that pings the server has its ping answered by the library,
// which then holds the connection's reader; the server's own pings must
// still count that client's pongs.
func TestClientPingThenServerPings(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.PingInterval, c.PingTimeout = 100*time.Millisecond, 50*time.Millisecond })
	ctx := testContext(t, 10*time.Second)
	c := dial(t, ctx, ts.URL)
	frames := make(chan []byte, 16)
	go func() { // reading answers the server's pings
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				close(frames)
				return
			}
			frames <- b
		}
	}()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	time.Sleep(600 * time.Millisecond) // several ping rounds
	if n := ts.Connections(); n != 1 {
		t.Fatalf("%d connections after the ping rounds, want 1: the client was dropped", n)
	}
	send(t, ctx, c, `"still here"`)
	select {
	case b := <-frames:
		if !strings.Contains(string(b), `"still here"`) {
			t.Fatalf("got %s, want the broadcast", b)
		}
	case <-ctx.Done():
		t.Fatal("no broadcast")
	}
}

// Frames sent right behind the handshake, before the 101 came back, land
// in net/http's buffer rather than the socket; they must still be read.
func TestFramesRightBehindHandshake(t *testing.T) {
	ts := start(t, nil)
	host := strings.TrimPrefix(ts.HTTP, "http://")
	pong := []byte{0x8A, 0x80, 9, 9, 9, 9}
	_, br := rawws.Dial(t, host, append(pong, rawws.MaskedText(`"early"`)...))
	if got := rawws.ReadText(t, br); got != `{"connection":"ok"}` {
		t.Fatalf("first frame %s, want the greeting", got)
	}
	var f struct{ Message string }
	if err := json.Unmarshal([]byte(rawws.ReadText(t, br)), &f); err != nil || f.Message != "early" {
		t.Fatalf("second frame: %+v %v, want the broadcast of \"early\"", f, err)
	}
}

// Pongs and messages in any mix, split anywhere across writes, are all
// taken: the pongs by the server's own reader, the messages by the
// library.
func TestPongsAndMessagesSplitAcrossWrites(t *testing.T) {
	ts := start(t, nil)
	host := strings.TrimPrefix(ts.HTTP, "http://")
	nc, br := rawws.Dial(t, host, nil)
	if got := rawws.ReadText(t, br); got != `{"connection":"ok"}` {
		t.Fatalf("first frame %s, want the greeting", got)
	}
	pong := []byte{0x8A, 0x80 | 3, 5, 6, 7, 8, 1, 2, 3}
	var stream []byte
	for i := range 5 {
		stream = append(stream, pong...)
		stream = append(stream, rawws.MaskedText(fmt.Sprintf(`"m%d"`, i))...)
		stream = append(stream, pong...)
	}
	for i := 0; i < len(stream); i += 5 { // 5 bytes at a time, pausing between
		if _, err := nc.Write(stream[i:min(i+5, len(stream))]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	for i := range 5 {
		var f struct{ Message string }
		if err := json.Unmarshal([]byte(rawws.ReadText(t, br)), &f); err != nil || f.Message != fmt.Sprintf("m%d", i) {
			t.Fatalf("broadcast %d: %+v %v", i, f, err)
		}
	}
}

// A client's ping between messages is answered with its payload, and the
// connection carries on.
func TestClientPingAnswered(t *testing.T) {
	ts := start(t, nil)
	nc, br := rawws.Dial(t, strings.TrimPrefix(ts.HTTP, "http://"), nil)
	if got := rawws.ReadText(t, br); got != `{"connection":"ok"}` {
		t.Fatalf("first frame %s, want the greeting", got)
	}
	for _, payload := range []string{"", "beat 1", strings.Repeat("p", 125)} {
		if _, err := nc.Write(rawws.Masked(0x9, payload)); err != nil {
			t.Fatal(err)
		}
		if op, got := rawws.ReadFrame(t, br); op != 0xA || got != payload {
			t.Fatalf("answer to a ping with %q: opcode %#x payload %q, want a pong with the same payload", payload, op, got)
		}
	}
	if _, err := nc.Write(rawws.MaskedText(`"after"`)); err != nil {
		t.Fatal(err)
	}
	var f struct{ Message string }
	if err := json.Unmarshal([]byte(rawws.ReadText(t, br)), &f); err != nil || f.Message != "after" {
		t.Fatalf("broadcast after the pings: %+v %v", f, err)
	}
}

// A close handshake that the peer never answers lasts seconds; dropping
// that client for a missed pong must not hold up everyone else's pings.
func TestPingsGoOnWhileAClientCloses(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.PingInterval, c.PingTimeout = 200*time.Millisecond, 50*time.Millisecond })
	ctx := testContext(t, 20*time.Second)
	// A binary frame makes the server close with 1003; this client never
	// reads, so it answers neither that close frame nor any ping.
	silent := dial(t, ctx, ts.URL)
	if err := silent.Write(ctx, websocket.MessageBinary, []byte{1}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var pings []time.Time
	healthy, _, err := websocket.Dial(ctx, ts.URL, &websocket.DialOptions{
		OnPingReceived: func(context.Context, []byte) bool {
			mu.Lock()
			pings = append(pings, time.Now())
			mu.Unlock()
			return true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer healthy.CloseNow()
	discard(ctx, healthy) // reading answers pings

	time.Sleep(2 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	gap := time.Duration(0)
	for i := 1; i < len(pings); i++ {
		gap = max(gap, pings[i].Sub(pings[i-1]))
	}
	if len(pings) < 5 || gap > time.Second {
		t.Fatalf("%d pings in 2 s at a 200ms interval, longest gap %v: the sweep stalled", len(pings), gap)
	}
}

// A resuming client ahead of the log is held before the upgrade while the
// log catches up, not pinged while nothing reads its socket.
func TestCatchUpDoesNotCostTheClientItsPongs(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.PingInterval, c.PingTimeout = 400*time.Millisecond, 300*time.Millisecond })
	ctx := testContext(t, 10*time.Second)
	ahead := strconv.FormatUint(ts.Log.Head()+1_000_000, 10) // never reached
	c, hello := dialHello(t, ctx, ts.URL+"?since="+ahead)
	if _, ok := hello["replay"]; ok {
		t.Fatalf("greeting %v promises a replay", hello)
	}
	if f := readFrame(t, ctx, c); f["error"] == nil {
		t.Fatalf("got %v, want recovery_failed", f)
	}
	discard(ctx, c) // reading answers pings
	time.Sleep(time.Second)
	if n := ts.Connections(); n != 1 {
		t.Fatalf("%d connections, want the resumed client still there", n)
	}
}

// plainConns hides the socket behind a plain net.Conn, as a TLS or
// PROXY-protocol listener would: the server cannot watch its readiness.
type plainConns struct{ net.Listener }

func (l plainConns) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return struct{ net.Conn }{c}, nil
}

// Without readiness to watch, the library reads; broadcasts flow and a
// server close goes out at once.
func TestConnectionWithoutASocket(t *testing.T) {
	ts := startOn(t, nil, func(l net.Listener) net.Listener { return plainConns{l} })
	ctx := testContext(t, 10*time.Second)
	c := dial(t, ctx, ts.URL)
	send(t, ctx, c, `"hi"`)
	if f := readFrame(t, ctx, c); f["message"] != "hi" {
		t.Fatalf("got %v, want the broadcast", f)
	}
	start := time.Now()
	go func() { _ = ts.CloseAll(ctx, 0) }()
	if code, _ := closeStatus(t, ctx, c); code != websocket.StatusGoingAway {
		t.Fatalf("close code %v, want 1001", code)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the close took %v", d)
	}
}
