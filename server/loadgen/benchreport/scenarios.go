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
		{"hold10k", "Hold 10,000 idle connections", hold},
		{"fanout1k", "Fan-out: 1,000 subscribers x 50 msg/s", fanout},
		{"fanout5k", "Fan-out: 5,000 subscribers x 10 msg/s", fanout},
		{"churn", "Churn: 32 workers connect, greet, close", []Metric{
			{"connections per second", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.ConnectsPerSec, true }},
			{"connect latency p50", "ms", true, connectP50},
			{"connect latency p99", "ms", true, connectP99},
			genCPU(),
		}},
		{"throughput", "Throughput: 100 closed-loop clients", []Metric{
			{"deliveries per second", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.DeliveredPerSec, true }},
			{"round trips per second", "/s", false, func(r *loadgen.Result) (float64, bool) { return r.RoundTripsPerSec, true }},
			{"round trip p50", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P50Us })},
			{"round trip p99", "ms", true, lat(func(l *loadgen.LatencySummary) int64 { return l.P99Us })},
			{"server CPU per delivered message", "µs", true, server(func(s *loadgen.ServerUsage) float64 { return s.CPUMicrosPerMsg })},
			genCPU(),
		}},
		{"holdmax", "Hold as many idle connections as one process may open (~19,000)", hold},
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
// in the same run, because absolute figures move severalfold between
// machines of the same kind.
type Goal struct {
	Name     string
	Scenario string // a Scenario.Name
	Metric   string // a Metric.Name of that scenario
	// Ratio applies Bound to Go's median over Node's rather than to Go's.
	Ratio bool
	// AtMost is true when the number must not exceed Bound, false when it
	// must reach it.
	AtMost bool
	Bound  float64
}

// Goals are the targets of the performance issue (#6).
func Goals() []Goal {
	return []Goal{
		{"RSS per idle connection, 10k held: at most 8 KiB (must: 12)", "hold10k", "server RSS growth per connection", false, true, 8},
		{"fan-out 5k x 10/s, latency p99: at most 1/3 of Node's", "fanout5k", "latency p99", true, true, 1.0 / 3},
		{"fan-out 5k x 10/s, server CPU per delivery: at most 1/2 of Node's (3.5 µs against 7.0 where the issue measured)", "fanout5k", "server CPU per delivered message", true, true, 0.5},
		{"throughput, 100 closed-loop clients: at least 1.5x Node's", "throughput", "deliveries per second", true, false, 1.5},
		{"churn, 32 workers: at least 2x Node's", "churn", "connections per second", true, false, 2},
		{"idle connections per 2 GiB task, projected from ~19k held: at least 150,000", "holdmax", "projected connections per 2 GiB task (memory only)", false, false, 150_000},
	}
}
