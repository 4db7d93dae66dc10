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
	// Channels, Batch and Publishers are the Pusher modes' spread.
	Channels   int `json:"channels,omitempty"`
	Batch      int `json:"batch,omitempty"`
	Publishers int `json:"publishers,omitempty"`
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

	// Subscribed counts subscriptions confirmed when the measured phase
	// began (Pusher modes; pusher-presence: the observers).
	Subscribed int64 `json:"subscribed,omitempty"`
	// EventsPerSec is channel events triggered through the HTTP API per
	// second (Sent over ElapsedSec; one request may trigger several).
	EventsPerSec float64 `json:"events_per_s,omitempty"`
	// APIRequests counts HTTP API requests answered with 200.
	APIRequests       int64   `json:"api_requests,omitempty"`
	APIRequestsPerSec float64 `json:"api_requests_per_s,omitempty"`
	// Joins and Leaves count presence subscriptions and unsubscriptions
	// (pusher-presence); JoinsLeavesPerSec is both over ElapsedSec.
	Joins             int64   `json:"joins,omitempty"`
	Leaves            int64   `json:"leaves,omitempty"`
	JoinsLeavesPerSec float64 `json:"joins_leaves_per_s,omitempty"`
	// MemberEvents counts the member_added and member_removed the
	// observers saw; MemberEventsExpected is one per join and leave.
	MemberEvents         int64 `json:"member_events,omitempty"`
	MemberEventsExpected int64 `json:"member_events_expected,omitempty"`
	// Unconverged counts presence channels whose members did not come
	// back to the observer alone (pusher-presence).
	Unconverged int64 `json:"unconverged_channels,omitempty"`

	// ConnectLatency is dial to greeting.
	ConnectLatency *LatencySummary `json:"connect_latency,omitempty"`
	// Latency is send to delivery (fanout, pusher-fanout,
	// pusher-channels), the round trip (throughput), or a join's send to
	// its member_added at the observer (pusher-presence).
	Latency *LatencySummary `json:"latency,omitempty"`
	// SubscribeLatency is pusher:subscribe to subscription_succeeded (for
	// pusher-presence, the joins).
	SubscribeLatency *LatencySummary `json:"subscribe_latency,omitempty"`
	// APILatency is the round trip of the HTTP API requests that
	// triggered events.
	APILatency *LatencySummary `json:"api_latency,omitempty"`

	// Errors counts failures by kind; see the Kind constants.
	Errors     map[string]int64 `json:"errors,omitempty"`
	ErrorTotal int64            `json:"error_total"`

	// Server is set when the server's pid was given.
	Server *ServerUsage `json:"server,omitempty"`
	// Kernel is the host kernel's socket memory over the ramp (hold,
	// pusher-hold), whether or not the server's pid was given.
	Kernel *KernelSockets `json:"kernel_sockets,omitempty"`
	// Aux is the usage of each -aux-pid process, by its name.
	Aux map[string]*ServerUsage `json:"aux,omitempty"`
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
	case ModePusherFanout, ModePusherChannels:
		p("  subscribers      %d over %d channel(s), %d subscribed", r.Params.Conns, r.Params.Channels, r.Subscribed)
		p("  triggered        %d channel events (%.0f/s) in %d API requests (%.0f/s)", r.Sent, r.EventsPerSec, r.APIRequests, r.APIRequestsPerSec)
		p("  delivered        %d of %d (%.6f), lost %d, out of order %d", r.Delivered, r.Expected, r.DeliveredRatio, r.Lost, r.OutOfOrder)
		p("  delivery rate    %.0f/s", r.DeliveredPerSec)
	case ModePusherPresence:
		p("  members          %d over %d presence channels, with %d observers", r.Params.Conns, r.Params.Channels, r.Subscribed)
		p("  joins, leaves    %d, %d (%.0f joins+leaves/s)", r.Joins, r.Leaves, r.JoinsLeavesPerSec)
		p("  member events    %d of %d at the observers; %d channel(s) did not converge", r.MemberEvents, r.MemberEventsExpected, r.Unconverged)
	case ModePusherHold:
		p("  target           %d at %.0f/s over %d channels", r.Params.Conns, r.Params.Rate, r.Params.Channels)
		p("  held             %d at start (%d subscribed), %d at end", r.Held, r.Subscribed, r.HeldAtEnd)
	}
	if l := r.ConnectLatency; l != nil {
		p("  connect latency  p50 %s  p99 %s  p999 %s  max %s  (n=%d)", us(l.P50Us), us(l.P99Us), us(l.P999Us), us(l.MaxUs), l.Count)
	}
	if l := r.SubscribeLatency; l != nil {
		name := "subscribe       "
		if r.Mode == ModePusherPresence {
			name = "join            "
		}
		p("  %s p50 %s  p99 %s  p999 %s  max %s  (n=%d)", name, us(l.P50Us), us(l.P99Us), us(l.P999Us), us(l.MaxUs), l.Count)
	}
	if l := r.APILatency; l != nil {
		p("  API request      p50 %s  p99 %s  p999 %s  max %s  (n=%d)", us(l.P50Us), us(l.P99Us), us(l.P999Us), us(l.MaxUs), l.Count)
	}
	if l := r.Latency; l != nil {
		name := "delivery latency"
		switch r.Mode {
		case ModeThroughput:
			name = "round trip      "
		case ModePusherPresence:
			name = "member_added    "
		}
		p("  %s p50 %s  p99 %s  p999 %s  max %s  (n=%d)", name, us(l.P50Us), us(l.P99Us), us(l.P999Us), us(l.MaxUs), l.Count)
	}
	if s := r.Server; s != nil {
		p("  server pid %d    rss %d -> %d KiB (%+d), cpu %.2fs (%.0f%%)%s", s.PID, s.Before.RSSKiB, s.After.RSSKiB, s.RSSDeltaKiB, s.CPUSeconds, s.CPUPercent, cpuSeconds(s))
		if s.KiBPerConn != 0 {
			p("  server memory    %.2f KiB per connection", s.KiBPerConn)
		}
		if s.CPUMicrosPerConn != 0 {
			p("  server cpu       %.3f µs per connection lifecycle (open, greeting, close)%s", s.CPUMicrosPerConn, cpuSplit(s, s.CPUUserMicrosPerConn, s.CPUSysMicrosPerConn))
		}
		if s.CPUMicrosPerMsg != 0 {
			p("  server cpu       %.3f µs per delivered message%s", s.CPUMicrosPerMsg, cpuSplit(s, s.CPUUserMicrosPerMsg, s.CPUSysMicrosPerMsg))
		}
		if s.CPUMicrosPerEvent != 0 {
			p("  server cpu       %.3f µs per channel event%s", s.CPUMicrosPerEvent, cpuSplit(s, s.CPUUserMicrosPerEvent, s.CPUSysMicrosPerEvent))
		}
		if s.CPUMicrosPerOp != 0 {
			p("  server cpu       %.3f µs per join or leave%s", s.CPUMicrosPerOp, cpuSplit(s, s.CPUUserMicrosPerOp, s.CPUSysMicrosPerOp))
		}
	}
	if k := r.Kernel; k != nil {
		r.writeKernel(p, k)
	}
	for _, name := range sortedKinds(auxCounts(r.Aux)) {
		s := r.Aux[name]
		p("  %-16s pid %d, rss %d -> %d KiB, cpu %.2fs (%.0f%%)%s", name, s.PID, s.Before.RSSKiB, s.After.RSSKiB, s.CPUSeconds, s.CPUPercent, cpuSeconds(s))
		switch {
		case s.CPUMicrosPerEvent != 0:
			p("  %-16s %.3f µs per event%s, %.3f µs per delivery%s", "",
				s.CPUMicrosPerEvent, cpuSplit(s, s.CPUUserMicrosPerEvent, s.CPUSysMicrosPerEvent),
				s.CPUMicrosPerMsg, cpuSplit(s, s.CPUUserMicrosPerMsg, s.CPUSysMicrosPerMsg))
		case s.CPUMicrosPerOp != 0:
			p("  %-16s %.3f µs per join or leave%s", "", s.CPUMicrosPerOp, cpuSplit(s, s.CPUUserMicrosPerOp, s.CPUSysMicrosPerOp))
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

// writeKernel prints the host's socket memory of a hold.
func (r *Result) writeKernel(p func(string, ...any), k *KernelSockets) {
	// half is the server's share, on the same host only.
	half := func(v *float64) string {
		if v == nil {
			return ""
		}
		return fmt.Sprintf(" (server's half %.2f)", *v)
	}
	if k.HasSockstat() {
		perConn := 0.0
		if r.Held > 0 {
			perConn = float64(k.TCPInUseDelta) / float64(r.Held)
		}
		p("  kernel sockets   TCP in use %+d (%.2f per connection held), sockets used %+d", k.TCPInUseDelta, perConn, k.SocketsUsedDelta)
		p("  kernel TCP mem   %+.0f KiB of socket buffers, %.2f KiB per connection%s", k.TCPMemDeltaKiB, k.TCPMemKiBPerConn, half(k.TCPMemKiBPerConnHalf))
	} else {
		p("  kernel sockets   not measured: %s", k.SockstatError)
	}
	if k.HasSlabs() {
		var objs []string
		for _, n := range socketSlabs {
			objs = append(objs, fmt.Sprintf("%s %+d", n, k.After.Slabs[n].ActiveObjs-k.Before.Slabs[n].ActiveObjs))
		}
		p("  kernel slabs     %s objects: %+.0f KiB, %.2f KiB per connection%s", strings.Join(objs, ", "), k.SlabDeltaKiB, k.SlabKiBPerConn, half(k.SlabKiBPerConnHalf))
	} else {
		p("  kernel slabs     not measured: %s", k.SlabError)
	}
	if k.BothEnds {
		p("  %-16s host-wide: counts both ends of each connection (the generator's too); the server's share is about half", "")
	} else {
		p("  %-16s host-wide: the server is elsewhere, so these are the generator's sockets", "")
	}
}

// cpuSplit prints a CPU figure's user and system parts, or nothing for a
// result from before they were recorded.
func cpuSplit(s *ServerUsage, user, sys float64) string {
	if !s.HasSplit() {
		return ""
	}
	return fmt.Sprintf(" (user %.3f, sys %.3f)", user, sys)
}

// cpuSeconds prints the user and system parts of a process's CPU time.
func cpuSeconds(s *ServerUsage) string {
	if !s.HasSplit() {
		return ""
	}
	return fmt.Sprintf(", user %.2fs, sys %.2fs", s.UserCPUSeconds, s.SysCPUSeconds)
}

// auxCounts keys the further processes' names for sortedKinds.
func auxCounts(m map[string]*ServerUsage) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k := range m {
		out[k] = 0
	}
	return out
}

// us formats microseconds with a unit that keeps three digits or so.
func us(v int64) string {
	return (time.Duration(v) * time.Microsecond).Round(time.Microsecond).String()
}
