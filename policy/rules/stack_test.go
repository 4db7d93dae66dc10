package rules_test

import (
	"testing"

	"github.com/wsfargate/websocket-service/policy/rules"
)

// TestCompliantStack is the shape of this project's stack with every
// accepted risk suppressed next to its resource: Check must return nothing,
// and dropping any one suppression must bring its finding back.
func TestCompliantStack(t *testing.T) {
	supp := map[string]rules.Suppression{
		"cdn/CFR4":  rules.Suppress("AwsSolutions-CFR4", "No custom domain configured: viewers use the default cloudfront.net certificate"),
		"cdn/CFR5":  rules.Suppress("AwsSolutions-CFR5", "CloudFront to ALB over HTTP: the ALB admits only the CloudFront prefix list and the secret origin header"),
		"cdn/CFR2":  rules.Suppress("AwsSolutions-CFR2", "No WAF: WebSocket frames after the upgrade are not inspected and the ALB rejects requests without the origin header"),
		"logs/S1":   rules.Suppress("AwsSolutions-S1", "This is the log bucket: logging it into itself would loop"),
		"task/IAM5": rules.Suppress("AwsSolutions-IAM5", "ECS Exec ssmmessages actions have no resource-level permissions"),
	}
	build := func(drop string) []rules.Resource {
		tags := func(keys ...string) map[string]any {
			var s []rules.Suppression
			for _, k := range keys {
				if k != drop {
					s = append(s, supp[k])
				}
			}
			return tagsOf(s...)
		}
		return []rules.Resource{
			res(awsxVpc, "vpc", map[string]any{"tags": map[string]any{}}),
			res(flowLog, "vpc-flow-log", map[string]any{"trafficType": "ALL", "vpcId": rules.Unknown}, "vpcId=vpc"),
			res(logGroup, "vpc-flow-logs", map[string]any{"retentionInDays": 30.0}),

			res(bucketV2, "logs", map[string]any{"tags": tags("logs/S1")}),
			res(bPAB, "logs", pab(), "bucket=logs"),
			res(bPolicy, "logs", map[string]any{"policy": sslOnlyPolicy(t)}, "bucket=logs"),

			res(sg, "alb", map[string]any{"ingress": []any{map[string]any{"protocol": "tcp", "fromPort": 80.0, "toPort": 80.0, "prefixListIds": []any{"pl-cloudfront"}}}}),
			res(sg, "service", map[string]any{}),
			res(sgIngress, "service-from-alb", map[string]any{"referencedSecurityGroupId": rules.Unknown}, "referencedSecurityGroupId=alb"),
			res(lb, "alb", goodALB()),

			res(ecrRepo, "repo", map[string]any{"imageScanningConfiguration": map[string]any{"scanOnPush": true}}),
			res(cluster, "cluster", map[string]any{"settings": []any{map[string]any{"name": "containerInsights", "value": "enhanced"}}}),
			res(logGroup, "service", map[string]any{"retentionInDays": 30.0}),
			res(role, "execution", map[string]any{}),
			res(rolePol, "execution", map[string]any{"policy": js(t, allow([]any{"logs:CreateLogStream", "logs:PutLogEvents"}, "arn:aws:logs:eu-west-1:1:log-group:/ecs/ws:log-stream/ecs"))}, "role=execution"),
			res(role, "task", map[string]any{"tags": tags("task/IAM5")}),
			res(rolePol, "exec", map[string]any{"policy": js(t, allow([]any{"ssmmessages:CreateControlChannel", "ssmmessages:OpenDataChannel"}, "*"))}, "role=task"),
			res(taskDef, "task", map[string]any{"containerDefinitions": containerDefs(t, goodContainer())}),

			res(dist, "cdn", with(goodDistribution(),
				"webAclId", nil,
				"viewerCertificate", map[string]any{"cloudfrontDefaultCertificate": true},
				"origins", []any{map[string]any{"originId": "alb", "customOriginConfig": map[string]any{"originProtocolPolicy": "http-only", "originSslProtocols": []any{"TLSv1.2"}}}},
				"tags", tags("cdn/CFR2", "cdn/CFR4", "cdn/CFR5"),
			)),
		}
	}
	if fs := rules.Check(build("")); len(fs) != 0 {
		t.Fatalf("compliant stack has findings:\n%s", findings(fs))
	}
	for key, s := range supp {
		t.Run("without "+key, func(t *testing.T) {
			fs := rules.Check(build(key))
			if len(fs) == 0 || fs[0].Rule != s.Rule {
				t.Errorf("dropping %s: findings\n%s", key, findings(fs))
			}
		})
	}
}
