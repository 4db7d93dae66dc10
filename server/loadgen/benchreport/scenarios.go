// Package benchreport turns the results of bench/run.sh, one loadgen JSON
// file per scenario, target and run, into bench/REPORT.md and
// bench/results.json: the median of each number over the runs, the Go and
// Node servers side by side, and their ratio.
package benchreport

import "github.com/wsfargate/websocket-service/server/loadgen"

// Target names: the folders bench/run.sh writes each server's results to.
const (
	TargetGo   = "go"
	TargetNode = "node"
)

// TaskMemoryKiB is the memory of the default Fargate task (2 GiB), for the
// projection of connections per task.
const TaskMemoryKiB = 2 << 20

// Metric is one number a scenario reports.
type Metric struct {
	Name          string
	Unit          string
	LowerIsBetter bool
	// Get extracts the number; ok is false when the run did not measure it.
	Get func(r *loadgen.Result) (v float64, ok bool)
}

// Scenario is one entry of the fixed scenario set. Its Name is the folder
// bench/run.sh writes its results to.
type Scenario struct {
	Name    string
	Title   string
	Metrics []Metric
	// GoOnly marks a scenario only the Go server can run (the Pusher
	// protocol, which the Node baseline does not speak).
	GoOnly bool
	// Note, when set, is printed under the scenario's table.
	Note string
}

// Scenarios is the scenario set, in report order; bench/run.sh runs the
// same names.
func Scenarios() []Scenario {
	hold := []Metric{
		{"connections held", "", false, func(r *loadgen.Result) (float64, bool) { return float64(r.Held), true }},
		{metricRSSPerConn, "KiB", true, server(func(s *loadgen.ServerUsage) float64 { return s.KiBPerConn })},
		{"kernel TCP sockets in use added per connection (2: both ends)", "", false, kernel(true, func(r *loadgen.Result, k *loadgen.KernelSockets) (float64, bool) {
			return float64(k.TCPInUseDelta) / float64(r.Held), r.Held > 0
		})},
		{"kernel TCP buffer memory per connection, both ends", "KiB", true, kernel(true, kernelFigure(func(k *loadgen.KernelSockets) float64 { return k.TCPMemKiBPerConn }))},
		{metricKernelBuffersHalf, "KiB", true, kernel(true, kernelHalf(func(k *loadgen.KernelSockets) *float64 { return k.TCPMemKiBPerConnHalf }))},
		{"kernel socket structs per connection (TCP + sock_inode_cache slabs), both ends", "KiB", true, kernel(false, kernelFigure(func(k *loadgen.KernelSockets) float64 { return k.SlabKiBPerConn }))},
		{metricKernelStructsHalf, "KiB", true, kernel(false, kernelHalf(func(k *loadgen.KernelSockets) *float64 { return k.SlabKiBPerConnHalf }))},
		{"server RSS with all held", "MiB", true, server(func(s *loadgen.ServerUsage) float64 { return float64(s.After.RSSKiB) / 1024 })},
		{"projected connections per 2 GiB task (memory only)", "", false, projectPerTask},
		{"connect latency p99", "ms", true, connectP99},
	}
	fanout := append([]Metric{
		{"delivered / expected", "", false, func(r *loadgen.Result) (float64, bool) { return r.DeliveredRatio, r.Expected > 0 }},
		{"lost", "", true, func(r *loadgen.Result) (float64, bool) { return float64(r.Lost), true }},
		{"deliveries per second", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.DeliveredPerSec, true }},
		{"latency p50", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P50Us })},
		{"latency p99", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P99Us })},
		{"latency p99.9", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P999Us })},
		{"latency max", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.MaxUs })},
	}, append(cpuPerDelivery(), genCPU())...)
	return []Scenario{
		{Name: "hold10k", Title: "Hold 10,000 idle connections", Metrics: hold, Note: kernelNote},
		{Name: "fanout1k", Title: "Fan-out: 1,000 subscribers x 50 msg/s", Metrics: fanout},
		{Name: "fanout5k", Title: "Fan-out: 5,000 subscribers x 10 msg/s", Metrics: fanout},
		{Name: "churn", Title: "Churn: 32 workers connect, greet, close", Metrics: append([]Metric{
			{"connections per second", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.ConnectsPerSec, true }},
			{"connect latency p50", "ms", true, connectP50},
			{"connect latency p99", "ms", true, connectP99},
		}, append(cpuPer("connection lifecycle",
			func(s *loadgen.ServerUsage) float64 { return s.CPUMicrosPerConn },
			func(s *loadgen.ServerUsage) float64 { return s.CPUUserMicrosPerConn },
			func(s *loadgen.ServerUsage) float64 { return s.CPUSysMicrosPerConn },
		), genCPU())...),
			Note: "A connection lifecycle is the upgrade, the greeting and the close handshake; the server's CPU per lifecycle is its CPU time over the run divided by the lifecycles completed."},
		{Name: "throughput", Title: "Throughput: 100 closed-loop clients", Metrics: append([]Metric{
			{"deliveries per second", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.DeliveredPerSec, true }},
			{"round trips per second", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.RoundTripsPerSec, true }},
			{"round trip p50", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P50Us })},
			{"round trip p99", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P99Us })},
		}, append(cpuPerDelivery(), genCPU())...)},
		{Name: "holdmax", Title: "Hold as many idle connections as one process may open (~19,000)", Metrics: hold, Note: kernelNote},

		// The Pusher Channels scenarios: Go only.
		{Name: "pusher-fanout5k", Title: "Pusher fan-out: 5,000 subscribers of one channel x 10 events/s through the HTTP API",
			GoOnly: true, Metrics: pusherFanout,
			Note: "Compared with the Go server's own /wss fan-out of the same size in this run (fanout5k) in the targets above: " +
				"the event enters as a signed POST /apps/{id}/events instead of a WebSocket message, and reaches the subscribers as a Pusher channel event."},
		{Name: "pusher-channels10k", Title: "Pusher channels: 10,000 subscribers over 1,000 channels, 1,000 channel events/s in requests of 10 channels",
			GoOnly: true, Metrics: pusherChannels},
		{Name: "pusher-presence", Title: "Pusher presence: 1,000 members joining and leaving 100 presence channels in a closed loop",
			GoOnly: true, Metrics: pusherPresence,
			Note: "Each channel also has one observer, a member for the whole run: it must see one member_added per join and one member_removed per leave, " +
				"and the HTTP API must count it alone in its channel once the churn has stopped."},
		{Name: "pusher-hold10k", Title: "Pusher hold: 10,000 idle connections, each subscribed to one of 1,000 public channels",
			GoOnly: true, Metrics: append(hold[:len(hold):len(hold)], Metric{"subscribe latency p99", "ms", true, subscribeP99}),
			Note: "The growth per connection includes its share of its channel (10 connections a channel). docs/scale.md separates the two. " + kernelNote},
		{Name: "pusher-fanout5k-redis", Title: "Pusher fan-out across tasks (BROKER=redis, one local redis-server): 5,000 subscribers x 10 events/s",
			GoOnly: true, Metrics: append(pusherFanout[:len(pusherFanout):len(pusherFanout)],
				Metric{"Redis CPU (% of a core)", "%", true, aux("redis", func(s *loadgen.ServerUsage) float64 { return s.CPUPercent })},
			),
			Note: "The cross-task path: every event goes through the app's Redis stream (XADD by the task that took the API request, " +
				"XREAD by every task, here the one), as it does with more than one task. redis-server runs on the server's core; " +
				"on AWS it is ElastiCache on its own hosts. Reported on its own: it has no target. At 10 events/s Redis is nearly idle; " +
				"docs/scale.md measures what one Redis carries."},
	}
}

// pusherFanout reports a Pusher fan-out with the /wss fan-out's metric
// names, so that a goal can compare the two.
var pusherFanout = append([]Metric{
	{"delivered / expected", "", false, func(r *loadgen.Result) (float64, bool) { return r.DeliveredRatio, r.Expected > 0 }},
	{"lost", "", true, func(r *loadgen.Result) (float64, bool) { return float64(r.Lost), true }},
	{"deliveries per second", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.DeliveredPerSec, true }},
	{"latency p50", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P50Us })},
	{"latency p99", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P99Us })},
	{"latency p99.9", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P999Us })},
	{"latency max", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.MaxUs })},
	{"API request round trip p99", "ms", true, apiP99},
}, append(cpuPerDelivery(), genCPU())...)

var pusherChannels = append([]Metric{
	{"subscribed connections", "", false, func(r *loadgen.Result) (float64, bool) { return float64(r.Subscribed), true }},
	{"channel events per second in", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.EventsPerSec, true }},
	{"API requests per second", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.APIRequestsPerSec, true }},
	{"delivered / expected", "", false, func(r *loadgen.Result) (float64, bool) { return r.DeliveredRatio, r.Expected > 0 }},
	{"lost", "", true, func(r *loadgen.Result) (float64, bool) { return float64(r.Lost), true }},
	{"deliveries per second", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.DeliveredPerSec, true }},
	{"latency p50", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P50Us })},
	{"latency p99", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P99Us })},
	{"latency p99.9", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P999Us })},
	{"API request round trip p99", "ms", true, apiP99},
}, append(cpuPerDelivery(),
	Metric{"server CPU (% of its core)", "%", true, server(func(s *loadgen.ServerUsage) float64 { return s.CPUPercent })},
	Metric{"server RSS", "MiB", true, server(func(s *loadgen.ServerUsage) float64 { return float64(s.After.RSSKiB) / 1024 })},
	genCPU(),
)...)

var pusherPresence = append(append([]Metric{
	{"joins + leaves per second", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.JoinsLeavesPerSec, true }},
	{"join round trip p50", "ms", true, func(r *loadgen.Result) (float64, bool) { return latOf(r.SubscribeLatency, 50) }},
	{"join round trip p99", "ms", true, func(r *loadgen.Result) (float64, bool) { return latOf(r.SubscribeLatency, 99) }},
	{"member_added at the observer p99", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P99Us })},
}, cpuPer("join or leave",
	func(s *loadgen.ServerUsage) float64 { return s.CPUMicrosPerOp },
	func(s *loadgen.ServerUsage) float64 { return s.CPUUserMicrosPerOp },
	func(s *loadgen.ServerUsage) float64 { return s.CPUSysMicrosPerOp },
)...),
	Metric{"server CPU (% of its core)", "%", true, server(func(s *loadgen.ServerUsage) float64 { return s.CPUPercent })},
	Metric{"member events seen / expected", "", false, func(r *loadgen.Result) (float64, bool) {
		return float64(r.MemberEvents) / float64(r.MemberEventsExpected), r.MemberEventsExpected > 0
	}},
	Metric{"channels whose members did not converge", "", true, func(r *loadgen.Result) (float64, bool) { return float64(r.Unconverged), true }},
	genCPU(),
)

// Metric names that goals point at.
const (
	metricRSSPerConn        = "server RSS growth per connection"
	metricCPUPerDelivery    = "server CPU per delivered message"
	metricUserPerDelivery   = "server user CPU per delivered message"
	metricCPUPerLifecycle   = "server CPU per connection lifecycle"
	metricKernelBuffersHalf = "kernel TCP buffer memory per connection, server's half"
	metricKernelStructsHalf = "kernel socket structs per connection, server's half"
)

// kernelNote goes under every hold table.
const kernelNote = "The kernel rows are host-wide counters (/proc/net/sockstat's TCP mem for the buffers; " +
	"the TCP and sock_inode_cache objects of /proc/slabinfo for the structs), read at the moments of the RSS samples: " +
	"on loopback they count both ends of each connection, the generator's sockets too, so the server's share is about half " +
	"(the \"server's half\" rows), and any other socket opened or closed on the host meanwhile moves them. " +
	"Neither is in the server's RSS. TCP mem is batched per CPU (net.core.mem_pcpu_rsv pages each), so at 10,000 " +
	"connections it is good to a few tenths of a KiB per connection."

// cpuPer is the server's CPU per unit (a "delivered message", say) in
// total and its user and system parts: the user part is the server's own
// code, the system part mostly the kernel's socket and TCP work.
func cpuPer(unit string, total, user, sys func(*loadgen.ServerUsage) float64) []Metric {
	return []Metric{
		{"server CPU per " + unit, "µs", true, server(total)},
		{"server user CPU per " + unit, "µs", true, serverSplit(user)},
		{"server system CPU per " + unit, "µs", true, serverSplit(sys)},
	}
}

func cpuPerDelivery() []Metric {
	return cpuPer("delivered message",
		func(s *loadgen.ServerUsage) float64 { return s.CPUMicrosPerMsg },
		func(s *loadgen.ServerUsage) float64 { return s.CPUUserMicrosPerMsg },
		func(s *loadgen.ServerUsage) float64 { return s.CPUSysMicrosPerMsg },
	)
}

// serverSplit reads a user or system figure, absent from results written
// before the two were recorded.
func serverSplit(f func(*loadgen.ServerUsage) float64) func(*loadgen.Result) (float64, bool) {
	return func(r *loadgen.Result) (float64, bool) {
		if r.Server == nil || !r.Server.HasSplit() {
			return 0, false
		}
		return f(r.Server), true
	}
}

// kernel reads a figure of the host's socket counters, from sockstat or
// from the slabs, of a run whose server was on this host (the rows say
// "both ends").
func kernel(sockstat bool, f func(*loadgen.Result, *loadgen.KernelSockets) (float64, bool)) func(*loadgen.Result) (float64, bool) {
	return func(r *loadgen.Result) (float64, bool) {
		k := r.Kernel
		if k == nil || !k.BothEnds || sockstat && !k.HasSockstat() || !sockstat && !k.HasSlabs() {
			return 0, false
		}
		return f(r, k)
	}
}

func kernelFigure(f func(*loadgen.KernelSockets) float64) func(*loadgen.Result, *loadgen.KernelSockets) (float64, bool) {
	return func(_ *loadgen.Result, k *loadgen.KernelSockets) (float64, bool) { return f(k), true }
}

// kernelHalf reads a server's-half figure, absent unless both ends are
// on this host.
func kernelHalf(f func(*loadgen.KernelSockets) *float64) func(*loadgen.Result, *loadgen.KernelSockets) (float64, bool) {
	return func(_ *loadgen.Result, k *loadgen.KernelSockets) (float64, bool) {
		if v := f(k); v != nil {
			return *v, true
		}
		return 0, false
	}
}

func apiP99(r *loadgen.Result) (float64, bool) { return latOf(r.APILatency, 99) }

func subscribeP99(r *loadgen.Result) (float64, bool) { return latOf(r.SubscribeLatency, 99) }

// latOf is a percentile (50 or 99) of l in milliseconds.
func latOf(l *loadgen.LatencySummary, p int) (float64, bool) {
	if l == nil {
		return 0, false
	}
	v := l.P99Us
	if p == 50 {
		v = l.P50Us
	}
	return float64(v) / 1000, true
}

// aux reads the usage of the further process sampled under name.
func aux(name string, f func(*loadgen.ServerUsage) float64) func(*loadgen.Result) (float64, bool) {
	return func(r *loadgen.Result) (float64, bool) {
		s := r.Aux[name]
		if s == nil {
			return 0, false
		}
		return f(s), true
	}
}

// genCPU shows how busy the generator's core was: near 100 the generator,
// not the server, may be the limit.
func genCPU() Metric {
	return Metric{"load generator CPU (% of its core)", "%", true, func(r *loadgen.Result) (float64, bool) {
		if r.Generator == nil {
			return 0, false
		}
		return r.Generator.CPUPercent, true
	}}
}

func server(f func(*loadgen.ServerUsage) float64) func(*loadgen.Result) (float64, bool) {
	return func(r *loadgen.Result) (float64, bool) {
		if r.Server == nil {
			return 0, false
		}
		return f(r.Server), true
	}
}

func lat(f func(*loadgen.LatencySummary) int64) func(*loadgen.Result) (float64, bool) {
	return func(r *loadgen.Result) (float64, bool) {
		if r.Latency == nil {
			return 0, false
		}
		return float64(f(r.Latency)) / 1000, true
	}
}

func connectP50(r *loadgen.Result) (float64, bool) {
	if r.ConnectLatency == nil {
		return 0, false
	}
	return float64(r.ConnectLatency.P50Us) / 1000, true
}

func connectP99(r *loadgen.Result) (float64, bool) {
	if r.ConnectLatency == nil {
		return 0, false
	}
	return float64(r.ConnectLatency.P99Us) / 1000, true
}

// projectPerTask divides what a 2 GiB task has left after the server's idle
// footprint by the measured growth per connection.
func projectPerTask(r *loadgen.Result) (float64, bool) {
	if r.Server == nil || r.Server.KiBPerConn <= 0 {
		return 0, false
	}
	return float64(TaskMemoryKiB-r.Server.Before.RSSKiB) / r.Server.KiBPerConn, true
}

// Goal is one target the server is held to, checked against the medians of
// one metric of one scenario. Most are ratios to the Node server measured
// in the same run, or to another scenario of the Go server's, because
// absolute figures move severalfold between machines of the same kind.
type Goal struct {
	Name     string
	Scenario string // a Scenario.Name
	Metric   string // a Metric.Name of that scenario
	// Ratio applies Bound to Go's median over Node's rather than to Go's;
	// with Baseline, over Go's median of the same metric in Baseline.
	Ratio    bool
	Baseline string `json:",omitempty"` // a Scenario.Name
	// AtMost is true when the number must not exceed Bound, false when it
	// must reach it.
	AtMost bool
	Bound  float64
	// Beside are further metrics of the same scenario shown with the
	// goal's figures, unchecked, under BesideLabel.
	Beside      []BesideMetric `json:",omitempty"`
	BesideLabel string         `json:",omitempty"`
}

// BesideMetric is a metric shown with a goal, under a short label.
type BesideMetric struct {
	Label  string
	Metric string // a Metric.Name of the goal's scenario
}

// Goals are the targets the report checks: the /wss endpoint against the
// Node baseline (issue #13's, which replaced #6's), and the Pusher
// endpoint against the Go server's own /wss. The churn, throughput and
// per-task rows that #6 held to bounds stay in their tables, unchecked.
func Goals() []Goal {
	return []Goal{
		{Name: "RSS per idle connection, 10k held: at most Node's (Go/Node ≤ 1.0)", Scenario: "hold10k", Metric: metricRSSPerConn, Ratio: true, AtMost: true, Bound: 1,
			BesideLabel: "kernel, server's half", Beside: []BesideMetric{{"buffers", metricKernelBuffersHalf}, {"structs", metricKernelStructsHalf}}},
		{Name: "churn: server CPU per connection lifecycle (open, greeting, close): at most 1/2 of Node's", Scenario: "churn", Metric: metricCPUPerLifecycle, Ratio: true, AtMost: true, Bound: 0.5},
		{Name: "fan-out 5k x 10/s: server user CPU per delivery: at most 0.33 of Node's", Scenario: "fanout5k", Metric: metricUserPerDelivery, Ratio: true, AtMost: true, Bound: 0.33},
		{Name: "throughput, 100 closed-loop clients: server CPU (user+sys) per delivery: at most 1/2 of Node's", Scenario: "throughput", Metric: metricCPUPerDelivery, Ratio: true, AtMost: true, Bound: 0.5},
		{Name: "fan-out 5k x 10/s, latency p99: at most 1.2x Node's", Scenario: "fanout5k", Metric: "latency p99", Ratio: true, AtMost: true, Bound: 1.2},
		{Name: "Pusher fan-out 5k x 10/s through the HTTP API, latency p99: at most 1.1x the /wss fan-out's (fanout5k, Go, this run)",
			Scenario: "pusher-fanout5k", Metric: "latency p99", Ratio: true, Baseline: "fanout5k", AtMost: true, Bound: 1.1},
		{Name: "Pusher fan-out 5k x 10/s, server CPU per delivery: at most 1.1x the /wss fan-out's (fanout5k, Go, this run)",
			Scenario: "pusher-fanout5k", Metric: metricCPUPerDelivery, Ratio: true, Baseline: "fanout5k", AtMost: true, Bound: 1.1},
		{Name: "Pusher: RSS per idle connection subscribed to one channel, 10k held over 1k channels: at most 8 KiB",
			Scenario: "pusher-hold10k", Metric: metricRSSPerConn, AtMost: true, Bound: 8},
		{Name: "Pusher 10k connections over 1k channels: every event delivered",
			Scenario: "pusher-channels10k", Metric: "delivered / expected", Bound: 1},
		{Name: "Pusher presence churn: every channel's members converge",
			Scenario: "pusher-presence", Metric: "channels whose members did not converge", AtMost: true, Bound: 0},
	}
}
