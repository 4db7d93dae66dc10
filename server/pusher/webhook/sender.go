package webhook

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults for the zero values of Config. They are exported so that a config
// table can show them from the code that uses them.
const (
	// DefaultBatchWait is Pusher's own batch window.
	DefaultBatchWait = 250 * time.Millisecond
	// DefaultMaxBatch is above Pusher's 20 events per POST: one Run goroutine
	// posts one batch at a time, so the batch size sets the throughput.
	DefaultMaxBatch = 100
	// DefaultMaxQueue holds a few seconds of a busy app's events.
	DefaultMaxQueue = 10_000
	// DefaultMaxQueueBytes bounds the queue when events are large client
	// events: 10,000 of 10 KB each would be 100 MB.
	DefaultMaxQueueBytes = 16 << 20
	// DefaultMaxAttempts counts the first try.
	DefaultMaxAttempts = 5
	// DefaultBackoffBase and DefaultBackoffMax keep a batch's retries within
	// about 15 seconds of waiting: Run posts one batch at a time, so a long
	// retry holds back every event behind it.
	DefaultBackoffBase = 500 * time.Millisecond
	DefaultBackoffMax  = 10 * time.Second
	// DefaultAttemptTimeout is a little over the 4 seconds Pusher gives a
	// receiver to answer, so a receiver that meets Pusher's contract meets ours.
	DefaultAttemptTimeout = 5 * time.Second
	// DefaultFlushTimeout bounds the last flush once Run's context ends; the
	// task has to exit before ECS's stop timeout.
	DefaultFlushTimeout = 3 * time.Second
)

// dropReportEvery spaces out the warning about dropped events: under overload
// there would otherwise be one line per event.
const dropReportEvery = 10 * time.Second

// Config configures a Sender. Zero durations and sizes take the defaults above.
type Config struct {
	// URL receives the POSTs; http or https.
	URL string
	// Key goes in X-Pusher-Key; Secret signs every body and is never logged.
	Key, Secret string
	// Events names the events to send (see Names); Enqueue ignores the rest.
	// Empty sends nothing, as an empty PUSHER_WEBHOOK_EVENTS means.
	Events []string
	// Client posts the webhooks. The default follows no redirects: a 301, 302
	// or 303 would turn the POST into a GET without the body, and a 200 to
	// that GET would look like a delivery.
	Client *http.Client

	// BatchWait is how long the first event of a batch waits for others.
	BatchWait time.Duration
	// MaxBatch is the most events in one POST.
	MaxBatch int
	// MaxQueue and MaxQueueBytes bound the events waiting to be sent; past
	// either, Enqueue drops the new event and counts it.
	MaxQueue      int
	MaxQueueBytes int64

	// MaxAttempts is how many times one batch is tried, the first included.
	// Network errors, 5xx and 429 are retried; any other status is final.
	MaxAttempts int
	// BackoffBase doubles after each failed try up to BackoffMax, with jitter.
	// A Retry-After from the receiver lengthens a wait, up to BackoffMax.
	BackoffBase, BackoffMax time.Duration
	// AttemptTimeout bounds one POST, response included.
	AttemptTimeout time.Duration
	// FlushTimeout bounds the work Run still does once its context ends.
	FlushTimeout time.Duration

	// Logger gets the sender's logs; nil discards them.
	Logger *slog.Logger
	// OnDropped counts events dropped without a try (queue full, or Run
	// stopped), OnSent events delivered with a 2xx, OnFailed events given up
	// on. OnDropped is called from Enqueue's callers, so all three must be
	// safe for concurrent use and quick; a Prometheus counter's Add is.
	OnDropped, OnSent, OnFailed func(n int)
}

// String leaves the secret out, so that printing a Config cannot leak it.
func (c Config) String() string {
	return fmt.Sprintf("webhook.Config{URL:%s Key:%s Secret:%s Events:%v}", redactURL(c.URL), c.Key, redacted(c.Secret), c.Events)
}

// GoString leaves the secret out of %#v too.
func (c Config) GoString() string { return c.String() }

// LogValue leaves the secret out when a Config is logged with slog.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", redactURL(c.URL)),
		slog.String("key", c.Key),
		slog.String("secret", redacted(c.Secret)),
		slog.Any("events", c.Events),
	)
}

func redacted(secret string) string {
	if secret == "" {
		return ""
	}
	return "REDACTED"
}

// redactURL keeps what identifies the receiver and drops what may carry a
// credential: user info and the query.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

func (c *Config) validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return errors.New("webhook: URL is empty")
	case err != nil:
		return fmt.Errorf("webhook: URL %s: %w", redactURL(c.URL), err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("webhook: URL %s: scheme must be http or https", redactURL(c.URL))
	case u.Host == "":
		return fmt.Errorf("webhook: URL %s: no host", redactURL(c.URL))
	case c.Key == "":
		return errors.New("webhook: Key is empty")
	case c.Secret == "":
		return errors.New("webhook: Secret is empty")
	}
	for _, name := range c.Events {
		if !slices.Contains(Names(), name) {
			return fmt.Errorf("webhook: unknown event %q; want some of %s", name, strings.Join(Names(), ", "))
		}
	}
	return nil
}

// Sender batches webhook events, signs each batch and POSTs it. Enqueue may
// be called from any goroutine; Run is the one goroutine that sends.
//
// A nil *Sender is valid and drops everything silently, so a server with
// webhooks off can hold a nil one.
type Sender struct {
	url, logURL string
	key         string
	secret      []byte
	client      *http.Client
	events      map[string]bool

	batchWait      time.Duration
	maxBatch       int
	maxQueueBytes  int64
	maxAttempts    int
	backoffBase    time.Duration
	backoffMax     time.Duration
	attemptTimeout time.Duration
	flushTimeout   time.Duration

	log                         *slog.Logger
	onDropped, onSent, onFailed func(int)

	err         error // from validating the Config; Run returns it
	queue       chan Event
	queuedBytes atomic.Int64
	dropped     atomic.Int64
	closed      atomic.Bool // Run has returned: nothing would send new events
	running     atomic.Bool
}

// New returns a Sender for cfg. A Config that cannot work (no URL, key or
// secret, an unknown event name) makes Run return the error and Enqueue a
// no-op.
func New(cfg Config) *Sender {
	s := &Sender{
		url:            cfg.URL,
		logURL:         redactURL(cfg.URL),
		key:            cfg.Key,
		secret:         []byte(cfg.Secret),
		client:         cfg.Client,
		batchWait:      orDefault(cfg.BatchWait, DefaultBatchWait),
		maxBatch:       orDefault(cfg.MaxBatch, DefaultMaxBatch),
		maxQueueBytes:  orDefault(cfg.MaxQueueBytes, DefaultMaxQueueBytes),
		maxAttempts:    orDefault(cfg.MaxAttempts, DefaultMaxAttempts),
		backoffBase:    orDefault(cfg.BackoffBase, DefaultBackoffBase),
		backoffMax:     orDefault(cfg.BackoffMax, DefaultBackoffMax),
		attemptTimeout: orDefault(cfg.AttemptTimeout, DefaultAttemptTimeout),
		flushTimeout:   orDefault(cfg.FlushTimeout, DefaultFlushTimeout),
		log:            cfg.Logger,
		onDropped:      orNop(cfg.OnDropped),
		onSent:         orNop(cfg.OnSent),
		onFailed:       orNop(cfg.OnFailed),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.client == nil {
		s.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	s.backoffMax = max(s.backoffMax, s.backoffBase)
	if s.err = cfg.validate(); s.err != nil {
		s.closed.Store(true)
		return s
	}
	s.events = make(map[string]bool, len(cfg.Events))
	for _, name := range cfg.Events {
		s.events[name] = true
	}
	s.queue = make(chan Event, orDefault(cfg.MaxQueue, DefaultMaxQueue))
	return s
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func orNop(f func(int)) func(int) {
	if f == nil {
		return func(int) {}
	}
	return f
}

// Enabled reports whether events named name are sent, so that a caller can
// skip building events nobody wants.
func (s *Sender) Enabled(name string) bool {
	return s != nil && s.events[name]
}

// Len is the number of events waiting to be sent.
func (s *Sender) Len() int {
	if s == nil {
		return 0
	}
	return len(s.queue)
}

// Enqueue queues e to be sent by Run. It never blocks: an event whose name is
// not in Config.Events is ignored, and one that does not fit in the queue, or
// comes after Run has returned, is dropped and counted with OnDropped.
func (s *Sender) Enqueue(e Event) {
	if !s.Enabled(e.Name) {
		return
	}
	if s.closed.Load() {
		s.drop(1)
		return
	}
	// Reserve the bytes first, so concurrent callers cannot overshoot.
	n := e.size()
	if s.queuedBytes.Add(n) > s.maxQueueBytes {
		s.queuedBytes.Add(-n)
		s.drop(1)
		return
	}
	select {
	case s.queue <- e:
	default:
		s.queuedBytes.Add(-n)
		s.drop(1)
	}
}

func (s *Sender) drop(n int) {
	s.dropped.Add(int64(n))
	s.onDropped(n)
}

// take moves e from the queue into batch.
func (s *Sender) take(batch []Event, e Event) []Event {
	s.queuedBytes.Add(-e.size())
	return append(batch, e)
}

// Run sends queued events until ctx ends, then sends what is still queued
// for at most Config.FlushTimeout and returns. A POST under way when ctx ends
// is not cut short, only bounded by the same deadline, so the receiver is not
// sent a batch twice for nothing. Run returns an error only for a Config that
// cannot work or a second call.
func (s *Sender) Run(ctx context.Context) error {
	if s == nil {
		return errors.New("webhook: Run on a nil Sender")
	}
	if s.err != nil {
		return s.err
	}
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("webhook: Run called twice")
	}

	// Posts use sendCtx, which outlives ctx by the flush timeout.
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	stopDeadline := context.AfterFunc(ctx, func() {
		t := time.NewTimer(s.flushTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancelSend()
		case <-sendCtx.Done():
		}
	})
	defer stopDeadline()

	s.log.Info("webhook sender started", "url", s.logURL, "batch_wait", s.batchWait, "max_batch", s.maxBatch, "max_queue", cap(s.queue))
	var st runStats
	batch := make([]Event, 0, s.maxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for ctx.Err() == nil {
		batch = s.collect(ctx, timer, batch[:0])
		if len(batch) > 0 {
			st.add(len(batch), s.deliver(ctx, sendCtx, batch))
		}
		s.reportDrops(&st, false)
	}

	// ctx has ended: send what is queued while the flush deadline lasts.
	for sendCtx.Err() == nil {
		batch = s.drain(batch[:0])
		if len(batch) == 0 {
			break
		}
		st.add(len(batch), s.deliver(ctx, sendCtx, batch))
	}
	// An Enqueue racing this Store can still slip one event into the queue
	// after the drain below; it is neither sent nor counted. Closing the
	// channel instead would make that Enqueue panic.
	s.closed.Store(true)
	if left := s.discard(); left > 0 {
		s.drop(left)
		s.log.Warn("webhook events left unsent at shutdown", "events", left, "flush_timeout", s.flushTimeout)
	}
	s.reportDrops(&st, true)
	s.log.Info("webhook sender stopped", "sent", st.sent, "failed", st.failed, "dropped", s.dropped.Load())
	return nil
}

type runStats struct {
	sent, failed int
	lastDropped  int64
	lastReport   time.Time
}

func (st *runStats) add(n int, delivered bool) {
	if delivered {
		st.sent += n
	} else {
		st.failed += n
	}
}

// reportDrops logs drops at most once per dropReportEvery, unless final.
func (s *Sender) reportDrops(st *runStats, final bool) {
	d := s.dropped.Load()
	if d == st.lastDropped || (!final && time.Since(st.lastReport) < dropReportEvery) {
		return
	}
	s.log.Warn("webhook events dropped: queue full or sender stopped", "dropped", d-st.lastDropped, "dropped_total", d, "queued", len(s.queue))
	st.lastDropped, st.lastReport = d, time.Now()
}

// collect waits for a first event, then gathers more until the batch is
// full, BatchWait has passed since the first, or ctx ends.
func (s *Sender) collect(ctx context.Context, timer *time.Timer, batch []Event) []Event {
	select {
	case e := <-s.queue:
		batch = s.take(batch, e)
	case <-ctx.Done():
		return batch
	}
	timer.Reset(s.batchWait)
	defer timer.Stop()
	for len(batch) < s.maxBatch {
		select {
		case e := <-s.queue:
			batch = s.take(batch, e)
		case <-timer.C:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

// drain takes up to MaxBatch queued events without waiting.
func (s *Sender) drain(batch []Event) []Event {
	for len(batch) < s.maxBatch {
		select {
		case e := <-s.queue:
			batch = s.take(batch, e)
		default:
			return batch
		}
	}
	return batch
}

// discard empties the queue and says how many events it held.
func (s *Sender) discard() int {
	n := 0
	for {
		select {
		case e := <-s.queue:
			s.queuedBytes.Add(-e.size())
			n++
		default:
			return n
		}
	}
}

// deliver POSTs one batch, retrying as Config says, and reports whether the
// receiver took it. Every event ends up counted by OnSent or OnFailed.
func (s *Sender) deliver(ctx, sendCtx context.Context, batch []Event) bool {
	n := len(batch)
	// time_ms is set once: retries resend the same bytes under the same signature.
	body, err := json.Marshal(Payload{TimeMS: time.Now().UnixMilli(), Events: batch})
	if err != nil {
		s.log.Error("webhook batch not sent: cannot encode it", "events", n, "err", err)
		s.onFailed(n)
		return false
	}
	sig := hex.EncodeToString(mac(s.secret, body))
	for attempt := 1; ; attempt++ {
		if sendCtx.Err() != nil {
			s.log.Error("webhook batch not sent: flush timeout passed", "url", s.logURL, "events", n, "attempts", attempt-1)
			s.onFailed(n)
			return false
		}
		r := s.post(sendCtx, body, sig)
		switch {
		case r.ok():
			s.log.Debug("webhook batch sent", "url", s.logURL, "events", n, "status", r.status, "attempts", attempt)
			s.onSent(n)
			return true
		case !r.retryable():
			s.log.Error("webhook batch rejected", "url", s.logURL, "events", n, "status", r.status, "err", r.err, "attempts", attempt)
			s.onFailed(n)
			return false
		case attempt >= s.maxAttempts:
			s.log.Error("webhook batch not sent: out of attempts", "url", s.logURL, "events", n, "status", r.status, "err", r.err, "attempts", attempt)
			s.onFailed(n)
			return false
		}
		wait := s.backoff(attempt, r.retryAfter)
		s.log.Warn("webhook POST failed; retrying", "url", s.logURL, "events", n, "status", r.status, "err", r.err, "attempt", attempt, "wait", wait)
		s.sleep(ctx, sendCtx, wait)
	}
}

// result is how one POST went: a status, or an error before any status.
type result struct {
	status     int
	retryAfter time.Duration
	err        error
	permanent  bool // err cannot go away by trying again
}

func (r result) ok() bool { return r.err == nil && r.status >= 200 && r.status < 300 }

func (r result) retryable() bool {
	if r.err != nil {
		return !r.permanent
	}
	return r.status == http.StatusTooManyRequests || r.status >= 500
}

func (s *Sender) post(ctx context.Context, body []byte, sig string) result {
	ctx, cancel := context.WithTimeout(ctx, s.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return result{err: fmt.Errorf("build webhook request: %w", err), permanent: true}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Pusher-Key", s.key)
	req.Header.Set("X-Pusher-Signature", sig)
	resp, err := s.client.Do(req)
	if err != nil {
		// A *url.Error repeats the whole URL, query included, where
		// receivers often keep a token; say where by the redacted URL.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return result{err: fmt.Errorf("post webhook to %s: %w", s.logURL, err)}
	}
	defer resp.Body.Close()
	// Read a little of the answer so the connection can be reused, but not
	// a huge one: the receiver is not trusted to be small.
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	return result{status: resp.StatusCode, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
}

// parseRetryAfter reads seconds or an HTTP date; zero when absent or invalid.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		return max(0, time.Duration(secs)*time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now))
	}
	return 0
}

// backoff is the wait after failed attempt number attempt (from 1): the
// base doubled per attempt up to the max, with half of it random so that the
// tasks of a cluster, all failing against the same receiver, spread their
// retries instead of returning together. A longer Retry-After wins, up to
// the max.
func (s *Sender) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := s.backoffBase
	for i := 1; i < attempt && d < s.backoffMax; i++ {
		d *= 2
	}
	d = min(d, s.backoffMax)
	half := d / 2
	d = half + rand.N(d-half+1)
	return min(max(d, retryAfter), s.backoffMax)
}

// sleep waits d. The end of ctx cuts one wait short, so that the last try
// happens within the flush deadline rather than after it.
func (s *Sender) sleep(ctx, sendCtx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	var shutdown <-chan struct{}
	if ctx.Err() == nil {
		shutdown = ctx.Done()
	}
	select {
	case <-t.C:
	case <-shutdown:
	case <-sendCtx.Done():
	}
}
