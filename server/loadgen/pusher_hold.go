package loadgen

import (
	"context"
	"sync/atomic"
	"time"
)

// pusherHold ramps Conns Pusher connections at Rate per second, each
// subscribed to one public channel (connection i to channel i mod
// Channels), waits Settle, then keeps them for Duration. With a pid, the
// server's memory is sampled before the ramp and after the settle and
// divided by the connections held: what an idle subscribed connection
// costs, its share of its channel included. The host's kernel socket
// counters are read at the same moments, as in hold.
func (r *runner) pusherHold(ctx context.Context, res *Result) error {
	cfg := r.cfg
	var set connSet
	var stopping atomic.Bool
	var subscribed atomic.Int64
	subLat := newLatencyRecorder()
	kernelBefore := r.kernelSample()
	before, sampled := r.sample()

	r.m.setPhase("ramp", rampDuration(cfg.Conns, cfg.Rate))
	r.rampWith(ctx, cfg.Conns, cfg.Rate, func(ctx context.Context, i int) {
		p := r.pusherConnect(ctx, i, r.pusherChannelName("", i%cfg.Channels), "", "", subLat)
		if p == nil {
			return
		}
		subscribed.Add(1)
		set.add(i, p.c)
		set.wg.Add(1)
		go func() {
			defer set.wg.Done()
			// Reading answers the server's pings; an idle subscriber sees
			// a pusher:ping now and then and nothing else.
			for {
				if _, err := p.rd.next(context.Background()); err != nil {
					r.readFailed(stopping.Load(), err)
					break
				}
			}
			r.m.Open.Add(-1)
			set.remove(i)
			p.c.CloseNow()
		}()
	})

	r.m.setPhase("settle", cfg.Settle)
	sleep(ctx, cfg.Settle)
	res.Held = r.m.Open.Load()
	res.Subscribed = subscribed.Load()
	kernelAfter := r.kernelSample()
	var after ProcSample
	if sampled {
		after, sampled = r.sample()
	}

	r.m.setPhase("hold", cfg.Duration)
	genBefore := markSelf()
	start := time.Now()
	sleep(ctx, cfg.Duration)
	res.ElapsedSec = time.Since(start).Seconds()
	res.HeldAtEnd = r.m.Open.Load()
	res.Generator = newGeneratorUsage(genBefore, markSelf())

	r.m.setPhase("close", 0)
	stopping.Store(true)
	set.closeAll()

	res.SubscribeLatency = subLat.summary()
	r.kernelSockets(res, kernelBefore, kernelAfter)
	if sampled {
		res.Server = newServerUsage(cfg.PID, before, after)
		if res.Held > 0 {
			res.Server.KiBPerConn = float64(res.Server.RSSDeltaKiB) / float64(res.Held)
		}
	}
	return nil
}
