package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

// Run executes cfg.Mode until its phases end or ctx is cancelled; a cancelled
// run still returns its Result, marked Interrupted. m, if not nil, receives
// live counters for a progress display.
func Run(ctx context.Context, cfg Config, m *Meter) (*Result, error) {
	return run(ctx, cfg, m, "/proc")
}

func run(ctx context.Context, cfg Config, m *Meter, procRoot string) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		m = &Meter{}
	}
	id := make([]byte, 4)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("run id: %w", err)
	}
	r := &runner{
		cfg:      cfg,
		d:        newDialer(cfg),
		m:        m,
		connLat:  newLatencyRecorder(),
		runID:    hex.EncodeToString(id),
		procRoot: procRoot,
	}
	if cfg.PID > 0 {
		r.proc = &procReader{root: procRoot, pid: cfg.PID}
		if _, err := r.proc.sample(); err != nil {
			return nil, fmt.Errorf("-pid %d: %w", cfg.PID, err)
		}
	}
	for _, a := range cfg.AuxPIDs {
		rd := &procReader{root: procRoot, pid: a.PID}
		if _, err := rd.sample(); err != nil {
			return nil, fmt.Errorf("-aux-pid %s=%d: %w", a.Name, a.PID, err)
		}
		r.aux = append(r.aux, &auxProc{name: a.Name, rd: rd})
	}
	res := &Result{
		Mode: cfg.Mode,
		URL:  cfg.URL,
		Params: Params{
			Conns:        cfg.Conns,
			Workers:      cfg.Workers,
			Rate:         cfg.Rate,
			DurationSec:  cfg.Duration.Seconds(),
			PayloadBytes: cfg.PayloadBytes,
			PID:          cfg.PID,
		},
		Started: time.Now(),
	}
	var err error
	switch cfg.Mode {
	case ModeChurn:
		res.Params.Conns = 0
		err = r.churn(ctx, res)
	case ModeHold:
		res.Params.Workers = 0
		err = r.hold(ctx, res)
	case ModeFanout:
		res.Params.Workers = 0
		err = r.fanout(ctx, res)
	case ModeThroughput:
		res.Params.Workers, res.Params.Rate = 0, 0
		err = r.throughput(ctx, res)
	case ModePusherFanout, ModePusherChannels:
		res.Params.Workers = 0
		res.Params.Channels, res.Params.Batch, res.Params.Publishers = cfg.Channels, cfg.Batch, cfg.Publishers
		err = r.pusherEvents(ctx, res)
	case ModePusherPresence:
		res.Params.Workers = 0
		res.Params.Channels = cfg.Channels
		err = r.pusherPresence(ctx, res)
	case ModePusherHold:
		res.Params.Workers = 0
		res.Params.Channels = cfg.Channels
		err = r.pusherHold(ctx, res)
	}
	if err != nil {
		return nil, err
	}
	r.auxUsage(res)
	res.Interrupted = ctx.Err() != nil
	res.Connects = m.Connects.Load()
	res.ConnectLatency = r.connLat.summary()
	res.Errors = r.errs.Snapshot()
	res.ErrorTotal = r.errs.Total()
	m.setPhase("done", 0)
	return res, nil
}

// runner is the state shared by the modes of one run.
type runner struct {
	cfg     Config
	d       *dialer
	m       *Meter
	errs    ErrorCounts
	connLat *latencyRecorder
	proc    *procReader
	aux     []*auxProc
	runID   string
	// procRoot is /proc except in tests.
	procRoot string
}

// auxProc is a further process sampled with the server.
type auxProc struct {
	name    string
	rd      *procReader
	samples []ProcSample
}

// auxUsage sets res.Aux from the first and last samples of each further
// process, which the mode took with the server's.
func (r *runner) auxUsage(res *Result) {
	for _, a := range r.aux {
		if len(a.samples) < 2 {
			continue
		}
		u := newServerUsage(a.rd.pid, a.samples[0], a.samples[len(a.samples)-1])
		u.perDelivery(res.Delivered)
		if r.cfg.Mode.IsPusher() && r.cfg.Mode != ModePusherPresence {
			u.perEvent(res.Sent)
		}
		u.perOp(res.Joins + res.Leaves)
		if res.Aux == nil {
			res.Aux = make(map[string]*ServerUsage)
		}
		res.Aux[a.name] = u
	}
}

// fail counts one failure.
func (r *runner) fail(kind string) {
	r.errs.Add(kind)
	r.m.Errors.Add(1)
}

// connect opens one connection and records its latency. It returns nil
// after counting the failure, or when ctx is done.
func (r *runner) connect(ctx context.Context, shard int) *websocket.Conn {
	c, _ := r.connectID(ctx, shard)
	return c
}

// connectID is connect that also returns the id the server's greeting
// gave the connection (a Pusher socket id).
func (r *runner) connectID(ctx context.Context, shard int) (*websocket.Conn, string) {
	c, id, took, err := r.d.connect(ctx)
	if !r.counted(shard, took, err) {
		return nil, ""
	}
	return c, id
}

// counted records one connect: the kind of its failure, or its latency and
// one more open connection. It reports whether the connect succeeded; a
// stop (ctx done) is neither counted nor a success.
func (r *runner) counted(shard int, took time.Duration, err error) bool {
	if err != nil {
		var de *dialError
		if errors.As(err, &de) {
			r.fail(de.kind)
		}
		return false
	}
	r.connLat.record(shard, took)
	r.m.Connects.Add(1)
	r.m.Open.Add(1)
	return true
}

// readFailed counts how an established connection ended, unless the run
// closed it itself.
func (r *runner) readFailed(stopping bool, err error) {
	if stopping {
		return
	}
	r.fail(classifyRead(err))
}

// sample reads the server's usage; ok is false without a pid or when the
// process went away, which is counted.
func (r *runner) sample() (ProcSample, bool) {
	if r.proc == nil {
		return ProcSample{}, false
	}
	s, err := r.proc.sample()
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: sampling the server: %v\n", err)
		return ProcSample{}, false
	}
	for _, a := range r.aux {
		if as, err := a.rd.sample(); err == nil {
			a.samples = append(a.samples, as)
		} else {
			fmt.Fprintf(os.Stderr, "loadgen: sampling %s: %v\n", a.name, err)
		}
	}
	return s, true
}

// ramp opens n connections, starting at most perSec of them a second (no
// pacing when 0) and at most DialConcurrency at once. Each open connection
// goes to onOpen, which must not block. It returns when every attempt has
// ended or ctx is done.
func (r *runner) ramp(ctx context.Context, n int, perSec float64, onOpen func(i int, c *websocket.Conn)) {
	r.rampWith(ctx, n, perSec, func(ctx context.Context, i int) {
		if c := r.connect(ctx, i); c != nil {
			onOpen(i, c)
		}
	})
}

// rampWith is ramp with the whole opening of connection i in open (a
// connect and a subscribe, say), run on its own goroutine within the
// DialConcurrency bound.
func (r *runner) rampWith(ctx context.Context, n int, perSec float64, open func(ctx context.Context, i int)) {
	lim := rate.NewLimiter(rate.Inf, 1)
	if perSec > 0 {
		lim = rate.NewLimiter(rate.Limit(perSec), 1)
	}
	sem := make(chan struct{}, r.cfg.DialConcurrency)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		if err := lim.Wait(ctx); err != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			open(ctx, i)
		}()
	}
	wg.Wait()
}

// connSet tracks open connections so that the end of a run closes them all.
type connSet struct {
	mu    sync.Mutex
	conns map[int]*websocket.Conn
	wg    sync.WaitGroup // reader goroutines
}

func (s *connSet) add(i int, c *websocket.Conn) {
	s.mu.Lock()
	if s.conns == nil {
		s.conns = make(map[int]*websocket.Conn)
	}
	s.conns[i] = c
	s.mu.Unlock()
}

func (s *connSet) remove(i int) {
	s.mu.Lock()
	delete(s.conns, i)
	s.mu.Unlock()
}

// closeAll closes every connection with a normal close, many at once, and
// waits for their readers to return.
func (s *connSet) closeAll() {
	s.mu.Lock()
	conns := make([]*websocket.Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	sem := make(chan struct{}, 512)
	var wg sync.WaitGroup
	for _, c := range conns {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			closeGracefully(c)
			<-sem
		}()
	}
	wg.Wait()
	s.wg.Wait()
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
