package benchreport

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsfargate/websocket-service/server/loadgen"
)

// writeRun stores r as run<n>.json of scenario and target under dir.
func writeRun(t *testing.T, dir, scenario, target string, n int, r loadgen.Result) {
	t.Helper()
	d := filepath.Join(dir, scenario, target)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "run"+string(rune('0'+n))+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"meta.env": "DATE=2026-11-28\nNPROC=2\nCPU_MODEL=Test CPU\nRUNS=3\nQUICK=0\nTARGETS=go node\n",
		"commands.tsv": "server\tgo\tbin/wsserver\nserver\tnode\tnode bench/node/server.js\nserver\tgo-pusher\tenv PUSHER_APP_ID=bench bin/wsserver\n" +
			"churn\tgo\tloadgen churn A\nchurn\tnode\tloadgen churn B\npusher-fanout5k\tgo\tloadgen pusher-fanout C\n",
		"gobench.txt": "BenchmarkBroadcast-2   1000   1234 ns/op",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Churn: Go 300, 100, 200 conn/s (median 200); Node 100, 50 (median
	// 75). Server CPU per lifecycle: Go 30 µs (10 user, 20 sys) against
	// Node 90 (60 user, 30 sys), a third of Node's.
	for i, v := range []float64{300, 100, 200} {
		writeRun(t, dir, "churn", TargetGo, i+1, loadgen.Result{Mode: loadgen.ModeChurn, ConnectsPerSec: v,
			Server: split(func(u *loadgen.ServerUsage) {
				u.CPUMicrosPerConn, u.CPUUserMicrosPerConn, u.CPUSysMicrosPerConn = 30, 10, 20
			})})
	}
	for i, v := range []float64{100, 50} {
		writeRun(t, dir, "churn", TargetNode, i+1, loadgen.Result{Mode: loadgen.ModeChurn, ConnectsPerSec: v,
			Server: split(func(u *loadgen.ServerUsage) {
				u.CPUMicrosPerConn, u.CPUUserMicrosPerConn, u.CPUSysMicrosPerConn = 90, 60, 30
			}),
			Errors: map[string]int64{"http_503": 2}, ErrorTotal: 2})
	}
	// A run the harness discarded must not count.
	if err := os.WriteFile(filepath.Join(dir, "churn", TargetGo, "run4.discarded.json"), []byte(`{"connects_per_s":1e9}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// Fan-out 5k: p99 10 ms against Node's 9; user CPU per delivery 2 µs
	// against 5, more than a third of Node's. The Pusher fan-out compared
	// with Go's: p99 8 ms against 10 ms, CPU 4.4 µs against 4.0.
	writeRun(t, dir, "fanout5k", TargetGo, 1, loadgen.Result{Mode: loadgen.ModeFanout, Latency: &loadgen.LatencySummary{P99Us: 10000},
		Server: split(func(u *loadgen.ServerUsage) { u.CPUMicrosPerMsg, u.CPUUserMicrosPerMsg, u.CPUSysMicrosPerMsg = 4, 2, 2 })})
	writeRun(t, dir, "fanout5k", TargetNode, 1, loadgen.Result{Mode: loadgen.ModeFanout, Latency: &loadgen.LatencySummary{P99Us: 9000},
		Server: split(func(u *loadgen.ServerUsage) { u.CPUMicrosPerMsg, u.CPUUserMicrosPerMsg, u.CPUSysMicrosPerMsg = 8, 5, 3 })})
	writeRun(t, dir, "pusher-fanout5k", TargetGo, 1, loadgen.Result{Mode: loadgen.ModePusherFanout, Latency: &loadgen.LatencySummary{P99Us: 8000},
		Server: &loadgen.ServerUsage{CPUSeconds: 1, CPUMicrosPerMsg: 4.4}, APILatency: &loadgen.LatencySummary{P99Us: 2500}, Expected: 10, Delivered: 10, DeliveredRatio: 1})
	// Throughput: Go 3 µs per delivery against Node's 5, Node's from a
	// loadgen that recorded no user and system parts.
	writeRun(t, dir, "throughput", TargetGo, 1, loadgen.Result{Mode: loadgen.ModeThroughput,
		Server: split(func(u *loadgen.ServerUsage) { u.CPUMicrosPerMsg, u.CPUUserMicrosPerMsg, u.CPUSysMicrosPerMsg = 3, 1, 2 })})
	if err := os.MkdirAll(filepath.Join(dir, "throughput", TargetNode), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "throughput", TargetNode, "run1.json"),
		[]byte(`{"mode":"throughput","server":{"pid":5,"cpu_seconds":2,"cpu_percent":40,"cpu_us_per_msg":5}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// Hold 10k: RSS 8 KiB a connection against Node's 10; the kernel's,
	// both ends: buffers 0.4 and 0.2 KiB, structs 3.2 and 3.2.
	writeRun(t, dir, "hold10k", TargetGo, 1, loadgen.Result{Mode: loadgen.ModeHold, Held: 1000,
		Server: &loadgen.ServerUsage{Before: loadgen.ProcSample{RSSKiB: 8000}, KiBPerConn: 8},
		Kernel: kernelSockets(2000, 0.4, 3.2)})
	writeRun(t, dir, "hold10k", TargetNode, 1, loadgen.Result{Mode: loadgen.ModeHold, Held: 1000,
		Server: &loadgen.ServerUsage{Before: loadgen.ProcSample{RSSKiB: 40000}, KiBPerConn: 10},
		Kernel: kernelSockets(2002, 0.2, 3.2)})
	// The largest hold, Node only, with server usage for the projection.
	writeRun(t, dir, "holdmax", TargetNode, 1, loadgen.Result{Mode: loadgen.ModeHold, Held: 1000,
		Server: &loadgen.ServerUsage{Before: loadgen.ProcSample{RSSKiB: 48576}, KiBPerConn: 10}})
	return dir
}

// split is server usage with user and system parts recorded; set fills
// in its per-unit figures.
func split(set func(u *loadgen.ServerUsage)) *loadgen.ServerUsage {
	u := &loadgen.ServerUsage{CPUSeconds: 3, UserCPUSeconds: 1, SysCPUSeconds: 2, CPUPercent: 30}
	set(u)
	return u
}

// kernelSockets are the kernel figures of a loopback hold of 1,000
// connections, both ends.
func kernelSockets(tcpInUse int64, memKiBPerConn, slabKiBPerConn float64) *loadgen.KernelSockets {
	return &loadgen.KernelSockets{BothEnds: true, PageSize: 4096,
		TCPInUseDelta: tcpInUse, TCPMemKiBPerConn: memKiBPerConn, TCPMemKiBPerConnHalf: ptr(memKiBPerConn / 2),
		SlabKiBPerConn: slabKiBPerConn, SlabKiBPerConnHalf: ptr(slabKiBPerConn / 2)}
}

func TestBuild(t *testing.T) {
	rep, err := Build(fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Scenarios) != 6 {
		t.Fatalf("%d scenarios, want the 6 with results", len(rep.Scenarios))
	}
	byName := map[string]ScenarioReport{}
	for _, s := range rep.Scenarios {
		byName[s.Name] = s
	}
	churn := byName["churn"].Rows[0]
	if churn.Go.Median != 200 || len(churn.Go.Values) != 3 || churn.Node.Median != 75 {
		t.Errorf("medians go %v node %v, want 200 and 75", churn.Go, churn.Node)
	}
	if churn.Ratio == nil || *churn.Ratio != 200.0/75 {
		t.Errorf("ratio %v, want %v", churn.Ratio, 200.0/75)
	}
	if got := byName["churn"].Errors[TargetNode]["http_503"]; got != 4 {
		t.Errorf("node http_503 over runs = %d, want 4", got)
	}
	if byName["churn"].Commands[TargetGo] != "loadgen churn A" {
		t.Errorf("commands %v", byName["churn"].Commands)
	}
	proj := findRow(byName["holdmax"], "projected connections per 2 GiB task (memory only)")
	if proj == nil || proj.Node == nil || proj.Node.Median != float64(TaskMemoryKiB-48576)/10 || proj.Go != nil || proj.Ratio != nil {
		t.Errorf("projection row %+v, want node only: (2 GiB - 48576 KiB) / 10 KiB", proj)
	}

	tests := []struct {
		scenario, metric string
		goV, nodeV       *float64 // nil: not measured
	}{
		{"churn", "server CPU per connection lifecycle", ptr(30), ptr(90)},
		{"churn", "server user CPU per connection lifecycle", ptr(10), ptr(60)},
		{"churn", "server system CPU per connection lifecycle", ptr(20), ptr(30)},
		{"fanout5k", "server user CPU per delivered message", ptr(2), ptr(5)},
		{"fanout5k", "server system CPU per delivered message", ptr(2), ptr(3)},
		// Node's result predates the split: its total only.
		{"throughput", "server CPU per delivered message", ptr(3), ptr(5)},
		{"throughput", "server user CPU per delivered message", ptr(1), nil},
		{"throughput", "server system CPU per delivered message", ptr(2), nil},
		{"hold10k", "kernel TCP sockets in use added per connection (2: both ends)", ptr(2), ptr(2.002)},
		{"hold10k", "kernel TCP buffer memory per connection, both ends", ptr(0.4), ptr(0.2)},
		{"hold10k", "kernel TCP buffer memory per connection, server's half", ptr(0.2), ptr(0.1)},
		{"hold10k", "kernel socket structs per connection (TCP + sock_inode_cache slabs), both ends", ptr(3.2), ptr(3.2)},
		{"hold10k", "kernel socket structs per connection, server's half", ptr(1.6), ptr(1.6)},
		{"holdmax", "kernel TCP buffer memory per connection, both ends", nil, nil}, // no kernel figures
	}
	for _, tt := range tests {
		row := findRow(byName[tt.scenario], tt.metric)
		if row == nil {
			t.Errorf("%s: no row %q", tt.scenario, tt.metric)
			continue
		}
		for _, side := range []struct {
			name string
			got  *Stat
			want *float64
		}{{"go", row.Go, tt.goV}, {"node", row.Node, tt.nodeV}} {
			if (side.got == nil) != (side.want == nil) || side.got != nil && side.got.Median != *side.want {
				t.Errorf("%s / %s, %s: %+v, want %v", tt.scenario, tt.metric, side.name, side.got, side.want)
			}
		}
	}
}

func findRow(s ScenarioReport, metric string) *Row {
	for i := range s.Rows {
		if s.Rows[i].Metric == metric {
			return &s.Rows[i]
		}
	}
	return nil
}

func TestKernelMetrics(t *testing.T) {
	structs := kernel(false, kernelHalf(func(k *loadgen.KernelSockets) *float64 { return k.SlabKiBPerConnHalf }))
	buffers := kernel(true, kernelHalf(func(k *loadgen.KernelSockets) *float64 { return k.TCPMemKiBPerConnHalf }))
	tests := []struct {
		name                string
		k                   *loadgen.KernelSockets
		wantBuffers, wantSt bool
	}{
		{"both read", kernelSockets(2000, 0.4, 3.2), true, true},
		{"a result without them", nil, false, false},
		{"server elsewhere", &loadgen.KernelSockets{TCPMemKiBPerConn: 1, SlabKiBPerConn: 3}, false, false},
		{"sockstat unreadable", &loadgen.KernelSockets{BothEnds: true, SockstatError: "gone", SlabKiBPerConnHalf: ptr(1.6)}, false, true},
		{"slabinfo unreadable", &loadgen.KernelSockets{BothEnds: true, SlabError: "permission denied", TCPMemKiBPerConnHalf: ptr(0.1)}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &loadgen.Result{Held: 1000, Kernel: tt.k}
			if _, ok := buffers(r); ok != tt.wantBuffers {
				t.Errorf("buffers measured %v, want %v", ok, tt.wantBuffers)
			}
			if _, ok := structs(r); ok != tt.wantSt {
				t.Errorf("structs measured %v, want %v", ok, tt.wantSt)
			}
		})
	}
}

func TestRenderWithTheBenchTemplate(t *testing.T) {
	tmpl, err := os.ReadFile("../../../bench/REPORT.md.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Build(fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Render(&b, string(tmpl), rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| connections per second (/s) | 200 | 75.0 | 2.67x |",
		"| CPU model | Test CPU |",
		"**node**: http_503 4;",
		"- go: `loadgen churn A`",
		"BenchmarkBroadcast-2",
		"| projected connections per 2 GiB task (memory only) | — | 204858 | — |",
		// The targets: Go's and Node's figures, the ratio, met or not.
		"| RSS per idle connection, 10k held: at most Node's (Go/Node ≤ 1.0) | 8.00 KiB (kernel, server's half: buffers 0.2 KiB, structs 1.60 KiB) | 10.0 KiB (kernel, server's half: buffers 0.1 KiB, structs 1.60 KiB) | 0.80x Node | yes |",
		"| churn: server CPU per connection lifecycle (open, greeting, close): at most 1/2 of Node's | 30.0 µs | 90.0 µs | 0.33x Node | yes |",
		"| fan-out 5k x 10/s: server user CPU per delivery: at most 0.33 of Node's | 2.00 µs | 5.00 µs | 0.40x Node | **no** |",
		"| throughput, 100 closed-loop clients: server CPU (user+sys) per delivery: at most 1/2 of Node's | 3.00 µs | 5.00 µs | 0.60x Node | **no** |",
		"| fan-out 5k x 10/s, latency p99: at most 1.2x Node's | 10.0 ms | 9.00 ms | 1.11x Node | yes |",
		"| Pusher: RSS per idle connection subscribed to one channel, 10k held over 1k channels: at most 8 KiB | — | — | not measured | **no** |",
		// The scenario tables' user and system rows, and the kernel's.
		"| server user CPU per connection lifecycle (µs) ↓ | 10.0 | 60.0 | 0.17x |",
		"| server system CPU per connection lifecycle (µs) ↓ | 20.0 | 30.0 | 0.67x |",
		"| server user CPU per delivered message (µs) ↓ | 1.00 | — | — |", // Node's result predates the split
		"| kernel socket structs per connection, server's half (KiB) ↓ | 1.60 | 1.60 | 1.00x |",
		"on loopback they count both ends of each connection",
		// A Go-only scenario has no Node column, and its goals compare
		// with the Go server's own scenario.
		"| latency p99 (ms) ↓ | 8.00 |\n",
		"| API request round trip p99 (ms) ↓ | 2.50 |",
		"| server user CPU per delivered message (µs) ↓ | — |\n",
		"| Pusher fan-out 5k x 10/s through the HTTP API, latency p99: at most 1.1x the /wss fan-out's (fanout5k, Go, this run) | 8.00 ms | 10.0 ms (fanout5k) | 0.80x fanout5k | yes |",
		"| Pusher fan-out 5k x 10/s, server CPU per delivery: at most 1.1x the /wss fan-out's (fanout5k, Go, this run) | 4.40 µs | 4.00 µs (fanout5k) | 1.10x fanout5k | yes |",
		"Compared with the Go server's own /wss fan-out",
		"- go-pusher: `env PUSHER_APP_ID=bench bin/wsserver`",
		"- go: `loadgen pusher-fanout C`",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// The fixture has both targets for churn, fanout5k, throughput and
// hold10k, Go only for pusher-fanout5k, and Node only for holdmax.
func TestGoals(t *testing.T) {
	rep, err := Build(fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]GoalResult{}
	for _, g := range rep.Goals {
		got[g.Scenario+"/"+g.Metric] = g
	}
	if len(rep.Goals) != len(Goals()) {
		t.Fatalf("%d goal results, want one per goal (%d)", len(rep.Goals), len(Goals()))
	}
	tests := []struct {
		key         string
		value       *float64 // nil: not measured
		met         bool
		goV, againV *float64
	}{
		{"hold10k/server RSS growth per connection", ptr(0.8), true, ptr(8), ptr(10)},
		{"churn/server CPU per connection lifecycle", ptr(30.0 / 90), true, ptr(30), ptr(90)},
		{"fanout5k/server user CPU per delivered message", ptr(2.0 / 5), false, ptr(2), ptr(5)}, // above 0.33
		{"throughput/server CPU per delivered message", ptr(3.0 / 5), false, ptr(3), ptr(5)},    // above 0.5
		{"fanout5k/latency p99", ptr(10.0 / 9), true, ptr(10), ptr(9)},
		{"pusher-fanout5k/latency p99", ptr(8.0 / 10), true, ptr(8), ptr(10)},
		{"pusher-hold10k/server RSS growth per connection", nil, false, nil, nil},
	}
	for _, tt := range tests {
		g, ok := got[tt.key]
		switch {
		case !ok:
			t.Errorf("%s: no goal", tt.key)
		case !sameFloat(g.Value, tt.value) || g.Met != tt.met:
			t.Errorf("%s: value %v met %v, want %v %v", tt.key, deref(g.Value), g.Met, deref(tt.value), tt.met)
		case !sameFloat(g.Go, tt.goV) || !sameFloat(g.Against, tt.againV):
			t.Errorf("%s: go %v against %v, want %v and %v", tt.key, deref(g.Go), deref(g.Against), deref(tt.goV), deref(tt.againV))
		}
	}
	// The RSS goal shows the kernel's memory per connection beside it.
	rss := got["hold10k/server RSS growth per connection"]
	if len(rss.BesideRows) != 2 || rss.BesideRows[1].Go == nil || rss.BesideRows[1].Go.Median != 1.6 || rss.BesideRows[0].Node == nil || rss.BesideRows[0].Node.Median != 0.1 {
		t.Errorf("beside rows %+v, want the kernel's buffers and structs, server's half", rss.BesideRows)
	}
	// Each bound's direction, on made-up values either side of it.
	for _, g := range Goals() {
		below, above := g.Bound*0.9, g.Bound*1.1
		for v, want := range map[float64]bool{below: g.AtMost, above: !g.AtMost, g.Bound: true} {
			rep := &Report{Scenarios: []ScenarioReport{{Name: g.Scenario, Rows: []Row{{Metric: g.Metric, Go: &Stat{Median: v}, Ratio: ptr(v)}}}}}
			if g.Baseline != "" {
				rep.Scenarios = append(rep.Scenarios, ScenarioReport{Name: g.Baseline, Rows: []Row{{Metric: g.Metric, Go: &Stat{Median: 1}}}})
			}
			if r := rep.check(g); r.Met != want {
				t.Errorf("%s at %v: met %v, want %v", g.Name, v, r.Met, want)
			}
		}
	}
}

func ptr(v float64) *float64 { return &v }

// sameFloat compares two optional figures, to rounding.
func sameFloat(a, b *float64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return math.Abs(*a-*b) <= 1e-12*math.Max(1, math.Abs(*b))
}

func deref(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

// Every goal must point at a metric its scenario reports: a renamed
// metric would otherwise leave the goal "not measured" for good.
func TestGoalsPointAtMetrics(t *testing.T) {
	metrics := map[string]map[string]bool{}
	for _, sc := range Scenarios() {
		metrics[sc.Name] = map[string]bool{}
		for _, m := range sc.Metrics {
			if metrics[sc.Name][m.Name] {
				t.Errorf("%s: metric %q twice", sc.Name, m.Name)
			}
			metrics[sc.Name][m.Name] = true
		}
	}
	for _, g := range Goals() {
		if !metrics[g.Scenario][g.Metric] {
			t.Errorf("goal %q: scenario %s has no metric %q", g.Name, g.Scenario, g.Metric)
		}
		if g.Baseline != "" && !metrics[g.Baseline][g.Metric] {
			t.Errorf("goal %q: baseline %s has no metric %q", g.Name, g.Baseline, g.Metric)
		}
		for _, b := range g.Beside {
			if !metrics[g.Scenario][b.Metric] {
				t.Errorf("goal %q: scenario %s has no metric %q to show beside", g.Name, g.Scenario, b.Metric)
			}
		}
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		name       string
		goV, nodeV *Stat
		want       *float64
	}{
		{"both", &Stat{Median: 3}, &Stat{Median: 6}, ptr(0.5)},
		{"go zero", &Stat{Median: 0}, &Stat{Median: 6}, ptr(0)},
		{"node zero", &Stat{Median: 3}, &Stat{Median: 0}, nil},
		{"node below zero", &Stat{Median: 0}, &Stat{Median: -1.02}, nil},
		{"go below zero", &Stat{Median: -0.5}, &Stat{Median: 1}, nil},
		{"go missing", nil, &Stat{Median: 1}, nil},
		{"node missing", &Stat{Median: 1}, nil, nil},
	}
	for _, tt := range tests {
		if got := ratio(tt.goV, tt.nodeV); !sameFloat(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, deref(got), deref(tt.want))
		}
	}
}

func TestFormatNum(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 0.001234: "0.00123", 1.234: "1.23", 12.34: "12.3", 1234.4: "1234", -5: "-5.00"} {
		if got := formatNum(in); got != want {
			t.Errorf("formatNum(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(dir string)
		wantErr string
	}{
		{"no metadata", func(dir string) { os.Remove(filepath.Join(dir, "meta.env")) }, "read run metadata"},
		{"bad metadata", func(dir string) { os.WriteFile(filepath.Join(dir, "meta.env"), []byte("oops\n"), 0o644) }, "not KEY=VALUE"},
		{"broken result", func(dir string) {
			os.WriteFile(filepath.Join(dir, "churn", TargetGo, "run9.json"), []byte("{"), 0o644)
		}, "not a loadgen result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := fixture(t)
			tt.prepare(dir)
			if _, err := Build(dir); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
}
