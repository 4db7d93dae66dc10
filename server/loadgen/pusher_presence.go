package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

// presenceTally counts one presence channel's traffic.
type presenceTally struct {
	joins, leaves  atomic.Int64 // confirmed by the churners of the channel
	added, removed atomic.Int64 // member_added and member_removed its observer saw
	observed       atomic.Bool  // the observer is subscribed
	_              [24]byte     // keep channels' counters apart
}

// pusherPresence spreads Conns connections over Channels presence
// channels; each channel also has one observer, a member for the whole
// run. For Duration every connection joins its channel (a signed
// subscribe whose user_info carries the send time) and leaves it again,
// in a closed loop, or at Rate joins a second over all of them. It
// measures joins and leaves per second, the join round trip
// (subscription_succeeded), how long member_added takes to reach the
// observer, and at the end that presence converged: each observer saw one
// member_added per join and one member_removed per leave, and the HTTP API
// counts the observer alone in each channel.
func (r *runner) pusherPresence(ctx context.Context, res *Result) error {
	cfg := r.cfg
	_, apiBase, _ := cfg.pusherURLs()
	names := make([]string, cfg.Channels)
	for i := range names {
		names[i] = r.pusherChannelName("presence-", i)
	}
	tallies := make([]presenceTally, cfg.Channels)
	var set connSet
	var stopping atomic.Bool
	joinLat, notifyLat, obsLat := newLatencyRecorder(), newLatencyRecorder(), newLatencyRecorder()

	// Observers, one per channel; connection ids past the churners'.
	r.m.setPhase("observers", rampDuration(cfg.Channels, cfg.RampRate))
	r.rampWith(ctx, cfg.Channels, cfg.RampRate, func(ctx context.Context, ch int) {
		id := cfg.Conns + ch
		p := r.pusherConnect(ctx, id, names[ch], "obs-"+strconv.Itoa(ch), "", obsLat)
		if p == nil {
			return
		}
		t := &tallies[ch]
		t.observed.Store(true)
		set.add(id, p.c)
		set.wg.Add(1)
		go func() {
			defer set.wg.Done()
			for {
				msg, err := p.rd.next(context.Background())
				if err != nil {
					r.readFailed(stopping.Load(), err)
					break
				}
				now := time.Now()
				ev, ok := parseMemberEvent(msg)
				switch {
				case !ok:
					if err := frameError(msg); err != nil {
						r.fail(err.kind)
					}
					continue
				case !bytes.HasPrefix(ev.userID, []byte("u-")):
					continue
				case ev.added:
					t.added.Add(1)
					if ev.ts > 0 {
						notifyLat.record(ch, now.Sub(time.Unix(0, ev.ts)))
					}
				default:
					t.removed.Add(1)
				}
				r.m.Delivered.Add(1)
			}
			r.m.Open.Add(-1)
			set.remove(id)
			p.c.CloseNow()
		}()
	})

	// Churners: connected, not yet subscribed.
	churners := make([]*pconn, cfg.Conns)
	var mu sync.Mutex
	r.m.setPhase("ramp", rampDuration(cfg.Conns, cfg.RampRate))
	r.rampWith(ctx, cfg.Conns, cfg.RampRate, func(ctx context.Context, i int) {
		c, id := r.connectID(ctx, i)
		if c == nil {
			return
		}
		set.add(i, c)
		mu.Lock()
		churners[i] = &pconn{c: c, socketID: id, rd: reader{c: c}}
		mu.Unlock()
	})
	sleep(ctx, registerGrace)

	var lim *rate.Limiter
	if cfg.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(cfg.Rate), max(1, int(cfg.Rate/100)))
	}
	before, sampled := r.sample()
	genBefore := markSelf()
	r.m.setPhase("churn", cfg.Duration)
	start := time.Now()
	runCtx, cancel := context.WithDeadline(ctx, start.Add(cfg.Duration))
	defer cancel()
	var wg sync.WaitGroup
	var ended sync.WaitGroup
	for i, p := range churners {
		if p == nil {
			continue
		}
		wg.Add(1)
		ended.Add(1)
		go func() {
			defer wg.Done()
			r.churnPresence(runCtx, ctx, p, i, names[i%cfg.Channels], &tallies[i%cfg.Channels], lim, joinLat, ended.Done)
		}()
	}
	ended.Wait()
	res.ElapsedSec = time.Since(start).Seconds()
	wg.Wait() // each has confirmed its last leave

	var joins, leaves, expected int64
	for i := range tallies {
		t := &tallies[i]
		joins += t.joins.Load()
		leaves += t.leaves.Load()
		if t.observed.Load() {
			expected += t.joins.Load() + t.leaves.Load()
		}
	}
	seen := func() (n int64) {
		for i := range tallies {
			n += tallies[i].added.Load() + tallies[i].removed.Load()
		}
		return n
	}
	r.m.setPhase("drain", cfg.Drain)
	drainEnd := time.Now().Add(cfg.Drain)
	for seen() < expected && time.Now().Before(drainEnd) {
		time.Sleep(10 * time.Millisecond)
	}
	after, ok := r.sample()
	res.Generator = newGeneratorUsage(genBefore, markSelf())
	sampled = sampled && ok

	r.m.setPhase("check", 0)
	res.Unconverged = r.checkPresence(ctx, apiBase, names, tallies)

	r.m.setPhase("close", 0)
	stopping.Store(true)
	set.closeAll()
	for _, p := range churners {
		if p != nil {
			r.m.Open.Add(-1)
		}
	}

	res.Joins, res.Leaves = joins, leaves
	res.Sent = joins
	res.MemberEventsExpected = expected
	res.MemberEvents = seen()
	res.Delivered = res.MemberEvents
	if res.ElapsedSec > 0 {
		res.JoinsLeavesPerSec = float64(joins+leaves) / res.ElapsedSec
	}
	res.SubscribeLatency = joinLat.summary()
	res.Latency = notifyLat.summary()
	for i := range tallies {
		if tallies[i].observed.Load() {
			res.Subscribed++
		}
	}
	if sampled {
		res.Server = newServerUsage(cfg.PID, before, after)
		res.Server.perOp(joins + leaves)
	}
	return nil
}

// churnPresence is one churner: join, wait for subscription_succeeded,
// leave, until run ends; then it calls ended and confirms its last leave
// with a pusher:ping, which the server answers after everything sent
// before it. stop is the run's own context, cancelled only on an
// interrupt: coder/websocket closes a connection whose write or read
// context ends, so the deadline must not reach them.
func (r *runner) churnPresence(run, stop context.Context, p *pconn, i int, channel string, t *presenceTally, lim *rate.Limiter, joinLat *latencyRecorder, ended func()) {
	defer func() {
		if ended != nil {
			ended()
		}
	}()
	uid := "u-" + strconv.Itoa(i)
	var info []byte
	for run.Err() == nil {
		if lim != nil && lim.Wait(run) != nil {
			break
		}
		sentAt := time.Now()
		info = strconv.AppendInt(append(info[:0], `{"t":`...), sentAt.UnixNano(), 10)
		authSig, data := r.channelAuth(p.socketID, channel, uid, string(append(info, '}')))
		p.buf = appendSubscribe(p.buf[:0], channel, authSig, data)
		if err := p.c.Write(stop, websocket.MessageText, p.buf); err != nil {
			if stop.Err() == nil {
				r.fail(writeKind(err))
			}
			return
		}
		wait, cancel := context.WithTimeout(stop, r.cfg.EchoTimeout)
		err := p.awaitSubscribed(wait, channel)
		timedOut := wait.Err() != nil
		cancel()
		if err != nil {
			if stop.Err() == nil {
				r.fail(subscribeKind(err, timedOut))
			}
			return
		}
		joinLat.record(i, time.Since(sentAt))
		t.joins.Add(1)
		r.m.Sent.Add(1)
		p.buf = appendUnsubscribe(p.buf[:0], channel)
		if err := p.c.Write(stop, websocket.MessageText, p.buf); err != nil {
			if stop.Err() == nil {
				r.fail(writeKind(err))
			}
			return
		}
		t.leaves.Add(1)
	}
	ended()
	ended = nil
	if err := p.c.Write(stop, websocket.MessageText, pusherPing); err != nil {
		if stop.Err() == nil {
			r.fail(writeKind(err))
		}
		return
	}
	wait, cancel := context.WithTimeout(stop, r.cfg.EchoTimeout)
	defer cancel()
	for {
		msg, err := p.rd.next(wait)
		if err != nil {
			if stop.Err() == nil {
				r.fail(KindTimeoutPong)
			}
			return
		}
		if bytes.HasPrefix(msg, []byte(`{"event":"pusher:pong"`)) {
			return
		}
	}
}

// checkPresence asks the HTTP API for each channel's user and subscription
// counts, which must be the observer's alone once every churner has left,
// and compares what each observer saw with the joins and leaves of its
// channel. It returns the number of channels that did not converge.
func (r *runner) checkPresence(ctx context.Context, apiBase string, names []string, tallies []presenceTally) int64 {
	api := newAPIClient(r.cfg, apiBase, 1)
	var bad int64
	for i, name := range names {
		t := &tallies[i]
		want := 0
		if t.observed.Load() {
			want = 1
			if t.added.Load() != t.joins.Load() || t.removed.Load() != t.leaves.Load() {
				bad++
				r.fail(KindPresenceMismatch)
				continue
			}
		}
		q := url.Values{"info": {"user_count,subscription_count"}}
		status, body, err := api.do(ctx, "GET", "/channels/"+name, q, nil)
		if status != 200 || err != nil {
			if ctx.Err() == nil {
				r.fail(apiKind(status, err))
			}
			continue
		}
		var got struct {
			UserCount         int `json:"user_count"`
			SubscriptionCount int `json:"subscription_count"`
		}
		if json.Unmarshal(body, &got) != nil || got.UserCount != want || got.SubscriptionCount != want {
			bad++
			r.fail(KindPresenceMismatch)
		}
	}
	return bad
}

// memberEvent is a member_added or member_removed.
type memberEvent struct {
	added  bool
	userID []byte
	ts     int64 // user_info's "t", the join's send time; 0 when absent
}

var (
	memberAddedPrefix   = []byte(`{"event":"pusher_internal:member_added",`)
	memberRemovedPrefix = []byte(`{"event":"pusher_internal:member_removed",`)
)

// parseMemberEvent reads a member notice without reflection: the data is
// a JSON string holding {"user_id":...,"user_info":{"t":...}}, and the
// generator's user ids need no escapes.
func parseMemberEvent(msg []byte) (ev memberEvent, ok bool) {
	switch {
	case bytes.HasPrefix(msg, memberAddedPrefix):
		ev.added = true
	case bytes.HasPrefix(msg, memberRemovedPrefix):
	default:
		return ev, false
	}
	const idKey = `{\"user_id\":\"`
	i := bytes.Index(msg, []byte(idKey))
	if i < 0 {
		return ev, false
	}
	rest := msg[i+len(idKey):]
	j := bytes.IndexByte(rest, '\\')
	if j < 0 {
		return ev, false
	}
	ev.userID = rest[:j]
	if ev.added {
		if k := bytes.Index(rest, []byte(`\"t\":`)); k >= 0 {
			var ts int64
			if _, ok := cutInt(rest[k:], `\"t\":`, &ts); ok {
				ev.ts = ts
			}
		}
	}
	return ev, true
}
