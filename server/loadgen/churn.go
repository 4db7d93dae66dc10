package loadgen

import (
	"context"
	"sync"
	"time"
)

// errorBackoff keeps a worker whose connects fail at once (server down,
// no free ports) from spinning and flooding the error counts.
const errorBackoff = 10 * time.Millisecond

// churn runs Workers loops of connect, greeting, close for Duration.
func (r *runner) churn(ctx context.Context, res *Result) error {
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
			for runCtx.Err() == nil {
				c := r.connect(runCtx, w)
				if c == nil {
					sleep(runCtx, errorBackoff)
					continue
				}
				closeGracefully(c)
				r.m.Open.Add(-1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	res.Generator = newGeneratorUsage(genBefore, markSelf())
	res.ElapsedSec = elapsed.Seconds()
	res.ConnectsPerSec = float64(r.m.Connects.Load()) / elapsed.Seconds()
	if after, ok := r.sample(); ok && sampled {
		res.Server = newServerUsage(r.cfg.PID, before, after)
	}
	return nil
}
