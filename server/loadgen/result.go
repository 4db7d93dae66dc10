package loadgen

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Params are the settings of a run as they appear in its Result.
type Params struct {
	Conns        int     `json:"conns,omitempty"`
	Workers      int     `json:"workers,omitempty"`
	Rate         float64 `json:"rate,omitempty"`
	DurationSec  float64 `json:"duration_s"`
	PayloadBytes int     `json:"payload_bytes,omitempty"`
	PID          int     `json:"pid,omitempty"`
}

// Result is the outcome of one run. Fields that a mode does not measure stay
// zero and are left out of the JSON.
type Result struct {
	Mode    Mode      `json:"mode"`
	URL     string    `json:"url"`
	Params  Params    `json:"params"`
	Started time.Time `json:"started"`
	// ElapsedSec is the wall time of the measured phase, the divisor of
	// every rate below.
	ElapsedSec float64 `json:"elapsed_s"`
	// Interrupted is set when the run was stopped (Ctrl-C) before its end.
	Interrupted bool `json:"interrupted,omitempty"`

	// Connects counts completed upgrades with their greeting.
	Connects int64 `json:"connects"`
	// ConnectsPerSec is the churn rate: connect, greeting, close.
	ConnectsPerSec float64 `json:"connects_per_s,omitempty"`
	// Held is the number of connections open when the hold phase began.
	Held int64 `json:"held,omitempty"`
	// HeldAtEnd is the number still open when it ended.
	HeldAtEnd int64 `json:"held_at_end,omitempty"`

	// Sent counts published messages.
	Sent int64 `json:"sent,omitempty"`
	// Expected counts the deliveries Sent implies (fanout: Sent times the
	// subscribers).
	Expected int64 `json:"expected,omitempty"`
	// Delivered counts messages received by the measuring clients.
	Delivered int64 `json:"delivered,omitempty"`
	// Lost is Expected minus Delivered (fanout).
	Lost int64 `json:"lost,omitempty"`
	// OutOfOrder counts deliveries whose sequence number was not above the
	// last one the same subscriber saw (fanout).
	OutOfOrder int64 `json:"out_of_order,omitempty"`
	// DeliveredRatio is Delivered over Expected (fanout).
	DeliveredRatio float64 `json:"delivered_ratio,omitempty"`
	// DeliveredPerSec is Delivered over ElapsedSec.
	DeliveredPerSec float64 `json:"delivered_per_s,omitempty"`
	// RoundTripsPerSec counts throughput clients' own messages coming back.
	RoundTripsPerSec float64 `json:"round_trips_per_s,omitempty"`

	// ConnectLatency is dial to greeting.
	ConnectLatency *LatencySummary `json:"connect_latency,omitempty"`
	// Latency is send to delivery (fanout) or the round trip (throughput).
	Latency *LatencySummary `json:"latency,omitempty"`

	// Errors counts failures by kind; see the Kind constants.
	Errors     map[string]int64 `json:"errors,omitempty"`
	ErrorTotal int64            `json:"error_total"`

	// Server is set when the server's pid was given.
	Server *ServerUsage `json:"server,omitempty"`
	// Generator is this process's CPU use over the measured phase.
	Generator *GeneratorUsage `json:"generator,omitempty"`
}

// WriteText prints the human summary.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	state := "completed"
	if r.Interrupted {
		state = "interrupted"
	}
	p("%s %s: %s after %.1fs", r.Mode, r.URL, state, r.ElapsedSec)
	switch r.Mode {
	case ModeChurn:
		p("  workers          %d", r.Params.Workers)
		p("  connects         %d (%.0f/s)", r.Connects, r.ConnectsPerSec)
	case ModeHold:
		p("  target           %d at %.0f/s", r.Params.Conns, r.Params.Rate)
		p("  held             %d at start, %d at end", r.Held, r.HeldAtEnd)
	case ModeFanout:
		p("  subscribers      %d, publishing %.0f msg/s", r.Params.Conns, r.Params.Rate)
		p("  sent             %d", r.Sent)
		p("  delivered        %d of %d (%.6f), lost %d, out of order %d", r.Delivered, r.Expected, r.DeliveredRatio, r.Lost, r.OutOfOrder)
		p("  delivery rate    %.0f/s", r.DeliveredPerSec)
	case ModeThroughput:
		p("  clients          %d", r.Params.Conns)
		p("  round trips      %d (%.0f/s)", r.Sent, r.RoundTripsPerSec)
		p("  delivered        %d (%.0f/s)", r.Delivered, r.DeliveredPerSec)
	}
	if l := r.ConnectLatency; l != nil {
		p("  connect latency  p50 %s  p99 %s  p999 %s  max %s  (n=%d)", us(l.P50Us), us(l.P99Us), us(l.P999Us), us(l.MaxUs), l.Count)
	}
	if l := r.Latency; l != nil {
		name := "delivery latency"
		if r.Mode == ModeThroughput {
			name = "round trip      "
		}
		p("  %s p50 %s  p99 %s  p999 %s  max %s  (n=%d)", name, us(l.P50Us), us(l.P99Us), us(l.P999Us), us(l.MaxUs), l.Count)
	}
	if s := r.Server; s != nil {
		p("  server pid %d    rss %d -> %d KiB (%+d), cpu %.2fs (%.0f%%)", s.PID, s.Before.RSSKiB, s.After.RSSKiB, s.RSSDeltaKiB, s.CPUSeconds, s.CPUPercent)
		if s.KiBPerConn != 0 {
			p("  server memory    %.2f KiB per connection", s.KiBPerConn)
		}
		if s.CPUMicrosPerMsg != 0 {
			p("  server cpu       %.3f µs per delivered message", s.CPUMicrosPerMsg)
		}
	}
	if g := r.Generator; g != nil {
		p("  loadgen cpu      %.2fs (%.0f%% of one core)", g.CPUSeconds, g.CPUPercent)
	}
	if r.ErrorTotal == 0 {
		p("  errors           none")
	} else {
		p("  errors           %d", r.ErrorTotal)
		for _, k := range sortedKinds(r.Errors) {
			p("    %-20s %d", k, r.Errors[k])
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// us formats microseconds with a unit that keeps three digits or so.
func us(v int64) string {
	return (time.Duration(v) * time.Microsecond).Round(time.Microsecond).String()
}
