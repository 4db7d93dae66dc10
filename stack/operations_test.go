package stack

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/wsfargate/websocket-service/server/contract"
	"github.com/wsfargate/websocket-service/stack/stacktest"
)

// serviceMetrics are the metrics the server writes in its EMF line, by
// their contract names; the dashboard and alarms may use no other name in
// the service's namespace.
var serviceMetrics = []string{contract.MetricConnections, contract.MetricMessagesIn, contract.MetricMessagesOut, contract.MetricEvictions}

// awsMetrics are the AWS metrics the dashboard and alarms may use, per
// namespace, with the dimension names each is published under (AWS
// documentation: ALB, CloudFront and Container Insights metrics).
var awsMetrics = map[string]map[string][][]string{
	albNamespace: {
		"RequestCount":              {{"LoadBalancer"}},
		"HTTPCode_ELB_5XX_Count":    {{"LoadBalancer"}},
		"HTTPCode_Target_4XX_Count": {{"TargetGroup", "LoadBalancer"}, {"LoadBalancer"}},
		"HTTPCode_Target_5XX_Count": {{"TargetGroup", "LoadBalancer"}, {"LoadBalancer"}},
		"HealthyHostCount":          {{"TargetGroup", "LoadBalancer"}},
		"UnHealthyHostCount":        {{"TargetGroup", "LoadBalancer"}},
	},
	cloudFrontNamespace: {
		"4xxErrorRate": {{"DistributionId", "Region"}},
		"5xxErrorRate": {{"DistributionId", "Region"}},
	},
	insightsNamespace: {
		"RunningTaskCount": {{"ClusterName", "ServiceName"}},
	},
	// A CLOUDFRONT web ACL's metrics (in us-east-1) carry no Region
	// dimension; a regional one's would.
	wafNamespace: {
		"AllowedRequests": {{"WebACL", "Rule"}},
		"BlockedRequests": {{"WebACL", "Rule"}},
		"CountedRequests": {{"WebACL", "Rule"}},
	},
}

// usedMetric is one metric reference, from the dashboard or an alarm.
type usedMetric struct {
	where, namespace, name string
	dims                   map[string]string
	dimOrder               []string
}

// checkMetricRef fails the test unless m names a metric that exists with
// the dimensions this stack's resources have.
func checkMetricRef(t *testing.T, m usedMetric, cfg Config) {
	t.Helper()
	physical := cfg.ResourceName("dev")
	wantValues := map[string]string{
		contract.MetricDimension: physical, // also Container Insights' ServiceName
		"ClusterName":            physical,
		"LoadBalancer":           stacktest.ALBArnSuffix,
		"TargetGroup":            stacktest.TargetGroupArnSuffix,
		"DistributionId":         stacktest.DistributionID,
		"Region":                 "Global",
		"WebACL":                 physical,
	}
	for k, v := range m.dims {
		// Rule is ALL (the web ACL's totals) or one of its rules.
		if k == "Rule" && (v == wafAllRules || slices.Contains(wafRules, v)) {
			continue
		}
		if wantValues[k] != v {
			t.Errorf("%s: %s/%s dimension %s=%q, want %q", m.where, m.namespace, m.name, k, v, wantValues[k])
		}
	}
	if m.namespace == contract.MetricNamespace {
		if !slices.Contains(serviceMetrics, m.name) {
			t.Errorf("%s: metric %s/%s is not one the server writes (%v): use the contract constants", m.where, m.namespace, m.name, serviceMetrics)
		}
		if !slices.Equal(m.dimOrder, []string{contract.MetricDimension}) {
			t.Errorf("%s: %s/%s with dimensions %v, the server writes only %s", m.where, m.namespace, m.name, m.dimOrder, contract.MetricDimension)
		}
		return
	}
	byName, ok := awsMetrics[m.namespace]
	if !ok {
		t.Errorf("%s: unknown namespace %s", m.where, m.namespace)
		return
	}
	sets, ok := byName[m.name]
	if !ok {
		t.Errorf("%s: %s has no metric %s", m.where, m.namespace, m.name)
		return
	}
	if !slices.ContainsFunc(sets, func(s []string) bool {
		return slices.Equal(slices.Sorted(slices.Values(s)), slices.Sorted(maps.Keys(m.dims)))
	}) {
		t.Errorf("%s: %s/%s is not published with dimensions %v (only %v)", m.where, m.namespace, m.name, m.dimOrder, sets)
	}
}

// parsedWidget is a dashboard widget as CloudWatch reads the body.
type parsedWidget struct {
	Type                string
	X, Y, Width, Height int
	Title, Region, View string
	Query               string
	Period              int
	Rows                []parsedRow
	Annotations         *annotations
}

type parsedRow struct {
	usedMetric
	opts rowOptions
}

// parseDashboard decodes a dashboard body the way CloudWatch does: each
// metrics entry is [namespace, name, dim, value, ..., {options}] or
// [{expression options}].
func parseDashboard(t *testing.T, body string) []parsedWidget {
	t.Helper()
	var raw struct {
		Widgets []struct {
			Type                string
			X, Y, Width, Height int
			Properties          struct {
				Title, Region, View, Query string
				Period                     int
				Metrics                    [][]json.RawMessage
				Annotations                *annotations
			}
		}
	}
	dec := json.NewDecoder(strings.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("dashboard body is not JSON: %v\n%s", err, body)
	}
	var out []parsedWidget
	for _, w := range raw.Widgets {
		p := parsedWidget{Type: w.Type, X: w.X, Y: w.Y, Width: w.Width, Height: w.Height, Title: w.Properties.Title, Region: w.Properties.Region,
			View: w.Properties.View, Query: w.Properties.Query, Period: w.Properties.Period, Annotations: w.Properties.Annotations}
		for _, row := range w.Properties.Metrics {
			var r parsedRow
			r.where = "dashboard widget " + w.Properties.Title
			var strs []string
			for i, el := range row {
				if i == len(row)-1 && strings.HasPrefix(strings.TrimSpace(string(el)), "{") {
					if err := json.Unmarshal(el, &r.opts); err != nil {
						t.Fatalf("%s: options %s: %v", r.where, el, err)
					}
					continue
				}
				var s string
				if err := json.Unmarshal(el, &s); err != nil {
					t.Fatalf("%s: row element %s is not a string", r.where, el)
				}
				strs = append(strs, s)
			}
			if r.opts.Expression == "" {
				if len(strs) < 2 || len(strs)%2 != 0 {
					t.Fatalf("%s: metric row %v is not namespace, name and dimension pairs", r.where, strs)
				}
				r.namespace, r.name, r.dims = strs[0], strs[1], map[string]string{}
				for i := 2; i < len(strs); i += 2 {
					r.dims[strs[i]] = strs[i+1]
					r.dimOrder = append(r.dimOrder, strs[i])
				}
			} else if len(strs) != 0 {
				t.Fatalf("%s: expression row with metric fields %v", r.where, strs)
			}
			p.Rows = append(p.Rows, r)
		}
		out = append(out, p)
	}
	return out
}

var exprIdent = regexp.MustCompile(`\b[a-z][a-zA-Z0-9_]*\b`)

// checkDashboard parses the dashboard body and checks that every metric it
// plots exists under the names and dimensions the server and AWS publish.
func checkDashboard(t *testing.T, r *run, cfg Config) {
	t.Helper()
	physical := cfg.ResourceName("dev")
	d := r.one(t, "aws:cloudwatch/dashboard:Dashboard").Inputs
	if d["dashboardName"] != physical {
		t.Errorf("dashboard name %v, want %s", d["dashboardName"], physical)
	}
	widgets := parseDashboard(t, d["dashboardBody"].(string))

	plotted := map[string][]string{} // service metric -> statistics
	var logWidgets, taskWidgets, wafWidgets int
	cells := map[[2]int]string{}
	for _, w := range widgets {
		if w.Width <= 0 || w.Height <= 0 || w.X < 0 || w.X+w.Width > 24 {
			t.Errorf("widget %q at x=%d width %d leaves the 24-column grid", w.Title, w.X, w.Width)
		}
		for x := w.X; x < w.X+w.Width; x++ {
			for y := w.Y; y < w.Y+w.Height; y++ {
				if other, ok := cells[[2]int{x, y}]; ok {
					t.Errorf("widgets %q and %q overlap", other, w.Title)
				}
				cells[[2]int{x, y}] = w.Title
			}
		}
		switch w.Type {
		case "log":
			logWidgets++
			want := fmt.Sprintf("SOURCE '/ecs/%s' | fields code | filter msg = \"connection closed\" | stats count(*) by code", physical)
			if w.Query != want || w.Region != r.region {
				t.Errorf("log widget query %q in %s, want %q in %s", w.Query, w.Region, want, r.region)
			}
			continue
		case "metric":
		default:
			t.Errorf("widget %q of type %q", w.Title, w.Type)
			continue
		}
		if w.Period != 60 || w.Title == "" {
			t.Errorf("widget %q period %d", w.Title, w.Period)
		}
		ids := map[string]bool{}
		cloudFront, waf := false, false
		for _, row := range w.Rows {
			if row.opts.ID != "" {
				ids[row.opts.ID] = true
			}
			if row.opts.Expression != "" {
				continue
			}
			checkMetricRef(t, row.usedMetric, cfg)
			cloudFront = cloudFront || row.namespace == cloudFrontNamespace
			if row.namespace == wafNamespace {
				waf = true
				wafWidgets++
			}
			if row.namespace == contract.MetricNamespace {
				plotted[row.name] = append(plotted[row.name], row.opts.Stat)
			}
			if row.namespace == insightsNamespace {
				taskWidgets++
			}
			if row.opts.Stat == "" {
				t.Errorf("%s: %s/%s has no statistic", row.where, row.namespace, row.name)
			}
		}
		for _, row := range w.Rows {
			if e := row.opts.Expression; e != "" {
				for _, id := range exprIdent.FindAllString(e, -1) {
					if !ids[id] {
						t.Errorf("widget %q: expression %q refers to %s, which no row defines", w.Title, e, id)
					}
				}
			}
		}
		wantRegion := r.region
		if cloudFront || waf {
			// CloudFront, and WAF for a CLOUDFRONT web ACL, publish their
			// metrics in us-east-1 only.
			wantRegion = "us-east-1"
		}
		if w.Region != wantRegion {
			t.Errorf("widget %q region %q, want %q", w.Title, w.Region, wantRegion)
		}
		if strings.Contains(w.Title, "Running tasks") {
			var bounds []float64
			if w.Annotations != nil {
				for _, a := range w.Annotations.Horizontal {
					bounds = append(bounds, a.Value)
				}
			}
			if !slices.Equal(bounds, []float64{float64(cfg.MinTasks), float64(cfg.MaxTasks)}) {
				t.Errorf("task widget annotations %v, want minTasks %d and maxTasks %d", bounds, cfg.MinTasks, cfg.MaxTasks)
			}
		}
	}
	if logWidgets != 1 {
		t.Errorf("%d log widgets, want 1 (closes by code)", logWidgets)
	}
	wantTaskWidgets := 1
	if cfg.ContainerInsights == "disabled" {
		wantTaskWidgets = 0
	}
	if taskWidgets != wantTaskWidgets {
		t.Errorf("RunningTaskCount plotted %d times, want %d", taskWidgets, wantTaskWidgets)
	}
	// With WAF: allowed, blocked and counted in total, and blocked by each
	// rule; without, no WAF metric at all.
	if want := map[bool]int{true: 3 + len(wafRules), false: 0}[cfg.WAF]; wafWidgets != want {
		t.Errorf("%d WAF metric rows, want %d", wafWidgets, want)
	}
	// Every metric the server writes is on the dashboard; connections in
	// total (Sum) and per task (Maximum, Average, Minimum; SampleCount
	// counts the tasks).
	for _, m := range serviceMetrics {
		if len(plotted[m]) == 0 {
			t.Errorf("the dashboard does not plot %s", m)
		}
	}
	for _, stat := range []string{"Sum", "Maximum", "Average", "Minimum", "SampleCount"} {
		if !slices.Contains(plotted[contract.MetricConnections], stat) {
			t.Errorf("%s is not plotted as %s", contract.MetricConnections, stat)
		}
	}

	want := "https://" + r.region + ".console.aws.amazon.com/cloudwatch/home?region=" + r.region + "#dashboards:name=" + physical
	if r.outputs["dashboardUrl"] != want {
		t.Errorf("dashboardUrl %q, want %q", r.outputs["dashboardUrl"], want)
	}
}

// checkAlarms checks every alarm's metric, threshold and actions, and that
// the SNS topic exists exactly when alarmEmail is set.
func checkAlarms(t *testing.T, r *run, cfg Config) {
	t.Helper()
	physical := cfg.ResourceName("dev")
	alarms := map[string]map[string]any{}
	for _, a := range r.ofType("aws:cloudwatch/metricAlarm:MetricAlarm") {
		name, _ := a.Rule.Inputs["name"].(string)
		alarms[strings.TrimPrefix(name, physical+"-")] = a.Rule.Inputs
	}
	want := []string{"5xx-rate", "evictions", "no-healthy-targets"}
	if cfg.MaxTasks > cfg.MinTasks && cfg.ContainerInsights != "disabled" {
		want = append(want, "tasks-at-max")
	}
	if got := slices.Sorted(maps.Keys(alarms)); !slices.Equal(got, want) {
		t.Fatalf("alarms %v, want %v", got, want)
	}

	type expect struct {
		namespace, metric, stat, op string
		threshold                   float64
		period, periods             float64
		missing                     string
	}
	expects := map[string]expect{
		"no-healthy-targets": {albNamespace, "HealthyHostCount", "Minimum", "LessThanThreshold", 1, 60, 2, "breaching"},
		"evictions":          {contract.MetricNamespace, contract.MetricEvictions, "Sum", "GreaterThanThreshold", float64(cfg.AlarmEvictions), 300, 1, "notBreaching"},
		"tasks-at-max":       {insightsNamespace, "RunningTaskCount", "Minimum", "GreaterThanOrEqualToThreshold", float64(cfg.MaxTasks), 300, 3, "notBreaching"},
	}
	for name, e := range expects {
		a, ok := alarms[name]
		if !ok {
			continue
		}
		got := expect{fmt.Sprint(a["namespace"]), fmt.Sprint(a["metricName"]), fmt.Sprint(a["statistic"]), fmt.Sprint(a["comparisonOperator"]),
			toFloat(a["threshold"]), toFloat(a["period"]), toFloat(a["evaluationPeriods"]), fmt.Sprint(a["treatMissingData"])}
		if got != e {
			t.Errorf("alarm %s = %+v, want %+v", name, got, e)
		}
		m := usedMetric{where: "alarm " + name, namespace: got.namespace, name: got.metric, dims: map[string]string{}}
		for k, v := range a["dimensions"].(map[string]any) {
			m.dims[k] = v.(string)
			m.dimOrder = append(m.dimOrder, k)
		}
		checkMetricRef(t, m, cfg)
	}
	// 15 minutes at the maximum.
	if a, ok := alarms["tasks-at-max"]; ok && toFloat(a["period"])*toFloat(a["evaluationPeriods"]) != 900 {
		t.Errorf("tasks-at-max spans %v s, want 900", toFloat(a["period"])*toFloat(a["evaluationPeriods"]))
	}

	rate := alarms["5xx-rate"]
	if rate["metricName"] != nil || toFloat(rate["threshold"]) != float64(cfg.Alarm5xxPercent) || rate["comparisonOperator"] != "GreaterThanThreshold" || toFloat(rate["evaluationPeriods"]) != 1 {
		t.Errorf("5xx alarm %v", rate)
	}
	var returned []string
	ids := map[string]bool{}
	for _, q := range rate["metricQueries"].([]any) {
		q := q.(map[string]any)
		ids[q["id"].(string)] = true
		if q["returnData"] == true {
			returned = append(returned, q["id"].(string))
		}
		if m, ok := q["metric"].(map[string]any); ok {
			um := usedMetric{where: "alarm 5xx-rate", namespace: m["namespace"].(string), name: m["metricName"].(string), dims: map[string]string{}}
			for k, v := range m["dimensions"].(map[string]any) {
				um.dims[k] = v.(string)
				um.dimOrder = append(um.dimOrder, k)
			}
			checkMetricRef(t, um, cfg)
			if m["stat"] != "Sum" || toFloat(m["period"]) != 300 {
				t.Errorf("5xx alarm input %v", m)
			}
		}
	}
	if !slices.Equal(returned, []string{"rate"}) {
		t.Errorf("5xx alarm returns %v, want only the rate", returned)
	}
	for _, q := range rate["metricQueries"].([]any) {
		if e, _ := q.(map[string]any)["expression"].(string); e != "" {
			for _, id := range exprIdent.FindAllString(e, -1) {
				if !ids[id] {
					t.Errorf("5xx expression %q refers to %s, which no query defines", e, id)
				}
			}
		}
	}

	topics := r.ofType("aws:sns/topic:Topic")
	subs := r.ofType("aws:sns/topicSubscription:TopicSubscription")
	keys := r.ofType("aws:kms/key:Key")
	var wantActions []any
	if cfg.AlarmEmail == "" {
		if len(topics)+len(subs)+len(keys) != 0 {
			t.Errorf("no alarmEmail, yet %d topics, %d subscriptions, %d keys", len(topics), len(subs), len(keys))
		}
	} else {
		if len(topics) != 1 || len(subs) != 1 || len(keys) != 1 {
			t.Fatalf("alarmEmail set: %d topics, %d subscriptions, %d keys, want 1 each", len(topics), len(subs), len(keys))
		}
		topicARN := "arn:aws:sns:" + stacktest.Region + ":" + stacktest.Account + ":" + topics[0].Args.Name
		keyARN := "arn:aws:kms:" + stacktest.Region + ":" + stacktest.Account + ":key/" + keys[0].Args.Name
		wantActions = []any{topicARN}
		sub := subs[0].Rule.Inputs
		if sub["protocol"] != "email" || sub["endpoint"] != cfg.AlarmEmail || sub["topic"] != topicARN {
			t.Errorf("subscription %v", sub)
		}
		// Encrypted with a key CloudWatch may use: with alias/aws/sns the
		// alarms could not publish.
		if topics[0].Rule.Inputs["kmsMasterKeyId"] != keyARN {
			t.Errorf("topic key %v, want the stack's key %s", topics[0].Rule.Inputs["kmsMasterKeyId"], keyARN)
		}
		key := keys[0].Rule.Inputs
		var doc policyDocument
		if err := json.Unmarshal([]byte(key["policy"].(string)), &doc); err != nil {
			t.Fatal(err)
		}
		cloudWatch := slices.ContainsFunc(doc.Statement, func(s statement) bool {
			return s.Principal != nil && slices.Equal(s.Principal.Service, []string{"cloudwatch.amazonaws.com"}) &&
				slices.Equal(s.Action, []string{"kms:Decrypt", "kms:GenerateDataKey*"})
		})
		if !cloudWatch || key["enableKeyRotation"] != true {
			t.Errorf("alarm key: rotation %v, policy %s", key["enableKeyRotation"], key["policy"])
		}
	}
	for name, a := range alarms {
		for _, k := range []string{"alarmActions", "okActions"} {
			got, _ := a[k].([]any)
			if fmt.Sprint(got) != fmt.Sprint(wantActions) {
				t.Errorf("alarm %s %s = %v, want %v", name, k, got, wantActions)
			}
		}
	}
}

func toFloat(v any) float64 {
	f, _ := v.(float64)
	return f
}

// TestMetricRowJSON pins the positional form CloudWatch expects.
func TestMetricRowJSON(t *testing.T) {
	cases := []struct {
		row  metricRow
		want string
	}{
		{metric("NS", "M", dimension{"A", "1"}, dimension{"B", "2"}).stat("Sum").label("l"), `["NS","M","A","1","B","2",{"label":"l","stat":"Sum"}]`},
		{metric("NS", "M").stat("Sum").input("m1"), `["NS","M",{"id":"m1","stat":"Sum","visible":false}]`},
		{expression("e1", "m1 / PERIOD(m1)", "rate"), `[{"expression":"m1 / PERIOD(m1)","id":"e1","label":"rate"}]`},
	}
	for _, tc := range cases {
		got, err := json.Marshal(tc.row)
		if err != nil || string(got) != tc.want {
			t.Errorf("%+v = %s (%v), want %s", tc.row, got, err, tc.want)
		}
	}
}
