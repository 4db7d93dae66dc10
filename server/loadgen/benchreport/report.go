package benchreport

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/wsfargate/websocket-service/server/loadgen"
)

// Stat is one number over the runs of a target.
type Stat struct {
	Median float64   `json:"median"`
	Values []float64 `json:"values"`
}

// Row is one metric of a scenario, both targets side by side.
type Row struct {
	Metric        string `json:"metric"`
	Unit          string `json:"unit,omitempty"`
	LowerIsBetter bool   `json:"lower_is_better"`
	Go            *Stat  `json:"go,omitempty"`
	Node          *Stat  `json:"node,omitempty"`
	// Ratio is Go's median over Node's; nil when either is missing,
	// Node's is zero or either is negative.
	Ratio *float64 `json:"go_over_node,omitempty"`
}

// ScenarioReport is the outcome of one scenario.
type ScenarioReport struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	Rows  []Row  `json:"rows"`
	// Commands maps a target to the loadgen command line that ran it.
	Commands map[string]string `json:"commands"`
	// Errors sums each target's error counts over all runs.
	Errors map[string]map[string]int64 `json:"errors,omitempty"`
	// Interrupted counts runs that did not finish.
	Interrupted int `json:"interrupted,omitempty"`
	// GoOnly and Note are the Scenario's.
	GoOnly bool   `json:"go_only,omitempty"`
	Note   string `json:"note,omitempty"`
}

// GoalResult is one Goal against this run's medians.
type GoalResult struct {
	Goal
	// Value is what the goal is checked against (Go's median, or Go over
	// Node); nil when the run lacks it.
	Value *float64 `json:"value,omitempty"`
	Met   bool     `json:"met"`
	// Go and Against are the medians behind Value: Go's, and Node's or,
	// with a Baseline, the Go server's in that scenario. Unit is theirs.
	Go      *float64 `json:"go,omitempty"`
	Against *float64 `json:"against,omitempty"`
	Unit    string   `json:"unit,omitempty"`
	// BesideRows are the rows of the Goal's Beside metrics, in its order;
	// a metric the run lacks has a row without figures.
	BesideRows []Row `json:"beside_rows,omitempty"`
}

// Report is everything REPORT.md and results.json show.
type Report struct {
	// Meta holds what bench/run.sh recorded about the machine and the run:
	// DATE, NPROC, CPU_MODEL, KERNEL, GO_VERSION, NODE_VERSION, RUNS,
	// QUICK, TARGETS and the like.
	Meta      map[string]string `json:"meta"`
	Scenarios []ScenarioReport  `json:"scenarios"`
	// Goals says, target by target, whether this run met it.
	Goals []GoalResult `json:"goals"`
	// Servers maps a target to the command line that started it.
	Servers map[string]string `json:"servers"`
	GoBench string            `json:"go_bench,omitempty"`
}

// Build reads the results under dir:
//
//	meta.env                          KEY=VALUE lines
//	commands.tsv                      scenario TAB target TAB command
//	gobench.txt                       go test -bench output (optional)
//	<scenario>/<target>/run<N>.json   loadgen -json output
func Build(dir string) (*Report, error) {
	meta, err := readKV(filepath.Join(dir, "meta.env"))
	if err != nil {
		return nil, err
	}
	cmds, err := readCommands(filepath.Join(dir, "commands.tsv"))
	if err != nil {
		return nil, err
	}
	rep := &Report{Meta: meta, Servers: map[string]string{}}
	for k, c := range cmds {
		if k[0] == "server" {
			rep.Servers[k[1]] = c // go, node, and the Go server's Pusher variants
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "gobench.txt")); err == nil {
		rep.GoBench = strings.TrimRight(string(b), "\n")
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read go benchmarks: %w", err)
	}
	for _, sc := range Scenarios() {
		sr := ScenarioReport{Name: sc.Name, Title: sc.Title, Commands: map[string]string{}, GoOnly: sc.GoOnly, Note: sc.Note}
		results := map[string][]*loadgen.Result{}
		for _, t := range []string{TargetGo, TargetNode} {
			rs, err := readRuns(filepath.Join(dir, sc.Name, t))
			if err != nil {
				return nil, err
			}
			results[t] = rs
			if c, ok := cmds[[2]string{sc.Name, t}]; ok {
				sr.Commands[t] = c
			}
			for _, r := range rs {
				if r.Interrupted {
					sr.Interrupted++
				}
				for k, v := range r.Errors {
					if sr.Errors == nil {
						sr.Errors = map[string]map[string]int64{}
					}
					if sr.Errors[t] == nil {
						sr.Errors[t] = map[string]int64{}
					}
					sr.Errors[t][k] += v
				}
			}
		}
		if len(results[TargetGo]) == 0 && len(results[TargetNode]) == 0 {
			continue
		}
		for _, m := range sc.Metrics {
			row := Row{Metric: m.Name, Unit: m.Unit, LowerIsBetter: m.LowerIsBetter}
			row.Go = stat(results[TargetGo], m)
			row.Node = stat(results[TargetNode], m)
			row.Ratio = ratio(row.Go, row.Node)
			sr.Rows = append(sr.Rows, row)
		}
		rep.Scenarios = append(rep.Scenarios, sr)
	}
	for _, g := range Goals() {
		rep.Goals = append(rep.Goals, rep.check(g))
	}
	return rep, nil
}

// check finds the number g is about and compares it with the bound.
func (rep *Report) check(g Goal) GoalResult {
	res := GoalResult{Goal: g}
	row := rep.row(g.Scenario, g.Metric)
	if row != nil {
		res.Unit = row.Unit
		res.Go = medianOf(row.Go)
	}
	switch {
	case row == nil:
	case g.Baseline != "":
		if base := rep.row(g.Baseline, g.Metric); base != nil {
			res.Against = medianOf(base.Go)
		}
		if res.Go != nil && res.Against != nil && *res.Against != 0 {
			r := *res.Go / *res.Against
			res.Value = &r
		}
	case g.Ratio:
		res.Against = medianOf(row.Node)
		res.Value = row.Ratio
	default:
		res.Value = res.Go
	}
	for _, b := range g.Beside {
		if r := rep.row(g.Scenario, b.Metric); r != nil {
			res.BesideRows = append(res.BesideRows, *r)
		} else {
			res.BesideRows = append(res.BesideRows, Row{Metric: b.Metric})
		}
	}
	switch v := res.Value; {
	case v == nil:
	case g.AtMost:
		res.Met = *v <= g.Bound
	default:
		res.Met = *v >= g.Bound
	}
	return res
}

// ratio is goV's median over nodeV's. It compares two costs or two rates:
// a figure below zero (a host-wide counter that other work on the host
// moved down) has no ratio, nor has a zero denominator.
func ratio(goV, nodeV *Stat) *float64 {
	if goV == nil || nodeV == nil || nodeV.Median <= 0 || goV.Median < 0 {
		return nil
	}
	r := goV.Median / nodeV.Median
	return &r
}

// medianOf is s's median, or nil.
func medianOf(s *Stat) *float64 {
	if s == nil {
		return nil
	}
	return &s.Median
}

// row returns the row of metric in scenario, or nil.
func (rep *Report) row(scenario, metric string) *Row {
	for _, sc := range rep.Scenarios {
		if sc.Name != scenario {
			continue
		}
		for i := range sc.Rows {
			if sc.Rows[i].Metric == metric {
				return &sc.Rows[i]
			}
		}
	}
	return nil
}

// stat is the median of m over the runs that measured it.
func stat(rs []*loadgen.Result, m Metric) *Stat {
	var vals []float64
	for _, r := range rs {
		if v, ok := m.Get(r); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return nil
	}
	return &Stat{Median: median(vals), Values: vals}
}

func median(vals []float64) float64 {
	s := slices.Clone(vals)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// readRuns reads every run<N>.json in dir, in run order; a missing dir is
// a target that was not benchmarked.
func readRuns(dir string) ([]*loadgen.Result, error) {
	names, err := filepath.Glob(filepath.Join(dir, "run*.json"))
	if err != nil {
		return nil, err
	}
	// run3.discarded.json and the like are runs the harness set aside.
	names = slices.DeleteFunc(names, func(n string) bool { return runNumber(n) < 0 })
	sort.Slice(names, func(i, j int) bool { return runNumber(names[i]) < runNumber(names[j]) })
	var out []*loadgen.Result
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("read result: %w", err)
		}
		var r loadgen.Result
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: not a loadgen result: %w", n, err)
		}
		out = append(out, &r)
	}
	return out, nil
}

// runNumber is N of runN.json, or -1 for any other name.
func runNumber(path string) int {
	s := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "run"), ".json")
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

func readKV(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read run metadata: %w", err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: line %q is not KEY=VALUE", path, line)
		}
		m[k] = v
	}
	return m, sc.Err()
}

func readCommands(path string) (map[[2]string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read commands: %w", err)
	}
	defer f.Close()
	m := map[[2]string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "\t", 3)
		if len(parts) != 3 {
			continue
		}
		m[[2]string{parts[0], parts[1]}] = parts[2]
	}
	return m, sc.Err()
}

// Render executes the report template.
func Render(w io.Writer, tmpl string, rep *Report) error {
	t, err := template.New("report").Funcs(template.FuncMap{
		"num":         formatNum,
		"ratio":       formatRatio,
		"stat":        formatStat,
		"goal":        formatGoalValue,
		"goalGo":      func(g GoalResult) string { return formatGoalSide(g, true) },
		"goalAgainst": func(g GoalResult) string { return formatGoalSide(g, false) },
		"kinds": func(m map[string]int64) string {
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			parts := make([]string, len(keys))
			for i, k := range keys {
				parts[i] = fmt.Sprintf("%s %d", k, m[k])
			}
			return strings.Join(parts, ", ")
		},
	}).Parse(tmpl)
	if err != nil {
		return fmt.Errorf("parse report template: %w", err)
	}
	if err := t.Execute(w, rep); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	return nil
}

// formatNum prints three significant digits or whole numbers, whichever is
// longer: 0.00123, 1.23, 12.3, 1234.
func formatNum(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 100:
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func formatStat(s *Stat) string {
	if s == nil {
		return "—"
	}
	return formatNum(s.Median)
}

func formatRatio(r *float64) string {
	if r == nil {
		return "—"
	}
	return strconv.FormatFloat(*r, 'f', 2, 64) + "x"
}

// formatGoalValue prints what a goal was checked against.
func formatGoalValue(g GoalResult) string {
	switch {
	case g.Value == nil:
		return "not measured"
	case g.Baseline != "":
		return formatRatio(g.Value) + " " + g.Baseline
	case g.Ratio:
		return formatRatio(g.Value) + " Node"
	}
	return formatNum(*g.Value)
}

// formatGoalSide prints one side of a goal's comparison, Go's or the
// other's (Node's, or the baseline scenario's), with its unit and its
// Beside figures.
func formatGoalSide(g GoalResult, goSide bool) string {
	v := g.Against
	if goSide {
		v = g.Go
	}
	if v == nil {
		return "—"
	}
	out := formatNum(*v) + withUnit(g.Unit)
	if !goSide && g.Baseline != "" {
		out += " (" + g.Baseline + ")"
	}
	if len(g.BesideRows) == 0 || !goSide && g.Baseline != "" {
		return out
	}
	parts := make([]string, 0, len(g.BesideRows))
	measured := false
	for i, r := range g.BesideRows {
		st := r.Node
		if goSide {
			st = r.Go
		}
		label := r.Metric
		if i < len(g.Beside) {
			label = g.Beside[i].Label
		}
		if st == nil {
			parts = append(parts, label+" —")
			continue
		}
		measured = true
		parts = append(parts, label+" "+formatNum(st.Median)+withUnit(r.Unit))
	}
	if !measured {
		return out + " (" + g.BesideLabel + ": not measured)"
	}
	return out + " (" + g.BesideLabel + ": " + strings.Join(parts, ", ") + ")"
}

// withUnit is the unit to print after a number.
func withUnit(unit string) string {
	switch unit {
	case "":
		return ""
	case "%", "/s":
		return unit
	}
	return " " + unit
}

// Main is `loadgen report`: it builds the report from -dir and writes the
// markdown and the JSON.
func Main(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "results folder written by bench/run.sh")
	tmplPath := fs.String("template", "bench/REPORT.md.tmpl", "report template (text/template)")
	mdPath := fs.String("o", "bench/REPORT.md", "markdown report to write")
	jsonPath := fs.String("json", "bench/results.json", "machine-readable results to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("-dir is required")
	}
	rep, err := Build(*dir)
	if err != nil {
		return err
	}
	tmpl, err := os.ReadFile(*tmplPath)
	if err != nil {
		return fmt.Errorf("-template: %w", err)
	}
	var md strings.Builder
	if err := Render(&md, string(tmpl), rep); err != nil {
		return err
	}
	if err := os.WriteFile(*mdPath, []byte(md.String()), 0o644); err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(*jsonPath, append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("-json: %w", err)
	}
	return nil
}
