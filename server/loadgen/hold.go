package loadgen

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// hold ramps Conns idle connections at Rate per second, waits Settle, then
// keeps them for Duration. With a pid, the server's memory is sampled
// before the ramp and after the settle, and divided by the connections held.
// The host's kernel socket counters are read at the same moments, pid or
// not: the sockets' own memory is the kernel's, in no process's RSS.
func (r *runner) hold(ctx context.Context, res *Result) error {
	var set connSet
	var stopping atomic.Bool
	kernelBefore := r.kernelSample()
	before, sampled := r.sample()

	r.m.setPhase("ramp", time.Duration(float64(r.cfg.Conns)/r.cfg.Rate*float64(time.Second)))
	r.ramp(ctx, r.cfg.Conns, r.cfg.Rate, func(i int, c *websocket.Conn) {
		set.add(i, c)
		set.wg.Add(1)
		go func() {
			defer set.wg.Done()
			// Reading keeps the connection answering the server's pings; an
			// idle client sees no data frames unless someone broadcasts.
			rd := reader{c: c}
			for {
				if _, err := rd.next(context.Background()); err != nil {
					r.readFailed(stopping.Load(), err)
					break
				}
			}
			r.m.Open.Add(-1)
			set.remove(i)
			c.CloseNow()
		}()
	})

	r.m.setPhase("settle", r.cfg.Settle)
	sleep(ctx, r.cfg.Settle)
	res.Held = r.m.Open.Load()
	kernelAfter := r.kernelSample()
	var after ProcSample
	if sampled {
		after, sampled = r.sample()
	}

	r.m.setPhase("hold", r.cfg.Duration)
	genBefore := markSelf()
	start := time.Now()
	sleep(ctx, r.cfg.Duration)
	res.ElapsedSec = time.Since(start).Seconds()
	res.HeldAtEnd = r.m.Open.Load()
	res.Generator = newGeneratorUsage(genBefore, markSelf())

	r.m.setPhase("close", 0)
	stopping.Store(true)
	set.closeAll()

	r.kernelSockets(res, kernelBefore, kernelAfter)
	if sampled {
		res.Server = newServerUsage(r.cfg.PID, before, after)
		if res.Held > 0 {
			res.Server.KiBPerConn = float64(res.Server.RSSDeltaKiB) / float64(res.Held)
		}
	}
	return nil
}
