package loadgen

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Meter holds the live counters of a run for a progress display. The modes
// update it; a display reads it. It is safe for concurrent use.
type Meter struct {
	Open      atomic.Int64 // connections open now
	Connects  atomic.Int64 // greetings received so far
	Sent      atomic.Int64 // messages published so far
	Delivered atomic.Int64 // messages received by measuring clients so far
	Errors    atomic.Int64 // failures of any kind so far

	mu         sync.Mutex
	phase      string
	phaseStart time.Time
	phaseLen   time.Duration
}

// setPhase names what the run does now and how long that should take
// (0 when unknown), for the progress bar.
func (m *Meter) setPhase(name string, expected time.Duration) {
	m.mu.Lock()
	m.phase, m.phaseStart, m.phaseLen = name, time.Now(), expected
	m.mu.Unlock()
}

// Phase returns the current phase, its start and its expected length.
func (m *Meter) Phase() (name string, start time.Time, expected time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.phase, m.phaseStart, m.phaseLen
}

// meterReading is a snapshot of a Meter and the rates since the last one.
type meterReading struct {
	at                                  time.Time
	open, connects, sent, deliv, errors int64
	connRate, sendRate, delivRate       float64
}

// rates turns successive snapshots into per-second rates.
type rates struct {
	mu   sync.Mutex
	last meterReading
}

func (r *rates) read(m *Meter) meterReading {
	cur := meterReading{
		at:       time.Now(),
		open:     m.Open.Load(),
		connects: m.Connects.Load(),
		sent:     m.Sent.Load(),
		deliv:    m.Delivered.Load(),
		errors:   m.Errors.Load(),
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if dt := cur.at.Sub(r.last.at).Seconds(); !r.last.at.IsZero() && dt > 0 {
		cur.connRate = float64(cur.connects-r.last.connects) / dt
		cur.sendRate = float64(cur.sent-r.last.sent) / dt
		cur.delivRate = float64(cur.deliv-r.last.deliv) / dt
	}
	r.last = cur
	return cur
}

func (s meterReading) String() string {
	return fmt.Sprintf("open %d  connects %d (%.0f/s)  sent %d (%.0f/s)  delivered %d (%.0f/s)  errors %d",
		s.open, s.connects, s.connRate, s.sent, s.sendRate, s.deliv, s.delivRate, s.errors)
}

// PlainProgress writes one line per interval to w until stop is called; it
// is the display for logs and pipes, where a redrawn bar would be noise.
func PlainProgress(w io.Writer, mode Mode, m *Meter, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var r rates
		r.read(m)
		start := time.Now()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				phase, _, _ := m.Phase()
				fmt.Fprintf(w, "%s %5.1fs %-8s %s\n", mode, time.Since(start).Seconds(), phase, r.read(m))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
