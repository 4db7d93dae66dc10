// Package broker carries broadcasts between server processes, so that a
// message published on any task reaches the clients of every task in the
// same order with the same offsets.
//
// A single process needs no broker: its hub.Log is the publisher. With more
// than one process the broker is a Redis (or Valkey, ElastiCache) stream:
// XADD with an approximate MAXLEN orders and bounds the history in one
// place, and every process follows the stream with a blocking XREAD into its
// own log. A stream entry's ID becomes the message's offset, so offsets agree
// across processes and survive restarts of any of them.
package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsfargate/websocket-service/server/hub"
	"github.com/wsfargate/websocket-service/server/metrics"
	"github.com/wsfargate/websocket-service/server/protocol"
)

// field is the stream entry field that holds the message.
const field = "m"

// Redis publishes to and follows one Redis stream.
type Redis struct {
	client  *redis.Client
	stream  string
	history int
	logger  *slog.Logger
	metrics *metrics.Metrics
	timeout time.Duration
}

// Options say where the stream is.
type Options struct {
	URL      string // redis:// or rediss:// (TLS); may carry credentials
	Username string // overrides the URL's, when set
	Password string // overrides the URL's, when set
	Stream   string
	History  int // entries kept in the stream, approximately
}

// NewRedis connects lazily to the server in o.
func NewRedis(o Options, logger *slog.Logger, m *metrics.Metrics) (*Redis, error) {
	opt, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	if o.Username != "" {
		opt.Username = o.Username
	}
	if o.Password != "" {
		opt.Password = o.Password
	}
	// Fail fast and let the caller decide: a publish that waits long keeps
	// its sender waiting, and the follower retries on its own.
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = 2 * time.Second
	opt.WriteTimeout = 2 * time.Second
	opt.MaxRetries = 0
	opt.ContextTimeoutEnabled = true
	return &Redis{
		client:  redis.NewClient(opt),
		stream:  o.Stream,
		history: o.History,
		logger:  logger.With("broker", "redis", "stream", o.Stream),
		metrics: m,
		timeout: 3 * time.Second,
	}, nil
}

// Close releases the connections.
func (r *Redis) Close() error { return r.client.Close() }

// Publish adds payload to the stream. A nil error means Redis has the
// message and every process will deliver it; an error means it was not
// acknowledged (if Redis took it just before failing, it may still be
// delivered).
func (r *Redis) Publish(ctx context.Context, payload json.RawMessage) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	err := r.client.XAdd(ctx, &redis.XAddArgs{
		Stream: r.stream,
		MaxLen: int64(r.history),
		Approx: true,
		Values: []any{field, []byte(payload)},
	}).Err()
	if err != nil {
		r.metrics.BrokerErrors.WithLabelValues("publish").Inc()
		return fmt.Errorf("broker unavailable: %w", err)
	}
	return nil
}

// Load reads the stream's recent history into a new log of the given
// capacity and returns it with the ID to follow from. It fails when Redis
// cannot be reached.
func (r *Redis) Load(ctx context.Context, capacity int) (*hub.Log, string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var floor uint64
	info, err := r.client.XInfoStream(ctx, r.stream).Result()
	switch {
	case err != nil && strings.Contains(err.Error(), "no such key"):
		// A new stream: nothing was ever lost.
	case err != nil:
		return nil, "", fmt.Errorf("load history: %w", err)
	default:
		if floor, err = EncodeStreamID(info.MaxDeletedEntryID); err != nil {
			return nil, "", fmt.Errorf("load history: %w", err)
		}
	}
	// One more than fits: the extra, oldest entry is the floor, everything
	// after it is in the log.
	msgs, err := r.client.XRevRangeN(ctx, r.stream, "+", "-", int64(capacity)+1).Result()
	if err != nil {
		return nil, "", fmt.Errorf("load history: %w", err)
	}
	if len(msgs) > capacity {
		f, err := EncodeStreamID(msgs[capacity].ID)
		if err != nil {
			return nil, "", fmt.Errorf("load history: %w", err)
		}
		floor = max(floor, f)
		msgs = msgs[:capacity]
	}
	log := hub.NewLog(capacity, floor)
	last := "0-0"
	for i := len(msgs) - 1; i >= 0; i-- {
		r.append(log, msgs[i])
		last = msgs[i].ID
	}
	if len(msgs) == 0 && info != nil && info.LastGeneratedID != "" {
		last = info.LastGeneratedID
	}
	return log, last, nil
}

// Follow appends every entry after ID from to log, in stream order, until
// ctx ends. When Redis fails it retries with jittered backoff from the last
// entry it appended, so nothing is skipped or delivered twice.
func (r *Redis) Follow(ctx context.Context, log *hub.Log, from string) {
	last := from
	backoff := 50 * time.Millisecond
	down := false
	const block = 2 * time.Second
	for ctx.Err() == nil {
		// The deadline notices a Redis that stopped answering (frozen, or
		// the network gone) soon after the block ends, rather than after
		// the client library's generous allowance for blocking reads.
		rctx, cancel := context.WithTimeout(ctx, block+r.timeout)
		streams, err := r.client.XRead(rctx, &redis.XReadArgs{
			Streams: []string{r.stream, last},
			Count:   512,
			Block:   block,
		}).Result()
		cancel()
		if err != nil && !errors.Is(err, redis.Nil) {
			if ctx.Err() != nil {
				return
			}
			r.metrics.BrokerErrors.WithLabelValues("follow").Inc()
			if !down {
				r.logger.Error("broker down; local connections keep working, publishes get error frames", "err", err)
				down = true
				r.metrics.BrokerUp.Set(0)
			}
			sleep(ctx, backoff/2+rand.N(backoff/2+1))
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		if down {
			r.logger.Info("broker back; resuming", "after", last)
			down = false
		}
		r.metrics.BrokerUp.Set(1)
		backoff = 50 * time.Millisecond
		for _, s := range streams {
			for _, m := range s.Messages {
				r.append(log, m)
				last = m.ID
			}
		}
	}
}

// append adds one stream entry to log. Entries that did not come from a
// server (wrong field, invalid JSON, an unrepresentable ID) are skipped with
// a log line rather than broken into every client's stream.
func (r *Redis) append(log *hub.Log, m redis.XMessage) {
	off, err := EncodeStreamID(m.ID)
	if err != nil {
		r.logger.Error("skipping stream entry", "id", m.ID, "err", err)
		return
	}
	raw, _ := m.Values[field].(string)
	payload, err := protocol.ParseMessage([]byte(raw))
	if err != nil {
		r.logger.Error("skipping stream entry", "id", m.ID, "err", err)
		return
	}
	log.AppendAt(off, payload)
}

// EncodeStreamID turns a stream entry ID ("<ms>-<seq>") into an offset:
// milliseconds in the high 44 bits, the sequence in the low 20. Order is
// preserved, and the layout matches hub.StartOffset so that in-memory and
// Redis offsets compare sensibly.
func EncodeStreamID(id string) (uint64, error) {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return 0, fmt.Errorf("stream ID %q: want <ms>-<seq>", id)
	}
	m, err := strconv.ParseUint(ms, 10, 64)
	if err != nil || m >= 1<<44 {
		return 0, fmt.Errorf("stream ID %q: bad milliseconds", id)
	}
	s, err := strconv.ParseUint(seq, 10, 64)
	if err != nil || s >= 1<<20 {
		return 0, fmt.Errorf("stream ID %q: sequence beyond 2^20", id)
	}
	return m<<20 | s, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
