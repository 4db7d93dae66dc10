package stack

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/wsfargate/websocket-service/server/contract"
)

// Namespaces of the AWS metrics the dashboard and the alarms read; the
// service's own metrics are in contract.MetricNamespace.
const (
	albNamespace        = "AWS/ApplicationELB"
	cloudFrontNamespace = "AWS/CloudFront"
	insightsNamespace   = "ECS/ContainerInsights"
	wafNamespace        = "AWS/WAFV2"
	// cloudFrontMetricsRegion is where CloudFront publishes its metrics,
	// whatever the stack's region.
	cloudFrontMetricsRegion = "us-east-1"
)

// dashboardPeriod is the dashboard's resolution: the server writes its EMF
// record once a minute, so a finer period would only show gaps.
const dashboardPeriod = 60

// closedLogQuery counts the server's closed-connection log lines
// ({"msg":"connection closed","code":1001,...}) by close code, for the
// closes-by-code widget.
const closedLogQuery = "fields " + contract.LogFieldCloseCode + " | filter msg = \"" + contract.LogConnectionClosed + "\" | stats count(*) by " + contract.LogFieldCloseCode

// dashboardBody is a CloudWatch dashboard body
// (CloudWatch-Dashboard-Body-Structure), built as values and marshalled.
type dashboardBody struct {
	Widgets []widget `json:"widgets"`
}

// widget places one graph or query on the dashboard's 24-column grid.
// Properties is a metricWidget or a logWidget.
type widget struct {
	Type       string `json:"type"`
	X          int    `json:"x"`
	Y          int    `json:"y"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	Properties any    `json:"properties"`
}

type metricWidget struct {
	Title       string       `json:"title"`
	Region      string       `json:"region"`
	View        string       `json:"view"`
	Stacked     bool         `json:"stacked"`
	Period      int          `json:"period"`
	Metrics     []metricRow  `json:"metrics"`
	Annotations *annotations `json:"annotations,omitempty"`
	YAxis       *yAxes       `json:"yAxis,omitempty"`
}

type annotations struct {
	Horizontal []horizontalAnnotation `json:"horizontal"`
}

type horizontalAnnotation struct {
	Label string  `json:"label"`
	Value float64 `json:"value"`
}

type yAxes struct {
	Left yAxis `json:"left"`
}

type yAxis struct {
	Min   float64 `json:"min"`
	Label string  `json:"label,omitempty"`
}

type logWidget struct {
	Title  string `json:"title"`
	Region string `json:"region"`
	Query  string `json:"query"`
	View   string `json:"view"`
}

type dimension struct {
	Name, Value string
}

// metricRow is one entry of a metric widget's "metrics": a metric
// (namespace, name, dimension name/value pairs, then options) or, when
// Options.Expression is set, a metric math expression (options only).
type metricRow struct {
	Namespace  string
	Name       string
	Dimensions []dimension
	Options    rowOptions
}

type rowOptions struct {
	Expression string `json:"expression,omitempty"`
	ID         string `json:"id,omitempty"`
	Label      string `json:"label,omitempty"`
	Stat       string `json:"stat,omitempty"`
	Visible    *bool  `json:"visible,omitempty"`
}

// MarshalJSON writes the row as the dashboard's positional array.
func (m metricRow) MarshalJSON() ([]byte, error) {
	var row []any
	if m.Options.Expression == "" {
		row = append(row, m.Namespace, m.Name)
		for _, d := range m.Dimensions {
			row = append(row, d.Name, d.Value)
		}
	}
	return json.Marshal(append(row, m.Options))
}

func metric(namespace, name string, dims ...dimension) metricRow {
	return metricRow{Namespace: namespace, Name: name, Dimensions: dims}
}

func expression(id, expr, label string) metricRow {
	return metricRow{Options: rowOptions{Expression: expr, ID: id, Label: label}}
}

func (m metricRow) stat(s string) metricRow  { m.Options.Stat = s; return m }
func (m metricRow) label(l string) metricRow { m.Options.Label = l; return m }

// input makes the row an unplotted input of expressions, named id.
func (m metricRow) input(id string) metricRow {
	hidden := false
	m.Options.ID, m.Options.Visible = id, &hidden
	return m
}

// watched names what the dashboard and the alarms observe, once resolved.
type watched struct {
	cluster, service, logGroup   string
	albSuffix, targetGroupSuffix string
	distributionID               string
}

// watchedOutputs gathers the outputs watched is made of.
func watchedOutputs(t *task, lb *loadBalancer, e *edge) pulumi.AnyOutput {
	return pulumi.All(t.cluster.Name, t.service.Name, t.logGroup.Name, lb.alb.ArnSuffix, lb.targetGroup.ArnSuffix, e.distribution.ID()).ApplyT(func(v []any) watched {
		str := func(i int) string {
			switch s := v[i].(type) {
			case string:
				return s
			case pulumi.ID:
				return string(s)
			}
			return ""
		}
		return watched{cluster: str(0), service: str(1), logGroup: str(2), albSuffix: str(3), targetGroupSuffix: str(4), distributionID: str(5)}
	}).(pulumi.AnyOutput)
}

// serviceDimension selects the service's own metrics: every task writes
// them with the ECS service name as the only dimension.
func (w watched) serviceDimension() dimension {
	return dimension{contract.MetricDimension, w.service}
}

func (w watched) targetGroupDimensions() []dimension {
	return []dimension{{"TargetGroup", w.targetGroupSuffix}, {"LoadBalancer", w.albSuffix}}
}

func (w watched) taskCountDimensions() []dimension {
	return []dimension{{"ClusterName", w.cluster}, {"ServiceName", w.service}}
}

// wafAllRules is the Rule dimension value of a web ACL's totals.
const wafAllRules = "ALL"

// dashboardWidgets lays out the operator's view, two graphs per row:
// connections and messages, evictions and closes, tasks and ALB responses,
// target health and CloudFront errors, and with WAF (waf not nil) its
// verdicts in total and its blocks by rule.
func (b *builder) dashboardWidgets(w watched, waf *firewall) []widget {
	svc := w.serviceDimension()
	graph := func(title string, metrics []metricRow, ann *annotations, axis *yAxes) metricWidget {
		return metricWidget{Title: title, Region: b.region, View: "timeSeries", Period: dashboardPeriod, Metrics: metrics, Annotations: ann, YAxis: axis}
	}
	zero := &yAxes{Left: yAxis{Min: 0}}

	// Per task and in total from the one service-level metric: each task
	// writes one data point a minute, so at a 60 s period Sum is the total
	// of open connections, Maximum the busiest task, Average the mean per
	// task (what target tracking keeps at connectionsPerTask) and Minimum
	// the quietest; SampleCount, plotted with the tasks, is how many tasks
	// reported. A task has no dimension of its own, so a SEARCH expression
	// could not split the metric any further.
	var connTarget *annotations
	if b.cfg.Scaling == ScalingConnections {
		connTarget = &annotations{Horizontal: []horizontalAnnotation{{Label: "scaling target per task", Value: float64(b.cfg.ConnectionsPerTask)}}}
	}
	connections := graph("Live connections: total and per task", []metricRow{
		metric(contract.MetricNamespace, contract.MetricConnections, svc).stat("Sum").label("total"),
		metric(contract.MetricNamespace, contract.MetricConnections, svc).stat("Maximum").label("busiest task"),
		metric(contract.MetricNamespace, contract.MetricConnections, svc).stat("Average").label("mean per task"),
		metric(contract.MetricNamespace, contract.MetricConnections, svc).stat("Minimum").label("quietest task"),
	}, connTarget, zero)

	// The counters are per EMF interval; dividing the period's sum by the
	// period gives a rate that does not depend on the graph's period.
	messages := graph("Messages per second (all tasks)", []metricRow{
		metric(contract.MetricNamespace, contract.MetricMessagesIn, svc).stat("Sum").input("msgin"),
		metric(contract.MetricNamespace, contract.MetricMessagesOut, svc).stat("Sum").input("msgout"),
		expression("inrate", "msgin / PERIOD(msgin)", "accepted from clients /s"),
		expression("outrate", "msgout / PERIOD(msgout)", "delivered to clients /s"),
	}, nil, zero)

	evictions := graph("Slow consumers evicted per minute (all tasks)", []metricRow{
		metric(contract.MetricNamespace, contract.MetricEvictions, svc).stat("Sum").label("evictions"),
	}, nil, zero)

	closes := logWidget{
		Title:  "Closes by code (server log, time range of the dashboard)",
		Region: b.region,
		Query:  fmt.Sprintf("SOURCE '%s' | %s", w.logGroup, closedLogQuery),
		View:   "bar",
	}

	tasks := []metricRow{
		metric(contract.MetricNamespace, contract.MetricConnections, svc).stat("SampleCount").label("tasks reporting connections"),
	}
	if b.cfg.ContainerInsights != "disabled" {
		tasks = append([]metricRow{
			metric(insightsNamespace, "RunningTaskCount", w.taskCountDimensions()...).stat("Average").label("running tasks"),
		}, tasks...)
	}
	taskCount := graph("Running tasks against the scaling bounds", tasks, &annotations{Horizontal: []horizontalAnnotation{
		{Label: "minTasks", Value: float64(b.cfg.MinTasks)},
		{Label: "maxTasks", Value: float64(b.cfg.MaxTasks)},
	}}, zero)

	responses := graph("ALB responses per minute", []metricRow{
		metric(albNamespace, "RequestCount", dimension{"LoadBalancer", w.albSuffix}).stat("Sum").label("requests (upgrades)"),
		metric(albNamespace, "HTTPCode_Target_4XX_Count", w.targetGroupDimensions()...).stat("Sum").label("target 4xx"),
		metric(albNamespace, "HTTPCode_Target_5XX_Count", w.targetGroupDimensions()...).stat("Sum").label("target 5xx"),
		metric(albNamespace, "HTTPCode_ELB_5XX_Count", dimension{"LoadBalancer", w.albSuffix}).stat("Sum").label("load balancer 5xx"),
	}, nil, zero)

	health := graph("ALB targets", []metricRow{
		metric(albNamespace, "HealthyHostCount", w.targetGroupDimensions()...).stat("Minimum").label("healthy (minimum)"),
		metric(albNamespace, "UnHealthyHostCount", w.targetGroupDimensions()...).stat("Maximum").label("unhealthy (maximum)"),
	}, nil, zero)

	edgeDims := []dimension{{"DistributionId", w.distributionID}, {"Region", "Global"}}
	edgeErrors := graph("CloudFront error rates (%)", []metricRow{
		metric(cloudFrontNamespace, "4xxErrorRate", edgeDims...).stat("Average").label("4xx %"),
		metric(cloudFrontNamespace, "5xxErrorRate", edgeDims...).stat("Average").label("5xx %"),
	}, nil, &yAxes{Left: yAxis{Min: 0, Label: "%"}})
	edgeErrors.Region = cloudFrontMetricsRegion

	cells := []widget{
		{Type: "metric", Properties: connections},
		{Type: "metric", Properties: messages},
		{Type: "metric", Properties: evictions},
		{Type: "log", Properties: closes},
		{Type: "metric", Properties: taskCount},
		{Type: "metric", Properties: responses},
		{Type: "metric", Properties: health},
		{Type: "metric", Properties: edgeErrors},
	}
	if waf != nil {
		cells = append(cells, b.wafWidgets(waf, graph, zero)...)
	}
	const width, height = 12, 6
	for i := range cells {
		cells[i].X, cells[i].Y = (i%2)*width, (i/2)*height
		cells[i].Width, cells[i].Height = width, height
	}
	return cells
}

// wafWidgets graphs the web ACL's verdicts per minute (allowed, blocked,
// and counted: matches of the rules set to count) and its blocks by rule.
// A CLOUDFRONT web ACL publishes in us-east-1 with the dimensions WebACL
// and Rule only; regional web ACLs add Region, which these metrics lack.
func (b *builder) wafWidgets(waf *firewall, graph func(string, []metricRow, *annotations, *yAxes) metricWidget, zero *yAxes) []widget {
	acl := func(name, rule string) metricRow {
		return metric(wafNamespace, name, dimension{"WebACL", waf.name}, dimension{"Rule", rule}).stat("Sum")
	}
	verdicts := graph("WAF requests per minute", []metricRow{
		acl("AllowedRequests", wafAllRules).label("allowed"),
		acl("BlockedRequests", wafAllRules).label("blocked"),
		acl("CountedRequests", wafAllRules).label("counted (rules set to count)"),
	}, nil, zero)
	verdicts.Region = wafRegion
	var byRule []metricRow
	for _, r := range wafRules {
		byRule = append(byRule, acl("BlockedRequests", r).label(r))
	}
	blocked := graph("WAF blocked requests per minute, by rule", byRule, nil, zero)
	blocked.Region = wafRegion
	return []widget{{Type: "metric", Properties: verdicts}, {Type: "metric", Properties: blocked}}
}

var dashboardNameInvalid = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// dashboard declares the CloudWatch dashboard and returns its console URL.
func (b *builder) dashboard(w pulumi.AnyOutput, waf *firewall) (pulumi.StringOutput, error) {
	name := dashboardNameInvalid.ReplaceAllString(b.physical, "-")
	body := w.ApplyT(func(v any) (string, error) {
		out, err := json.Marshal(dashboardBody{Widgets: b.dashboardWidgets(v.(watched), waf)})
		if err != nil {
			return "", fmt.Errorf("marshal dashboard body: %w", err)
		}
		return string(out), nil
	}).(pulumi.StringOutput)
	d, err := cloudwatch.NewDashboard(b.ctx, b.name+"-dashboard", &cloudwatch.DashboardArgs{
		DashboardName: pulumi.String(name),
		DashboardBody: body,
	}, b.opts()...)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("dashboard: %w", err)
	}
	return pulumi.Sprintf("https://%s.console.aws.amazon.com/cloudwatch/home?region=%s#dashboards:name=%s", b.region, b.region, d.DashboardName), nil
}
