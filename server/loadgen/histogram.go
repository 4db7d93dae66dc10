package loadgen

import (
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1 µs to 5 minutes with three
// significant digits: 0.1% relative error at every scale.
const (
	histLowest  = 1
	histHighest = int64(5 * time.Minute / time.Microsecond)
	histDigits  = 3
	histShards  = 16
)

// latencyRecorder is a sharded HDR histogram: thousands of readers record
// at once, and a single lock would serialise them.
type latencyRecorder struct {
	shards [histShards]struct {
		mu sync.Mutex
		h  *hdrhistogram.Histogram
		_  [40]byte // keep shards on separate cache lines
	}
}

func newLatencyRecorder() *latencyRecorder {
	r := &latencyRecorder{}
	for i := range r.shards {
		r.shards[i].h = hdrhistogram.New(histLowest, histHighest, histDigits)
	}
	return r
}

// record adds one sample; shard picks the shard (any int, e.g. a client id).
func (r *latencyRecorder) record(shard int, d time.Duration) {
	us := d.Microseconds()
	if us < histLowest {
		us = histLowest
	}
	if us > histHighest {
		us = histHighest
	}
	s := &r.shards[uint(shard)%histShards]
	s.mu.Lock()
	_ = s.h.RecordValue(us) // cannot fail: the value is clamped to the range
	s.mu.Unlock()
}

// merged returns one histogram with every shard's samples.
func (r *latencyRecorder) merged() *hdrhistogram.Histogram {
	out := hdrhistogram.New(histLowest, histHighest, histDigits)
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		out.Merge(s.h)
		s.mu.Unlock()
	}
	return out
}

// summary condenses the samples recorded so far.
func (r *latencyRecorder) summary() *LatencySummary {
	h := r.merged()
	if h.TotalCount() == 0 {
		return nil
	}
	return &LatencySummary{
		Count:  h.TotalCount(),
		MeanUs: h.Mean(),
		P50Us:  h.ValueAtQuantile(50),
		P90Us:  h.ValueAtQuantile(90),
		P99Us:  h.ValueAtQuantile(99),
		P999Us: h.ValueAtQuantile(99.9),
		MaxUs:  h.Max(),
	}
}

// LatencySummary is a latency distribution in microseconds.
type LatencySummary struct {
	Count  int64   `json:"count"`
	MeanUs float64 `json:"mean_us"`
	P50Us  int64   `json:"p50_us"`
	P90Us  int64   `json:"p90_us"`
	P99Us  int64   `json:"p99_us"`
	P999Us int64   `json:"p999_us"`
	MaxUs  int64   `json:"max_us"`
}
