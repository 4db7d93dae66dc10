package transport

import (
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/metrics"
	"github.com/wsfargate/websocket-service/server/source"
)

// sourceGate applies the per-source limits (SOURCE_*) to a request before
// any WebSocket or API work is done for it, and names the client for log
// lines: the viewer's address behind CloudFront, the peer's otherwise.
type sourceGate struct {
	lim              *source.Limiter
	behindCloudFront bool
	ipv6Prefix       int
	logger           *slog.Logger

	// Looked up once: a flood of refusals then costs an atomic add each.
	rejected    map[source.Reason]prometheus.Counter // upgrades
	apiRejected map[source.Reason]prometheus.Counter
	invalid     prometheus.Counter
	entries     prometheus.Gauge

	// A refused request is counted, never logged on its own: one line per
	// logEvery says how many went unlogged since the last.
	refusals, invalids sampler
}

// logEvery spaces the log lines about refusals and unusable headers.
const logEvery = 10 * time.Second

func newSourceGate(cfg *config.Config, m *metrics.Metrics, logger *slog.Logger) *sourceGate {
	g := &sourceGate{
		lim:              source.NewLimiter(source.LimitsOf(cfg), time.Now),
		behindCloudFront: cfg.BehindCloudFront,
		ipv6Prefix:       cfg.SourceIPv6Prefix,
		logger:           logger,
		rejected:         make(map[source.Reason]prometheus.Counter),
		apiRejected:      make(map[source.Reason]prometheus.Counter),
		invalid:          m.ViewerAddressInvalid,
		entries:          m.SourceEntries,
		refusals:         sampler{every: logEvery},
		invalids:         sampler{every: logEvery},
	}
	for _, r := range []source.Reason{source.ReasonConnections, source.ReasonConnectRate, source.ReasonTableFull} {
		g.rejected[r] = m.Rejected.WithLabelValues(string(r))
	}
	for _, r := range []source.Reason{source.ReasonAPIRate, source.ReasonTableFull} {
		g.apiRejected[r] = m.APIRejected.WithLabelValues(string(r))
	}
	return g
}

// admit counts a WebSocket upgrade against its source. When the source is
// over a limit, the request is answered with 429 and a Retry-After, and ok
// is false. Otherwise the caller goes on with the upgrade and must call
// release once the connection is over, or at once if the request goes no
// further; release may be called more than once. client is the client's
// address, for log lines.
func (g *sourceGate) admit(w http.ResponseWriter, r *http.Request) (client string, release func(), ok bool) {
	key, client := g.source(r)
	release, reason, retry := g.lim.AdmitConnection(key)
	g.entries.Set(float64(g.lim.Len()))
	if reason != "" {
		g.refuse(w, client, key, reason, retry, g.rejected[reason], true)
		return client, nil, false
	}
	return client, release, true
}

// admitAPI counts an HTTP API request against its source; over the limit
// the request is answered with 429 and a Retry-After, and ok is false.
func (g *sourceGate) admitAPI(w http.ResponseWriter, r *http.Request) (client string, ok bool) {
	key, client := g.source(r)
	reason, retry := g.lim.AdmitAPI(key)
	g.entries.Set(float64(g.lim.Len()))
	if reason != "" {
		g.refuse(w, client, key, reason, retry, g.apiRejected[reason], false)
		return client, false
	}
	return client, true
}

// source finds the request's source, counting a trusted header that
// cannot be used.
func (g *sourceGate) source(r *http.Request) (source.Key, string) {
	key, client, err := source.Of(r, g.behindCloudFront, g.ipv6Prefix)
	if err != nil {
		g.invalid.Inc()
		if unlogged, ok := g.invalids.pass(time.Now()); ok {
			// Every request failing this way means BEHIND_CLOUDFRONT is
			// set where no CloudFront adds the header.
			g.logger.Warn("client address header unusable; counting the request against the peer address",
				"err", err, "peer", client, "unlogged", unlogged)
		}
	}
	return key, client
}

// refuse counts the refusal and answers 429 with a Retry-After.
func (g *sourceGate) refuse(w http.ResponseWriter, client string, key source.Key, reason source.Reason, retry time.Duration, counter prometheus.Counter, upgrade bool) {
	counter.Inc()
	if unlogged, ok := g.refusals.pass(time.Now()); ok {
		what := "api"
		if upgrade {
			what = "upgrade"
		}
		g.logger.Warn("request refused by a per-source limit", "request", what, "client", client, "source", key.String(),
			"reason", string(reason), "retry_after", retry, "unlogged", unlogged)
	}
	w.Header().Set("Retry-After", retryAfter(retry))
	if upgrade {
		// As for the server's other refused upgrades: the client will
		// come back on a new connection, if at all.
		w.Header().Set("Connection", "close")
	}
	const msg = "too many requests from your address; retry later"
	if upgrade {
		http.Error(w, msg, http.StatusTooManyRequests)
		return
	}
	// The HTTP API answers JSON, refusals included.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write([]byte(`{"error":"` + msg + `"}` + "\n"))
}

// retryAfter is d in whole seconds, rounded up and at least 1: HTTP's
// Retry-After has no fractions, and 0 would invite the retry at once.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(max(1, int64((d+time.Second-1)/time.Second)), 10)
}

// sampler lets one event through per interval and counts the others.
type sampler struct {
	every   time.Duration
	next    atomic.Int64 // Unix ns from which the next event passes
	skipped atomic.Int64
}

// pass reports whether the event at now passes, and how many did not
// since the last that did.
func (s *sampler) pass(now time.Time) (skipped int64, ok bool) {
	t, next := now.UnixNano(), s.next.Load()
	if t < next || !s.next.CompareAndSwap(next, t+int64(s.every)) {
		s.skipped.Add(1)
		return 0, false
	}
	return s.skipped.Swap(0), true
}
