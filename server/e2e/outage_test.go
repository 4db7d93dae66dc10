package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/client"
)

// Redis freezes for several seconds and is then restarted (append-only file
// on). Every publish the sender saw acknowledged — its own broadcast came
// back — reaches every listener exactly once; every publish that was not got
// an error frame.
func TestRedisOutage(t *testing.T) {
	c := startCluster(t, 3, true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ls := startListeners(t, ctx, c.url(), 30)

	acks := make(chan int, 16)
	nacks := make(chan string, 16)
	pub := client.New(client.Options{
		URL: c.url(),
		OnMessage: func(m client.Message) {
			var f struct{ Seq int }
			if json.Unmarshal(m.Payload, &f) == nil {
				acks <- f.Seq
			}
		},
		OnEvent: func(e client.Event) {
			if e.Kind == client.ErrorFrame {
				nacks <- e.Code
			}
		},
	})
	go pub.Run(ctx)
	for pub.Publish(ctx, json.RawMessage(`{"seq":-1}`)) != nil {
		time.Sleep(10 * time.Millisecond)
	}
	<-acks

	acked := map[int]bool{}
	var refused []int
	// send publishes seq and waits for its broadcast (acknowledged) or an
	// error frame (refused), closed loop.
	send := func(seq int) {
		if err := pub.Publish(ctx, json.RawMessage(fmt.Sprintf(`{"seq":%d}`, seq))); err != nil {
			t.Fatalf("publish %d: %v", seq, err)
		}
		for {
			select {
			case got := <-acks:
				if got == seq {
					acked[seq] = true
					return
				}
				// A late broadcast of an earlier, refused publish: Redis
				// took it as it froze. Not acknowledged, but not lost.
			case code := <-nacks:
				if code != "unavailable" {
					t.Fatalf("publish %d: error frame %q, want unavailable", seq, code)
				}
				refused = append(refused, seq)
				return
			case <-time.After(20 * time.Second):
				t.Fatalf("publish %d: neither broadcast nor error frame", seq)
			}
		}
	}
	seq := 0
	for range 20 {
		send(seq)
		seq++
	}
	c.redis.Pause()
	pauseEnds := time.Now().Add(5 * time.Second)
	for time.Now().Before(pauseEnds) {
		send(seq)
		seq++
	}
	c.redis.Resume()
	for range 10 {
		send(seq)
		seq++
	}
	c.redis.Restart()
	for range 20 {
		send(seq)
		seq++
	}
	t.Logf("%d publishes: %d acknowledged, %d refused with an error frame (%v)", seq, len(acked), len(refused), refused)
	if len(refused) == 0 {
		t.Fatal("no publish was refused while Redis was frozen")
	}

	want := waitAll(t, ctx, c, ls, 0)
	for i, l := range ls {
		got, _, failed := l.snapshot()
		if r := compare(want, got); r != (tally{}) || failed != 0 {
			t.Fatalf("listener %d: %+v, recovery failures %d", i, r, failed)
		}
		l.mu.Lock()
		count := map[int]int{}
		for _, p := range l.payloads {
			var f struct{ Seq int }
			if json.Unmarshal(p, &f) == nil {
				count[f.Seq]++
			}
		}
		l.mu.Unlock()
		for s := range acked {
			if count[s] != 1 {
				t.Fatalf("listener %d got acknowledged message %d %d times", i, s, count[s])
			}
		}
	}
}
