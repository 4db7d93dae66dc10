package loadgen

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// throughput connects Conns clients, then each one, for Duration, sends a
// message and reads until that message comes back before it sends the
// next. Every broadcast a client reads meanwhile counts as a delivery.
func (r *runner) throughput(ctx context.Context, res *Result) error {
	var set connSet
	var rampFor time.Duration
	if r.cfg.RampRate > 0 {
		rampFor = time.Duration(float64(r.cfg.Conns) / r.cfg.RampRate * float64(time.Second))
	}
	r.m.setPhase("ramp", rampFor)
	r.ramp(ctx, r.cfg.Conns, r.cfg.RampRate, func(i int, c *websocket.Conn) { set.add(i, c) })

	lat := newLatencyRecorder()
	var delivered, roundTrips atomic.Int64
	before, sampled := r.sample()
	genBefore := markSelf()
	r.m.setPhase("run", r.cfg.Duration)
	start := time.Now()
	deadline := start.Add(r.cfg.Duration)
	runCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	set.mu.Lock()
	clients := make(map[int]*websocket.Conn, len(set.conns))
	for i, c := range set.conns {
		clients[i] = c
	}
	set.mu.Unlock()
	pad := strings.Repeat("x", r.cfg.PayloadBytes)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := loopClient{r: r, c: c, rd: reader{c: c}, shard: i, src: r.runID + "-t" + strconv.Itoa(i), pad: pad, deadline: deadline}
			cl.loop(runCtx, ctx, lat, &delivered, &roundTrips)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	res.Generator = newGeneratorUsage(genBefore, markSelf())
	after, ok := r.sample()
	sampled = sampled && ok

	r.m.setPhase("close", 0)
	set.closeAll()
	for range clients {
		r.m.Open.Add(-1)
	}

	res.ElapsedSec = min(elapsed, r.cfg.Duration).Seconds()
	res.Sent = roundTrips.Load()
	res.Delivered = delivered.Load()
	if res.ElapsedSec > 0 {
		res.DeliveredPerSec = float64(res.Delivered) / res.ElapsedSec
		res.RoundTripsPerSec = float64(res.Sent) / res.ElapsedSec
	}
	res.Latency = lat.summary()
	if sampled {
		res.Server = newServerUsage(r.cfg.PID, before, after)
		res.Server.perDelivery(res.Delivered)
	}
	return nil
}

// loopClient is one closed-loop publisher.
type loopClient struct {
	r        *runner
	c        *websocket.Conn
	rd       reader
	shard    int
	src      string
	pad      string
	deadline time.Time
	buf      []byte
}

// loop sends, waits for its own message, and repeats until ctx is done.
// Deliveries count only before the deadline, so every client measures the
// same window. stop is the run's own context: cancelled only when the run is
// interrupted, it also ends a wait for an echo.
func (l *loopClient) loop(ctx, stop context.Context, lat *latencyRecorder, delivered, roundTrips *atomic.Int64) {
	// A quoted source tag is a cheap test for "maybe mine" before the full
	// decode: most frames a client reads are other clients' messages.
	tag := []byte(strconv.Quote(l.src))
	for seq := int64(0); ctx.Err() == nil; seq++ {
		sentAt := time.Now()
		l.buf = encodeProbe(l.buf, l.src, seq, sentAt, l.pad)
		// Not ctx: coder/websocket closes the connection when a write's
		// context ends, even one that completes just as the deadline
		// passes, and the wait for the echo would then see a lost
		// connection. The loop condition ends the run instead.
		if err := l.c.Write(stop, websocket.MessageText, l.buf); err != nil {
			if stop.Err() == nil {
				l.r.fail(writeKind(err))
			}
			return
		}
		l.r.m.Sent.Add(1)
		echoCtx, cancel := context.WithTimeout(stop, l.r.cfg.EchoTimeout)
		ok := l.awaitEcho(echoCtx, stop, tag, seq, delivered)
		cancel()
		if !ok {
			return
		}
		now := time.Now()
		if now.Before(l.deadline) {
			roundTrips.Add(1)
			lat.record(l.shard, now.Sub(sentAt))
		}
	}
}

// awaitEcho reads until the message with seq from this client arrives.
// A timeout closes the connection (coder/websocket does so when a read's
// context ends), so the client stops after counting it.
func (l *loopClient) awaitEcho(ctx, stop context.Context, tag []byte, seq int64, delivered *atomic.Int64) bool {
	for {
		msg, err := l.rd.next(ctx)
		if err != nil {
			if stop.Err() != nil {
				return false
			}
			if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
				l.r.fail(KindTimeoutEcho)
			} else {
				l.r.fail(classifyRead(err))
			}
			return false
		}
		if time.Now().Before(l.deadline) {
			delivered.Add(1)
			l.r.m.Delivered.Add(1)
		}
		if !containsTag(msg, tag) {
			continue
		}
		d, err := decodeFrame(msg)
		var se *serverError
		switch {
		case errors.As(err, &se):
			l.r.fail(se.kind())
			return false
		case err != nil:
			continue
		}
		if d.src == l.src && d.seq == seq {
			return true
		}
	}
}
