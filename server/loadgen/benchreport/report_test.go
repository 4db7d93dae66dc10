package benchreport

import (
	"bytes"
	"encoding/json"
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
	// Churn: Go 300, 100, 200 conn/s (median 200); Node 100, 50 (median 75).
	for i, v := range []float64{300, 100, 200} {
		writeRun(t, dir, "churn", TargetGo, i+1, loadgen.Result{Mode: loadgen.ModeChurn, ConnectsPerSec: v})
	}
	for i, v := range []float64{100, 50} {
		writeRun(t, dir, "churn", TargetNode, i+1, loadgen.Result{Mode: loadgen.ModeChurn, ConnectsPerSec: v,
			Errors: map[string]int64{"http_503": 2}, ErrorTotal: 2})
	}
	// A run the harness discarded must not count.
	if err := os.WriteFile(filepath.Join(dir, "churn", TargetGo, "run4.discarded.json"), []byte(`{"connects_per_s":1e9}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// Fan-out 5k, Go only, and the Pusher fan-out it is compared with:
	// p99 8 ms against 10 ms, CPU 4.4 µs against 4.0.
	writeRun(t, dir, "fanout5k", TargetGo, 1, loadgen.Result{Mode: loadgen.ModeFanout, Latency: &loadgen.LatencySummary{P99Us: 10000},
		Server: &loadgen.ServerUsage{CPUMicrosPerMsg: 4}})
	writeRun(t, dir, "pusher-fanout5k", TargetGo, 1, loadgen.Result{Mode: loadgen.ModePusherFanout, Latency: &loadgen.LatencySummary{P99Us: 8000},
		Server: &loadgen.ServerUsage{CPUMicrosPerMsg: 4.4}, APILatency: &loadgen.LatencySummary{P99Us: 2500}, Expected: 10, Delivered: 10, DeliveredRatio: 1})
	// Hold, Node only, with server usage for the projection.
	writeRun(t, dir, "hold10k", TargetNode, 1, loadgen.Result{Mode: loadgen.ModeHold, Held: 1000,
		Server: &loadgen.ServerUsage{Before: loadgen.ProcSample{RSSKiB: 48576}, KiBPerConn: 10}})
	return dir
}

func TestBuild(t *testing.T) {
	rep, err := Build(fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Scenarios) != 4 {
		t.Fatalf("%d scenarios, want the 4 with results", len(rep.Scenarios))
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
	var proj *Row
	for i, r := range byName["hold10k"].Rows {
		if strings.HasPrefix(r.Metric, "projected") {
			proj = &byName["hold10k"].Rows[i]
		}
	}
	if proj == nil || proj.Node == nil || proj.Node.Median != float64(TaskMemoryKiB-48576)/10 || proj.Go != nil || proj.Ratio != nil {
		t.Errorf("projection row %+v, want node only: (2 GiB - 48576 KiB) / 10 KiB", proj)
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
		"| churn, 32 workers: at least 2x Node's | 2.67x Node | yes |",
		"| RSS per idle connection, 10k held: at most 8 KiB (must: 12) | not measured | **no** |",
		// A Go-only scenario has no Node column, and its goals compare
		// with the Go server's own scenario.
		"| latency p99 (ms) ↓ | 8.00 |\n",
		"| API request round trip p99 (ms) ↓ | 2.50 |",
		"| Pusher fan-out 5k x 10/s through the HTTP API, latency p99: at most 1.1x the /wss fan-out's (fanout5k, Go, this run) | 0.80x fanout5k | yes |",
		"| Pusher fan-out 5k x 10/s, server CPU per delivery: at most 1.1x the /wss fan-out's (fanout5k, Go, this run) | 1.10x fanout5k | yes |",
		"Compared with the Go server's own /wss fan-out",
		"- go-pusher: `env PUSHER_APP_ID=bench bin/wsserver`",
		"- go: `loadgen pusher-fanout C`",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// The fixture has churn for both targets (Go 200/s over Node 75/s) and the
// 10k hold for Node only.
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
		key   string
		value *float64 // nil: not measured
		met   bool
	}{
		{"churn/connections per second", ptr(200.0 / 75), true},   // at least 2x
		{"hold10k/server RSS growth per connection", nil, false},  // Go not run
		{"throughput/deliveries per second", nil, false},          // not run at all
		{"fanout5k/server CPU per delivered message", nil, false}, // not run at all
		{"holdmax/projected connections per 2 GiB task (memory only)", nil, false},
		{"pusher-fanout5k/latency p99", ptr(8.0 / 10), true},
		{"pusher-hold10k/server RSS growth per connection", nil, false},
	}
	for _, tt := range tests {
		g, ok := got[tt.key]
		switch {
		case !ok:
			t.Errorf("%s: no goal", tt.key)
		case (g.Value == nil) != (tt.value == nil) || g.Value != nil && *g.Value != *tt.value || g.Met != tt.met:
			t.Errorf("%s: value %v met %v, want %v %v", tt.key, g.Value, g.Met, tt.value, tt.met)
		}
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
