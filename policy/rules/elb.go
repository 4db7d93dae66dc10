package rules

var lbTypes = []string{"aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer"}

var elb2 = Rule{
	ID:          "AwsSolutions-ELB2",
	Description: "Load balancers write access logs to an S3 bucket.",
	Types:       lbTypes,
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "AwsSolutions-ELB2"}
		for _, r := range g.ofType(lbTypes...) {
			enabled, bucket := get(r.Inputs, "accessLogs.enabled"), get(r.Inputs, "accessLogs.bucket")
			switch {
			case enabled == Unknown || bucket == Unknown:
				f.unknown(r, "accessLogs")
			case !isTrue(enabled):
				f.add(r, "access logs are disabled: set accessLogs.enabled to true and accessLogs.bucket to a log bucket")
			case bucket == nil || bucket == "":
				f.add(r, "access logs have no target: set accessLogs.bucket")
			}
		}
		return f.out
	},
}

var alb1 = Rule{
	ID:          "WS-ALB1",
	Description: "Application Load Balancers drop invalid HTTP header fields (cdk-nag has no such rule).",
	Types:       lbTypes,
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "WS-ALB1"}
		for _, r := range g.ofType(lbTypes...) {
			// The provider defaults loadBalancerType to application.
			if t, ok := r.Inputs["loadBalancerType"].(string); ok && t != "application" {
				continue
			}
			switch v := r.Inputs["dropInvalidHeaderFields"]; {
			case v == Unknown:
				f.unknown(r, "dropInvalidHeaderFields")
			case !isTrue(v):
				f.add(r, "invalid HTTP header fields are passed to targets: set dropInvalidHeaderFields to true")
			}
		}
		return f.out
	},
}
