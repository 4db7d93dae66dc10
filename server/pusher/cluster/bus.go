package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsfargate/websocket-service/server/pusher"
)

// streamLength caps the event stream: a task follows it live, so it needs
// only enough to ride out a short stall of its reader.
const streamLength = 10_000

// Stream entry fields.
const (
	fieldChannel   = "c"
	fieldFrame     = "f"
	fieldSkip      = "s"
	fieldTerminate = "t"
	// A member event's user, user info, version and direction
	// ("1" added, "0" removed).
	fieldUser    = "u"
	fieldInfo    = "i"
	fieldVersion = "v"
	fieldAdded   = "a"
)

// Bus is a pusher.Bus over one Redis stream that every task follows: XADD
// orders every event of the app in one place, so each channel's events
// reach the subscribers of every task in the same order.
type Bus struct {
	rdb    redis.UniversalClient
	key    string
	logger *slog.Logger
}

// NewBus returns the app's bus.
func NewBus(rdb redis.UniversalClient, app string, logger *slog.Logger) *Bus {
	return &Bus{rdb: rdb, key: "pusher:{" + app + "}:events", logger: logger}
}

// Publish implements pusher.Bus.
func (b *Bus) Publish(ctx context.Context, m pusher.Message) error {
	values := []any{fieldChannel, m.Channel, fieldFrame, m.Frame}
	if m.Skip != "" {
		values = append(values, fieldSkip, m.Skip)
	}
	if m.Version != 0 {
		added := "0"
		if m.Added {
			added = "1"
		}
		values = append(values, fieldUser, m.User, fieldVersion, strconv.FormatUint(m.Version, 10), fieldAdded, added)
		if len(m.Info) > 0 {
			values = append(values, fieldInfo, []byte(m.Info))
		}
	}
	return b.add(ctx, values)
}

// Terminate implements pusher.Bus.
func (b *Bus) Terminate(ctx context.Context, userID string) error {
	return b.add(ctx, []any{fieldTerminate, userID})
}

func (b *Bus) add(ctx context.Context, values []any) error {
	err := b.rdb.XAdd(ctx, &redis.XAddArgs{Stream: b.key, MaxLen: streamLength, Approx: true, Values: values}).Err()
	if err != nil {
		return fmt.Errorf("publish to %s: %w", b.key, err)
	}
	return nil
}

// Follow delivers every entry added from now on to local, in stream order,
// until ctx ends. ready is closed once it knows where "now" is. While Redis
// is unreachable it retries with jittered backoff and then reads on from
// the last entry it delivered, so nothing is skipped.
func (b *Bus) Follow(ctx context.Context, local pusher.Local, ready chan<- struct{}) {
	last := ""
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		if last == "" {
			id, err := b.head(ctx)
			if err != nil {
				b.backoff(ctx, &wait, err)
				continue
			}
			last = id
			if ready != nil {
				close(ready)
				ready = nil
			}
		}
		streams, err := b.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{b.key, last}, Count: 512, Block: 5 * time.Second}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			b.backoff(ctx, &wait, err)
			continue
		}
		wait = 100 * time.Millisecond
		for _, s := range streams {
			for _, e := range s.Messages {
				last = e.ID
				deliver(local, e.Values)
			}
		}
	}
}

// head returns the id of the stream's newest entry, or "0-0" while empty.
func (b *Bus) head(ctx context.Context) (string, error) {
	es, err := b.rdb.XRevRangeN(ctx, b.key, "+", "-", 1).Result()
	if err != nil {
		return "", fmt.Errorf("read the head of %s: %w", b.key, err)
	}
	if len(es) == 0 {
		return "0-0", nil
	}
	return es[0].ID, nil
}

func (b *Bus) backoff(ctx context.Context, wait *time.Duration, err error) {
	if ctx.Err() != nil {
		return
	}
	b.logger.Warn("Pusher event stream unavailable; retrying", "err", err, "retry_in", wait.String())
	select {
	case <-ctx.Done():
	case <-time.After(*wait/2 + rand.N(*wait/2+1)):
	}
	*wait = min(*wait*2, 5*time.Second)
}

func deliver(local pusher.Local, v map[string]any) {
	str := func(k string) string { s, _ := v[k].(string); return s }
	if id := str(fieldTerminate); id != "" {
		local.TerminateLocal(id)
		return
	}
	m := pusher.Message{Channel: str(fieldChannel), Frame: []byte(str(fieldFrame)), Skip: str(fieldSkip)}
	if v, err := strconv.ParseUint(str(fieldVersion), 10, 64); err == nil {
		m.User, m.Version, m.Added = str(fieldUser), v, str(fieldAdded) == "1"
		if info := str(fieldInfo); info != "" {
			m.Info = json.RawMessage(info)
		}
	}
	local.Deliver(m)
}
