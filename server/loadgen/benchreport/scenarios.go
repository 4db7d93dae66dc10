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
		{"server RSS growth per connection", "KiB", true, server(func(s *loadgen.ServerUsage) float64 { return s.KiBPerConn })},
		{"server RSS with all held", "MiB", true, server(func(s *loadgen.ServerUsage) float64 { return float64(s.After.RSSKiB) / 1024 })},
		{"projected connections per 2 GiB task (memory only)", "", false, projectPerTask},
		{"connect latency p99", "ms", true, connectP99},
	}
	fanout := []Metric{
		{"delivered / expected", "", false, func(r *loadgen.Result) (float64, bool) { return r.DeliveredRatio, r.Expected > 0 }},
		{"lost", "", true, func(r *loadgen.Result) (float64, bool) { return float64(r.Lost), true }},
		{"deliveries per second", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.DeliveredPerSec, true }},
		{"latency p50", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P50Us })},
		{"latency p99", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P99Us })},
		{"latency p99.9", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P999Us })},
		{"latency max", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.MaxUs })},
		{"server CPU per delivered message", "µs", true, server(func(s *loadgen.ServerUsage) float64 { return s.CPUMicrosPerMsg })},
		genCPU(),
	}
	return []Scenario{
		{Name: "hold10k", Title: "Hold 10,000 idle connections", Metrics: hold},
		{Name: "fanout1k", Title: "Fan-out: 1,000 subscribers x 50 msg/s", Metrics: fanout},
		{Name: "fanout5k", Title: "Fan-out: 5,000 subscribers x 10 msg/s", Metrics: fanout},
		{Name: "churn", Title: "Churn: 32 workers connect, greet, close", Metrics: []Metric{
			{"connections per second", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.ConnectsPerSec, true }},
			{"connect latency p50", "ms", true, connectP50},
			{"connect latency p99", "ms", true, connectP99},
			genCPU(),
		}},
		{Name: "throughput", Title: "Throughput: 100 closed-loop clients", Metrics: []Metric{
			{"deliveries per second", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.DeliveredPerSec, true }},
			{"round trips per second", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.RoundTripsPerSec, true }},
			{"round trip p50", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P50Us })},
			{"round trip p99", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P99Us })},
			{"server CPU per delivered message", "µs", true, server(func(s *loadgen.ServerUsage) float64 { return s.CPUMicrosPerMsg })},
			genCPU(),
		}},
		{Name: "holdmax", Title: "Hold as many idle connections as one process may open (~19,000)", Metrics: hold},

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
			Note: "The growth per connection includes its share of its channel (10 connections a channel). docs/scale.md separates the two."},
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
var pusherFanout = []Metric{
	{"delivered / expected", "", false, func(r *loadgen.Result) (float64, bool) { return r.DeliveredRatio, r.Expected > 0 }},
	{"lost", "", true, func(r *loadgen.Result) (float64, bool) { return float64(r.Lost), true }},
	{"deliveries per second", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.DeliveredPerSec, true }},
	{"latency p50", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P50Us })},
	{"latency p99", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P99Us })},
	{"latency p99.9", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P999Us })},
	{"latency max", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.MaxUs })},
	{"API request round trip p99", "ms", true, apiP99},
	{"server CPU per delivered message", "µs", true, server(func(s *loadgen.ServerUsage) float64 { return s.CPUMicrosPerMsg })},
	genCPU(),
}

var pusherChannels = []Metric{
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
	{"server CPU per delivered message", "µs", true, server(func(s *loadgen.ServerUsage) float64 { return s.CPUMicrosPerMsg })},
	{"server CPU (% of its core)", "%", true, server(func(s *loadgen.ServerUsage) float64 { return s.CPUPercent })},
	{"server RSS", "MiB", true, server(func(s *loadgen.ServerUsage) float64 { return float64(s.After.RSSKiB) / 1024 })},
	genCPU(),
}

var pusherPresence = []Metric{
	{"joins + leaves per second", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.JoinsLeavesPerSec, true }},
	{"join round trip p50", "ms", true, func(r *loadgen.Result) (float64, bool) { return latOf(r.SubscribeLatency, 50) }},
	{"join round trip p99", "ms", true, func(r *loadgen.Result) (float64, bool) { return latOf(r.SubscribeLatency, 99) }},
	{"member_added at the observer p99", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P99Us })},
	{"server CPU per join or leave", "µs", true, server(func(s *loadgen.ServerUsage) float64 { return s.CPUMicrosPerOp })},
	{"server CPU (% of its core)", "%", true, server(func(s *loadgen.ServerUsage) float64 { return s.CPUPercent })},
	{"member events seen / expected", "", false, func(r *loadgen.Result) (float64, bool) {
		return float64(r.MemberEvents) / float64(r.MemberEventsExpected), r.MemberEventsExpected > 0
	}},
	{"channels whose members did not converge", "", true, func(r *loadgen.Result) (float64, bool) { return float64(r.Unconverged), true }},
	genCPU(),
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
}

// Goals are the targets of the performance issue (#6).
func Goals() []Goal {
	return []Goal{
		{Name: "RSS per idle connection, 10k held: at most 8 KiB (must: 12)", Scenario: "hold10k", Metric: "server RSS growth per connection", AtMost: true, Bound: 8},
		{Name: "fan-out 5k x 10/s, latency p99: at most 1/3 of Node's", Scenario: "fanout5k", Metric: "latency p99", Ratio: true, AtMost: true, Bound: 1.0 / 3},
		{Name: "fan-out 5k x 10/s, server CPU per delivery: at most 1/2 of Node's (3.5 µs against 7.0 where the issue measured)", Scenario: "fanout5k", Metric: "server CPU per delivered message", Ratio: true, AtMost: true, Bound: 0.5},
		{Name: "throughput, 100 closed-loop clients: at least 1.5x Node's", Scenario: "throughput", Metric: "deliveries per second", Ratio: true, Bound: 1.5},
		{Name: "churn, 32 workers: at least 2x Node's", Scenario: "churn", Metric: "connections per second", Ratio: true, Bound: 2},
		{Name: "idle connections per 2 GiB task, projected from ~19k held: at least 150,000", Scenario: "holdmax", Metric: "projected connections per 2 GiB task (memory only)", Bound: 150_000},
		{Name: "Pusher fan-out 5k x 10/s through the HTTP API, latency p99: at most 1.1x the /wss fan-out's (fanout5k, Go, this run)",
			Scenario: "pusher-fanout5k", Metric: "latency p99", Ratio: true, Baseline: "fanout5k", AtMost: true, Bound: 1.1},
		{Name: "Pusher fan-out 5k x 10/s, server CPU per delivery: at most 1.1x the /wss fan-out's (fanout5k, Go, this run)",
			Scenario: "pusher-fanout5k", Metric: "server CPU per delivered message", Ratio: true, Baseline: "fanout5k", AtMost: true, Bound: 1.1},
		{Name: "Pusher: RSS per idle connection subscribed to one channel, 10k held over 1k channels: at most 8 KiB",
			Scenario: "pusher-hold10k", Metric: "server RSS growth per connection", AtMost: true, Bound: 8},
		{Name: "Pusher 10k connections over 1k channels: every event delivered",
			Scenario: "pusher-channels10k", Metric: "delivered / expected", Bound: 1},
		{Name: "Pusher presence churn: every channel's members converge",
			Scenario: "pusher-presence", Metric: "channels whose members did not converge", AtMost: true, Bound: 0},
	}
}
