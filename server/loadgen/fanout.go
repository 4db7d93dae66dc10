package loadgen

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// registerGrace is the pause between the last subscriber's greeting and the
// first publish.
const registerGrace = 200 * time.Millisecond

// fanout connects Conns subscribers and one publisher, publishes Rate
// messages a second for Duration, then waits up to Drain for deliveries
// still on their way. Each subscriber checks the sequence numbers and
// records send-to-receive latency.
func (r *runner) fanout(ctx context.Context, res *Result) error {
	var set connSet
	var stopping atomic.Bool
	lat := newLatencyRecorder()
	var delivered, outOfOrder atomic.Int64
	pubSrc := r.runID + "-pub"

	subscribe := func(i int, c *websocket.Conn) {
		set.add(i, c)
		set.wg.Add(1)
		go func() {
			defer set.wg.Done()
			rd := reader{c: c}
			last := int64(-1)
			for {
				msg, err := rd.next(context.Background())
				if err != nil {
					r.readFailed(stopping.Load(), err)
					break
				}
				now := time.Now()
				d, err := decodeFrame(msg)
				var se *serverError
				switch {
				case errors.As(err, &se):
					r.fail(se.kind())
					continue
				case err != nil: // another client's message, or not JSON at all
					if !errors.Is(err, errNotProbe) {
						r.fail(KindProtocol)
					}
					continue
				case d.src != pubSrc:
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
			c.CloseNow()
		}()
	}
	var rampFor time.Duration
	if r.cfg.RampRate > 0 {
		rampFor = time.Duration(float64(r.cfg.Conns) / r.cfg.RampRate * float64(time.Second))
	}
	r.m.setPhase("ramp", rampFor)
	r.ramp(ctx, r.cfg.Conns, r.cfg.RampRate, subscribe)
	subs := r.m.Open.Load()
	// A server may add a client to its broadcast set just after it sent the
	// greeting; give the last ones a moment so they are not counted as loss.
	sleep(ctx, registerGrace)

	// The publisher is a client too: the server echoes its messages back to
	// it, so it drains its socket and ignores them.
	pub := r.connect(ctx, -1)
	if pub == nil {
		stopping.Store(true)
		set.closeAll()
		return nil
	}
	pubID := -1
	set.add(pubID, pub)
	set.wg.Add(1)
	go func() {
		defer set.wg.Done()
		rd := reader{c: pub}
		for {
			msg, err := rd.next(context.Background())
			if err != nil {
				r.readFailed(stopping.Load(), err)
				break
			}
			var se *serverError
			if _, err := decodeFrame(msg); errors.As(err, &se) {
				r.fail(se.kind())
			}
		}
		r.m.Open.Add(-1)
		set.remove(pubID)
		pub.CloseNow()
	}()

	before, sampled := r.sample()
	genBefore := markSelf()
	r.m.setPhase("publish", r.cfg.Duration)
	start := time.Now()
	sent := r.publish(ctx, pub, pubSrc, start)
	res.ElapsedSec = time.Since(start).Seconds()

	// Drain ignores ctx: an interrupted run still gives in-flight messages
	// their chance, bounded by Drain.
	expected := sent * subs
	r.m.setPhase("drain", r.cfg.Drain)
	drainEnd := time.Now().Add(r.cfg.Drain)
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
	res.Expected = expected
	res.Delivered = delivered.Load()
	res.Lost = max(expected-res.Delivered, 0)
	res.OutOfOrder = outOfOrder.Load()
	if expected > 0 {
		res.DeliveredRatio = float64(res.Delivered) / float64(expected)
	}
	if res.ElapsedSec > 0 {
		res.DeliveredPerSec = float64(res.Delivered) / res.ElapsedSec
	}
	res.Latency = lat.summary()
	if sampled {
		res.Server = newServerUsage(r.cfg.PID, before, after)
		res.Server.perDelivery(res.Delivered)
	}
	return nil
}

// publish sends Rate messages a second on c from start for Duration and
// returns how many were written. Sends follow a fixed schedule: when one is
// late the next goes at once, so a slow server cannot quietly lower the
// offered load.
func (r *runner) publish(ctx context.Context, c *websocket.Conn, src string, start time.Time) int64 {
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	end := start.Add(r.cfg.Duration)
	pad := strings.Repeat("x", r.cfg.PayloadBytes)
	var buf []byte
	var seq int64
	t := time.NewTimer(0)
	defer t.Stop()
	for next := start; next.Before(end); next = next.Add(interval) {
		t.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return seq
		case <-t.C:
		}
		buf = encodeProbe(buf, src, seq, time.Now(), pad)
		if err := c.Write(ctx, websocket.MessageText, buf); err != nil {
			if ctx.Err() == nil {
				r.fail(writeKind(err))
			}
			return seq
		}
		seq++
		r.m.Sent.Add(1)
	}
	return seq
}

// writeKind names a failed send: the close code if the server closed, or a
// plain write failure.
func writeKind(err error) string {
	if code := websocket.CloseStatus(err); code != -1 {
		return KindClose(code)
	}
	return KindWrite
}
