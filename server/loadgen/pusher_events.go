package loadgen

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsfargate/websocket-service/server/pusher/auth"
)

// pusherChannelName is the name of channel i of a run: public, and unique
// to the run so that runs against one server do not meet.
func (r *runner) pusherChannelName(prefix string, i int) string {
	return prefix + "lg-" + r.runID + "-" + strconv.Itoa(i)
}

// pusherEvents is pusher-fanout and pusher-channels: Conns subscribers
// spread over Channels public channels (subscriber i on channel i mod
// Channels), and publishers that trigger events through the HTTP API at
// Rate channel events a second for Duration, Batch channels to a request,
// then up to Drain for deliveries still on their way. Each subscriber
// checks the sequence numbers of its channel and records send-to-receive
// latency, as fanout does.
func (r *runner) pusherEvents(ctx context.Context, res *Result) error {
	cfg := r.cfg
	_, apiBase, _ := cfg.pusherURLs()
	names := make([]string, cfg.Channels)
	for i := range names {
		names[i] = r.pusherChannelName("", i)
	}
	var set connSet
	var stopping atomic.Bool
	lat, subLat := newLatencyRecorder(), newLatencyRecorder()
	var delivered, outOfOrder atomic.Int64
	subs := make([]atomic.Int64, cfg.Channels) // confirmed subscribers per channel
	pubSrc := r.runID + "-pub"

	r.m.setPhase("ramp", rampDuration(cfg.Conns, cfg.RampRate))
	r.rampWith(ctx, cfg.Conns, cfg.RampRate, func(ctx context.Context, i int) {
		ch := i % cfg.Channels
		p := r.pusherConnect(ctx, i, names[ch], "", "", subLat)
		if p == nil {
			return
		}
		subs[ch].Add(1)
		set.add(i, p.c)
		set.wg.Add(1)
		go func() {
			defer set.wg.Done()
			last := int64(-1)
			for {
				msg, err := p.rd.next(context.Background())
				if err != nil {
					r.readFailed(stopping.Load(), err)
					break
				}
				now := time.Now()
				d, got, err := decodePusherEvent(msg)
				var pe *pusherError
				switch {
				case errors.As(err, &pe):
					r.fail(pe.kind)
					continue
				case err != nil: // pusher:ping and the like, or not JSON at all
					if !errors.Is(err, errNotProbe) {
						r.fail(KindProtocol)
					}
					continue
				case d.src != pubSrc:
					continue
				case string(got) != names[ch]: // compared without a copy
					r.fail(KindWrongChannel)
					continue
				}
				if d.seq <= last {
					outOfOrder.Add(1)
					continue
				}
				last = d.seq
				delivered.Add(1)
				r.m.Delivered.Add(1)
				lat.record(i, now.Sub(time.Unix(0, d.ts)))
			}
			r.m.Open.Add(-1)
			set.remove(i)
			p.c.CloseNow()
		}()
	})
	var subscribed int64
	for i := range subs {
		subscribed += subs[i].Load()
	}
	res.Subscribed = subscribed
	sleep(ctx, registerGrace)

	// Channels go to requests in groups of Batch; group g is always
	// published by publisher g mod Publishers, so each channel's events
	// leave one after another, in order.
	var groups [][]string
	for i := 0; i < len(names); i += cfg.Batch {
		groups = append(groups, names[i:min(i+cfg.Batch, len(names))])
	}
	groupSubs := make([]int64, len(groups))
	for g := range groups {
		for j := range groups[g] {
			groupSubs[g] += subs[g*cfg.Batch+j].Load()
		}
	}
	api := newAPIClient(cfg, apiBase, cfg.Publishers)
	apiLat := newLatencyRecorder()
	sentPerGroup := make([]atomic.Int64, len(groups))
	var requests atomic.Int64

	r.warmAPI(ctx, api, groups, cfg.Publishers)

	before, sampled := r.sample()
	genBefore := markSelf()
	r.m.setPhase("publish", cfg.Duration)
	start := time.Now()
	r.triggerLoop(ctx, api, groups, pubSrc, start, func(g int, took time.Duration) {
		sentPerGroup[g].Add(1)
		requests.Add(1)
		r.m.Sent.Add(int64(len(groups[g])))
		apiLat.record(g, took)
	})
	res.ElapsedSec = time.Since(start).Seconds()

	var expected, sent int64
	for g := range groups {
		n := sentPerGroup[g].Load()
		sent += n * int64(len(groups[g]))
		expected += n * groupSubs[g]
	}
	r.m.setPhase("drain", cfg.Drain)
	drainEnd := time.Now().Add(cfg.Drain)
	for delivered.Load() < expected && time.Now().Before(drainEnd) {
		time.Sleep(10 * time.Millisecond)
	}
	after, ok := r.sample()
	res.Generator = newGeneratorUsage(genBefore, markSelf())
	sampled = sampled && ok

	r.m.setPhase("close", 0)
	stopping.Store(true)
	set.closeAll()

	res.Sent = sent
	res.APIRequests = requests.Load()
	res.Expected = expected
	res.Delivered = delivered.Load()
	res.Lost = max(expected-res.Delivered, 0)
	res.OutOfOrder = outOfOrder.Load()
	if expected > 0 {
		res.DeliveredRatio = float64(res.Delivered) / float64(expected)
	}
	if res.ElapsedSec > 0 {
		res.DeliveredPerSec = float64(res.Delivered) / res.ElapsedSec
		res.EventsPerSec = float64(sent) / res.ElapsedSec
		res.APIRequestsPerSec = float64(res.APIRequests) / res.ElapsedSec
	}
	res.Latency = lat.summary()
	res.SubscribeLatency = subLat.summary()
	res.APILatency = apiLat.summary()
	if sampled {
		res.Server = newServerUsage(cfg.PID, before, after)
		res.Server.perDelivery(res.Delivered)
		res.Server.perEvent(sent)
	}
	return nil
}

// triggerLoop sends, from start for Duration, one API request per group
// in turn at Rate/Batch requests a second: each triggers the event on the
// group's channels with a fresh probe. Sends follow a fixed schedule, so
// a slow server cannot quietly lower the offered load; a publisher that
// is behind queues its requests. ok is called for each request answered
// with 200, with its round trip.
func (r *runner) triggerLoop(ctx context.Context, api *apiClient, groups [][]string, src string, start time.Time, ok func(g int, took time.Duration)) {
	cfg := r.cfg
	interval := time.Duration(float64(cfg.Batch) / cfg.Rate * float64(time.Second))
	end := start.Add(cfg.Duration)
	pad := strings.Repeat("x", cfg.PayloadBytes)
	queues := make([]chan int, min(cfg.Publishers, len(groups)))
	var wg sync.WaitGroup
	for w := range queues {
		queues[w] = make(chan int, 4096)
		wg.Add(1)
		go func() {
			defer wg.Done()
			seqs := make(map[int]int64) // per group: only this publisher sends it
			var probe, body []byte
			for g := range queues[w] {
				sentAt := time.Now()
				probe = encodeProbe(probe, src, seqs[g], sentAt, pad)
				body = appendTrigger(body[:0], groups[g], probe)
				// The sequence moves on even when the request fails: the
				// server may have published it before the answer was lost.
				seqs[g]++
				status, _, err := api.do(ctx, "POST", "/events", nil, body)
				if status != 200 || err != nil {
					if ctx.Err() == nil {
						r.fail(apiKind(status, err))
					}
					continue
				}
				ok(g, time.Since(sentAt))
			}
		}()
	}
	t := time.NewTimer(0)
	defer t.Stop()
	g := 0
	for next := start; next.Before(end); next = next.Add(interval) {
		t.Reset(time.Until(next))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
		queues[g%len(queues)] <- g
		g = (g + 1) % len(groups)
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
}

// warmAPI opens the publishers' kept-alive connections before the
// measured phase, as the seed's fanout opens its publisher's WebSocket
// first, so that no measured event pays for a TCP handshake. The warm-up
// events carry a source the subscribers pass over.
func (r *runner) warmAPI(ctx context.Context, api *apiClient, groups [][]string, publishers int) {
	var wg sync.WaitGroup
	for w := range min(publishers, len(groups)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			probe := encodeProbe(nil, r.runID+"-warm", 0, time.Now(), "")
			if status, _, err := api.do(ctx, "POST", "/events", nil, appendTrigger(nil, groups[w], probe)); (status != 200 || err != nil) && ctx.Err() == nil {
				r.fail(apiKind(status, err))
			}
		}()
	}
	wg.Wait()
}

// pusherConnect opens connection i and subscribes it to channel, signing
// with the app secret when channelData or a private or presence name asks
// for it; the subscribe's round trip goes to subLat. It returns nil after
// counting a failure, or when ctx is done.
func (r *runner) pusherConnect(ctx context.Context, i int, channel, userID, userInfo string, subLat *latencyRecorder) *pconn {
	c, id := r.connectID(ctx, i)
	if c == nil {
		return nil
	}
	p := &pconn{c: c, socketID: id, rd: reader{c: c}}
	authSig, channelData := r.channelAuth(id, channel, userID, userInfo)
	start := time.Now()
	if err := p.subscribe(ctx, r.cfg.DialTimeout, channel, authSig, channelData); err != nil {
		c.CloseNow()
		r.m.Open.Add(-1)
		if ctx.Err() == nil {
			r.fail(subscribeKind(err, false))
		}
		return nil
	}
	subLat.record(i, time.Since(start))
	return p
}

// channelAuth returns the auth and channel_data of a subscription of
// socketID to channel: none for a public channel, the signature for a
// private one, and the signed member for a presence one.
func (r *runner) channelAuth(socketID, channel, userID, userInfo string) (authSig, channelData string) {
	switch {
	case strings.HasPrefix(channel, "presence-"):
		channelData = presenceData(userID, userInfo)
	case strings.HasPrefix(channel, "private-"):
	default:
		return "", ""
	}
	return r.cfg.AppKey + ":" + auth.SignChannel(r.cfg.AppSecret, socketID, channel, channelData), channelData
}

// presenceData is a presence subscription's channel_data; userInfo is a
// JSON object, or "" for none.
func presenceData(userID, userInfo string) string {
	b := append([]byte(`{"user_id":`), appendJSONString(nil, userID)...)
	if userInfo != "" {
		b = append(append(b, `,"user_info":`...), userInfo...)
	}
	return string(append(b, '}'))
}

// rampDuration is how long connecting n at perSec takes; 0 when unpaced.
func rampDuration(n int, perSec float64) time.Duration {
	if perSec <= 0 {
		return 0
	}
	return time.Duration(float64(n) / perSec * float64(time.Second))
}
