package rules

const (
	ecrRepoType  = "aws:ecr/repository:Repository"
	logGroupType = "aws:cloudwatch/logGroup:LogGroup"
)

var ecr1 = Rule{
	ID:          "WS-ECR1",
	Description: "ECR repositories scan images on push (cdk-nag has no such rule).",
	Types:       []string{ecrRepoType},
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "WS-ECR1"}
		for _, r := range g.ofType(ecrRepoType) {
			switch v := get(r.Inputs, "imageScanningConfiguration.scanOnPush"); {
			case v == Unknown:
				f.unknown(r, "imageScanningConfiguration.scanOnPush")
			case !isTrue(v):
				f.add(r, "images are not scanned on push: set imageScanningConfiguration.scanOnPush to true")
			}
		}
		return f.out
	},
}

var log1 = Rule{
	ID:          "WS-LOG1",
	Description: "CloudWatch log groups have a retention period (cdk-nag's AwsSolutions pack has no such rule).",
	Types:       []string{logGroupType},
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "WS-LOG1"}
		for _, r := range g.ofType(logGroupType) {
			switch v := r.Inputs["retentionInDays"]; {
			case v == Unknown:
				f.unknown(r, "retentionInDays")
			case v == nil || v == 0.0:
				f.add(r, "logs are kept forever: set retentionInDays")
			}
		}
		return f.out
	},
}
