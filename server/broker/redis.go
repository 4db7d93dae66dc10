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
//
// The server may be a single Redis or a Redis Cluster (ElastiCache
// Serverless is always one). Every command the broker sends names one key,
// the stream, so none can span hash slots; a command that used another key
// beside the stream would need both under one hash tag ("{tag}"), or the
// cluster refuses it with CROSSSLOT.
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
	"sync"
	"sync/atomic"
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
	opts    Options
	conn    atomic.Pointer[conn] // nil until the server has said whether it is a cluster
	mu      sync.Mutex           // orders storing conn against Close
	closed  bool
	stream  string
	history int
	logger  *slog.Logger
	metrics *metrics.Metrics
	timeout time.Duration
}

// conn is the client chosen for the server.
type conn struct {
	redis.UniversalClient
	cluster *redis.ClusterClient // the same client, when the server is a cluster
}

// Options say where the stream is.
type Options struct {
	URL      string // redis:// or rediss:// (TLS); may carry credentials
	Username string // overrides the URL's, when set
	Password string // overrides the URL's, when set
	// Cluster says whether URL is a node of a Redis Cluster: "yes", "no",
	// or "auto" (or empty) to ask the server on first use.
	Cluster string
	Stream  string
	History int // entries kept in the stream, approximately
}

// NewRedis connects lazily to the server in o.
func NewRedis(o Options, logger *slog.Logger, m *metrics.Metrics) (*Redis, error) {
	if _, err := o.clientOptions(); err != nil {
		return nil, err
	}
	r := &Redis{
		opts:    o,
		stream:  o.Stream,
		history: o.History,
		logger:  logger.With("broker", "redis", "stream", o.Stream),
		metrics: m,
		timeout: 3 * time.Second,
	}
	switch o.Cluster {
	case "", "auto":
		// Known once the server answers: NewRedis must not wait for it.
	case "yes", "no":
		c, err := o.newConn(o.Cluster == "yes")
		if err != nil {
			return nil, err
		}
		r.conn.Store(c)
	default:
		return nil, fmt.Errorf("REDIS_CLUSTER %q: want auto, yes or no", o.Cluster)
	}
	return r, nil
}

// clientOptions turns the URL and credentials into a fresh copy of a
// single-server client's options: go-redis keeps and adjusts what it is
// given, so no two clients share one.
func (o Options) clientOptions() (*redis.Options, error) {
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
	return opt, nil
}

// newConn makes the client for a single server or for a cluster. A
// cluster client takes the URL's host as its seed: it learns the other
// nodes, and which slots each serves, from CLUSTER SLOTS, and follows
// MOVED when a slot has moved since.
func (o Options) newConn(cluster bool) (*conn, error) {
	opt, err := o.clientOptions()
	if err != nil {
		return nil, err
	}
	if !cluster {
		return &conn{UniversalClient: redis.NewClient(opt)}, nil
	}
	switch {
	case opt.Network == "unix":
		return nil, errors.New("REDIS_URL: a Redis Cluster is reached over TCP, not a Unix socket")
	case opt.DB != 0:
		return nil, fmt.Errorf("REDIS_URL: selects database %d, but a Redis Cluster has only database 0", opt.DB)
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:      []string{opt.Addr},
		ClientName: opt.ClientName,
		Protocol:   opt.Protocol,
		Username:   opt.Username,
		Password:   opt.Password,
		// Every node is verified against the URL's host name, as with
		// go-redis's own ParseClusterURL: ElastiCache Serverless gives its
		// one endpoint as the address of every slot.
		TLSConfig:             opt.TLSConfig,
		DialTimeout:           opt.DialTimeout,
		ReadTimeout:           opt.ReadTimeout,
		WriteTimeout:          opt.WriteTimeout,
		ContextTimeoutEnabled: opt.ContextTimeoutEnabled,
		MaxRetries:            opt.MaxRetries,
		PoolFIFO:              opt.PoolFIFO,
		PoolSize:              opt.PoolSize,
		PoolTimeout:           opt.PoolTimeout,
		MinIdleConns:          opt.MinIdleConns,
		MaxIdleConns:          opt.MaxIdleConns,
		MaxActiveConns:        opt.MaxActiveConns,
		ConnMaxIdleTime:       opt.ConnMaxIdleTime,
		ConnMaxLifetime:       opt.ConnMaxLifetime,
	})
	return &conn{UniversalClient: c, cluster: c}, nil
}

// client returns the client for the server. With Cluster "auto" the first
// call asks the server what it is; until one has had an answer every call
// asks, so a server that is down at start is asked again on the next try.
func (r *Redis) client(ctx context.Context) (*conn, error) {
	if c := r.conn.Load(); c != nil {
		return c, nil
	}
	opt, err := r.opts.clientOptions()
	if err != nil {
		return nil, err
	}
	probe := redis.NewClient(opt)
	cluster, err := isCluster(ctx, probe)
	var c *conn
	switch {
	case err != nil:
		probe.Close()
		return nil, err
	case cluster:
		probe.Close()
		if c, err = r.opts.newConn(true); err != nil {
			return nil, err
		}
	default:
		// The probe is the very client a single server needs.
		c = &conn{UniversalClient: probe}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		c.Close()
		return nil, redis.ErrClosed
	}
	if won := r.conn.Load(); won != nil {
		c.Close()
		return won, nil
	}
	r.conn.Store(c)
	r.logger.Info("asked the broker whether it is a cluster", "cluster", cluster)
	return c, nil
}

// Client returns the broker's Redis client, a cluster client when the
// server is one, for other state that tasks share through the same server.
func (r *Redis) Client(ctx context.Context) (redis.UniversalClient, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, err
	}
	return c.UniversalClient, nil
}

// isCluster asks the server whether it runs in cluster mode. It asks with
// CLUSTER SLOTS, which a cluster client needs anyway to find the nodes, so
// a least-privilege ACL user needs no extra permission for the question.
// A server without cluster support refuses it with "ERR This instance has
// cluster support disabled"; one that does not know the command (a proxy)
// is no cluster either.
func isCluster(ctx context.Context, c *redis.Client) (bool, error) {
	// Sent as a raw command: go-redis marks ClusterSlots deprecated in
	// favour of CLUSTER SHARDS, but its cluster client itself still asks
	// CLUSTER SLOTS, so that stays the one cluster permission the ACL user
	// needs.
	err := c.Do(ctx, "CLUSTER", "SLOTS").Err()
	switch {
	case err == nil:
		return true, nil
	case strings.Contains(err.Error(), "cluster support disabled"), strings.HasPrefix(err.Error(), "ERR unknown command"):
		return false, nil
	case strings.HasPrefix(err.Error(), "NOPERM"):
		return false, fmt.Errorf("ask whether the broker is a cluster (REDIS_CLUSTER=auto): the ACL user needs CLUSTER SLOTS, as a cluster client does: %w", err)
	default:
		return false, fmt.Errorf("ask whether the broker is a cluster (REDIS_CLUSTER=auto): %w", err)
	}
}

// Close releases the connections.
func (r *Redis) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if c := r.conn.Load(); c != nil {
		return c.Close()
	}
	return nil
}

// Publish adds payload to the stream. A nil error means Redis has the
// message and every process will deliver it; an error means it was not
// acknowledged (if Redis took it just before failing, it may still be
// delivered).
func (r *Redis) Publish(ctx context.Context, payload json.RawMessage) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	c, err := r.client(ctx)
	if err == nil {
		err = c.XAdd(ctx, &redis.XAddArgs{
			Stream: r.stream,
			MaxLen: int64(r.history),
			Approx: true,
			Values: []any{field, []byte(payload)},
		}).Err()
		if err != nil {
			c.failed()
		}
	}
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
	c, err := r.client(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("load history: %w", err)
	}
	var floor uint64
	info, err := c.XInfoStream(ctx, r.stream).Result()
	switch {
	case err != nil && strings.Contains(err.Error(), "no such key"):
		// A new stream: nothing was ever lost.
	case err != nil:
		c.failed()
		return nil, "", fmt.Errorf("load history: %w", err)
	default:
		if floor, err = EncodeStreamID(info.MaxDeletedEntryID); err != nil {
			return nil, "", fmt.Errorf("load history: %w", err)
		}
	}
	// One more than fits: the extra, oldest entry is the floor, everything
	// after it is in the log.
	msgs, err := c.XRevRangeN(ctx, r.stream, "+", "-", int64(capacity)+1).Result()
	if err != nil {
		c.failed()
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
		streams, err := r.read(rctx, last, block)
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

// read waits up to block for entries after ID last. On a cluster the
// blocking read goes to the node that serves the stream's slot.
func (r *Redis) read(ctx context.Context, last string, block time.Duration) ([]redis.XStream, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, err
	}
	streams, err := c.XRead(ctx, &redis.XReadArgs{
		Streams: []string{r.stream, last},
		Count:   512,
		Block:   block,
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		c.failed()
	}
	return streams, err
}

// failed follows a failed command. A slot that moved answers MOVED, which
// go-redis follows and learns from; but a node that is gone (failed over,
// replaced) answers nothing, and the cluster client would keep dialling
// its old address until its periodic reload, a minute later. So every
// failure asks the cluster for its slots again, in the background, and the
// next try, after the caller's backoff, finds the slot's new node.
func (c *conn) failed() {
	if c.cluster != nil {
		c.cluster.ReloadState(context.Background())
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
