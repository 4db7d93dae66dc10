package loadgen

import (
	"context"
	"sync"
	"time"
)

// errorBackoff keeps a worker whose connects fail at once (server down,
// no free ports) from spinning and flooding the error counts.
const errorBackoff = 10 * time.Millisecond

// churn runs Workers loops of connect, greeting, close for Duration. It uses
// the lean client of rawdial.go rather than coder/websocket, so that one
// generator core can outpace the server it measures.
func (r *runner) churn(ctx context.Context, res *Result) error {
	rd, err := newRawDialer(r.cfg)
	if err != nil {
		return err
	}
	before, sampled := r.sample()
	genBefore := markSelf()
	r.m.setPhase("churn", r.cfg.Duration)
	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, r.cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < r.cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cw := rd.newWorker(runCtx)
			defer cw.stop()
			for runCtx.Err() == nil {
				if !r.churnCycle(cw, w) {
					sleep(runCtx, errorBackoff)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	res.Generator = newGeneratorUsage(genBefore, markSelf())
	res.ElapsedSec = elapsed.Seconds()
	lifecycles := r.m.Connects.Load()
	res.ConnectsPerSec = float64(lifecycles) / elapsed.Seconds()
	if after, ok := r.sample(); ok && sampled {
		res.Server = newServerUsage(r.cfg.PID, before, after)
		// A worker closes each connect it counts, and waits for the
		// server's close frame, before it dials again (churnCycle): every
		// connect counted is a whole lifecycle.
		res.Server.perConn(lifecycles)
	}
	return nil
}

// churnCycle connects, counts the connect as runner.connect does, and
// closes; it reports whether the connect succeeded.
func (r *runner) churnCycle(cw *rawWorker, shard int) bool {
	took, err := cw.connect()
	if !r.counted(shard, took, err) {
		return false
	}
	cw.closeConn()
	r.m.Open.Add(-1)
	return true
}
