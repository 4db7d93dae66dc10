package transport_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

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
