package e2e_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsfargate/websocket-service/server/broker"
	"github.com/wsfargate/websocket-service/server/client"
)

// listener is a reconnecting client that records what it receives.
type listener struct {
	c          *client.Client
	mu         sync.Mutex
	offsets    []uint64
	payloads   []json.RawMessage
	reconnects []time.Duration
	failed     int // recovery_failed frames
	connected  atomic.Bool
}

func startListeners(t *testing.T, ctx context.Context, url string, n int) []*listener {
	t.Helper()
	ls := make([]*listener, n)
	for i := range ls {
		l := &listener{}
		l.c = client.New(client.Options{
			URL:        url,
			MinBackoff: 50 * time.Millisecond,
			MaxBackoff: 2 * time.Second,
			OnMessage: func(m client.Message) {
				off, err := strconv.ParseUint(m.Offset, 10, 64)
				if err != nil {
					t.Errorf("offset %q: %v", m.Offset, err)
				}
				l.mu.Lock()
				l.offsets = append(l.offsets, off)
				l.payloads = append(l.payloads, m.Payload)
				l.mu.Unlock()
			},
			OnEvent: func(e client.Event) {
				l.mu.Lock()
				defer l.mu.Unlock()
				switch e.Kind {
				case client.Connected:
					if e.Down > 0 {
						l.reconnects = append(l.reconnects, e.Down)
					}
					l.connected.Store(true)
				case client.RecoveryFailed:
					l.failed++
				}
			},
		})
		ls[i] = l
		go l.c.Run(ctx)
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, l := range ls {
		for !l.connected.Load() {
			if time.Now().After(deadline) {
				t.Fatal("listeners did not all connect")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return ls
}

func (l *listener) snapshot() ([]uint64, []time.Duration, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]uint64(nil), l.offsets...), append([]time.Duration(nil), l.reconnects...), l.failed
}

// streamOffsets reads the ground truth: every entry in the Redis stream.
func streamOffsets(t *testing.T, ctx context.Context, redisURL, stream string) []uint64 {
	t.Helper()
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	msgs, err := rc.XRange(ctx, stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]uint64, len(msgs))
	for i, m := range msgs {
		if out[i], err = broker.EncodeStreamID(m.ID); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// tally compares what one listener got with the stream.
type tally struct{ lost, duplicated, outOfOrder int }

func compare(want, got []uint64) tally {
	var r tally
	seen := make(map[uint64]int, len(got))
	for i, off := range got {
		seen[off]++
		if i > 0 && off <= got[i-1] {
			r.outOfOrder++
		}
	}
	for _, off := range want {
		if seen[off] == 0 {
			r.lost++
		}
	}
	for _, n := range seen {
		if n > 1 {
			r.duplicated += n - 1
		}
	}
	return r
}
