package rules_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/wsfargate/websocket-service/policy/rules"
)

// res builds a resource; refs are "prop=name" pairs.
func res(typ, name string, inputs map[string]any, refs ...string) rules.Resource {
	r := rules.Resource{Type: typ, Name: name, Inputs: inputs}
	for _, ref := range refs {
		prop, target, _ := strings.Cut(ref, "=")
		if r.Refs == nil {
			r.Refs = map[string][]string{}
		}
		r.Refs[prop] = append(r.Refs[prop], target)
	}
	return r
}

// js is the JSON text of v, as a program marshals a policy document.
func js(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tagsOf is rules.Tags as the plain tag map the rules read.
func tagsOf(s ...rules.Suppression) map[string]any {
	out := map[string]any{}
	for k, v := range rules.Tags(s...) {
		out[k] = v
	}
	return out
}

func with(m map[string]any, kv ...any) map[string]any {
	out := maps.Clone(m)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

const (
	lb        = "aws:lb/loadBalancer:LoadBalancer"
	sg        = "aws:ec2/securityGroup:SecurityGroup"
	sgIngress = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	sgRule    = "aws:ec2/securityGroupRule:SecurityGroupRule"
	cluster   = "aws:ecs/cluster:Cluster"
	taskDef   = "aws:ecs/taskDefinition:TaskDefinition"
	dist      = "aws:cloudfront/distribution:Distribution"
	bucketV2  = "aws:s3/bucketV2:BucketV2"
	bucketV1  = "aws:s3/bucket:Bucket"
	bLogging  = "aws:s3/bucketLoggingV2:BucketLoggingV2"
	bPAB      = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	accPAB    = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
	bPolicy   = "aws:s3/bucketPolicy:BucketPolicy"
	vpc       = "aws:ec2/vpc:Vpc"
	awsxVpc   = "awsx:ec2:Vpc"
	flowLog   = "aws:ec2/flowLog:FlowLog"
	role      = "aws:iam/role:Role"
	rolePol   = "aws:iam/rolePolicy:RolePolicy"
	iamPolicy = "aws:iam/policy:Policy"
	rpa       = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
	ecrRepo   = "aws:ecr/repository:Repository"
	logGroup  = "aws:cloudwatch/logGroup:LogGroup"
)

func goodALB() map[string]any {
	return map[string]any{
		"loadBalancerType":        "application",
		"dropInvalidHeaderFields": true,
		"accessLogs":              map[string]any{"enabled": true, "bucket": "alb-logs"},
	}
}

func containerDefs(t testing.TB, defs ...map[string]any) string { return js(t, defs) }

func goodContainer() map[string]any {
	return map[string]any{
		"name":             "ws",
		"environment":      []any{map[string]any{"name": "LOG_FORMAT", "value": "json"}},
		"secrets":          []any{map[string]any{"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:eu-west-1:1:secret:x"}},
		"logConfiguration": map[string]any{"logDriver": "awslogs"},
	}
}

func goodDistribution() map[string]any {
	return map[string]any{
		"webAclId":      "arn:aws:wafv2:us-east-1:1:global/webacl/x/y",
		"loggingConfig": map[string]any{"bucket": "cf-logs.s3.amazonaws.com"},
		"viewerCertificate": map[string]any{
			"acmCertificateArn":      "arn:aws:acm:us-east-1:1:certificate/x",
			"sslSupportMethod":       "sni-only",
			"minimumProtocolVersion": "TLSv1.2_2021",
		},
		"origins": []any{map[string]any{
			"originId": "alb",
			"customOriginConfig": map[string]any{
				"originProtocolPolicy": "https-only",
				"originSslProtocols":   []any{"TLSv1.2"},
			},
		}},
	}
}

func sslOnlyPolicy(t testing.TB) string {
	return js(t, map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect": "Deny", "Principal": "*", "Action": "s3:*",
			"Resource":  []any{"arn:aws:s3:::b", "arn:aws:s3:::b/*"},
			"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
		}},
	})
}

func pab() map[string]any {
	return map[string]any{"blockPublicAcls": true, "blockPublicPolicy": true, "ignorePublicAcls": true, "restrictPublicBuckets": true}
}

func allow(actions, resources any) map[string]any {
	return map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{"Effect": "Allow", "Action": actions, "Resource": resources}}}
}

// TestRules runs each rule over small resource sets and compares the
// resources it flags, in order.
func TestRules(t *testing.T) {
	tests := []struct {
		name      string
		rule      string
		resources []rules.Resource
		want      []string // names of flagged resources
	}{
		// ELB2 and WS-ALB1
		{"ELB2 logs on", "AwsSolutions-ELB2", []rules.Resource{res(lb, "alb", goodALB())}, nil},
		{"ELB2 no accessLogs", "AwsSolutions-ELB2", []rules.Resource{res(lb, "alb", map[string]any{})}, []string{"alb"}},
		{"ELB2 disabled", "AwsSolutions-ELB2", []rules.Resource{res(lb, "alb", with(goodALB(), "accessLogs", map[string]any{"enabled": false, "bucket": "x"}))}, []string{"alb"}},
		{"ELB2 enabled without bucket", "AwsSolutions-ELB2", []rules.Resource{res(lb, "alb", with(goodALB(), "accessLogs", map[string]any{"enabled": true}))}, []string{"alb"}},
		{"ELB2 alb alias type", "AwsSolutions-ELB2", []rules.Resource{res("aws:alb/loadBalancer:LoadBalancer", "alb", map[string]any{})}, []string{"alb"}},
		{"ELB2 unknown bucket", "AwsSolutions-ELB2", []rules.Resource{res(lb, "alb", with(goodALB(), "accessLogs", map[string]any{"enabled": true, "bucket": rules.Unknown}))}, []string{"alb"}},
		{"ALB1 drops invalid headers", "WS-ALB1", []rules.Resource{res(lb, "alb", goodALB())}, nil},
		{"ALB1 default type, unset", "WS-ALB1", []rules.Resource{res(lb, "alb", map[string]any{})}, []string{"alb"}},
		{"ALB1 false", "WS-ALB1", []rules.Resource{res(lb, "alb", with(goodALB(), "dropInvalidHeaderFields", false))}, []string{"alb"}},
		{"ALB1 NLB exempt", "WS-ALB1", []rules.Resource{res(lb, "nlb", map[string]any{"loadBalancerType": "network"})}, nil},

		// EC23
		{"EC23 prefix list and sg sources", "AwsSolutions-EC23", []rules.Resource{
			res(sg, "alb-sg", map[string]any{"ingress": []any{map[string]any{"fromPort": 80.0, "prefixListIds": []any{"pl-1"}}}}),
			res(sgIngress, "from-alb", map[string]any{"referencedSecurityGroupId": "sg-1"}),
			res(sgRule, "egress-all", map[string]any{"type": "egress", "cidrBlocks": []any{"0.0.0.0/0"}}),
			res(sgRule, "private", map[string]any{"type": "ingress", "cidrBlocks": []any{"10.0.0.0/16"}}),
		}, nil},
		{"EC23 open inline ingress", "AwsSolutions-EC23", []rules.Resource{res(sg, "open", map[string]any{"ingress": []any{map[string]any{"cidrBlocks": []any{"10.0.0.0/8", "0.0.0.0/0"}}}})}, []string{"open"}},
		{"EC23 open ipv6 inline ingress", "AwsSolutions-EC23", []rules.Resource{res(sg, "open6", map[string]any{"ingress": []any{map[string]any{"ipv6CidrBlocks": []any{"::/0"}}}})}, []string{"open6"}},
		{"EC23 open ingress rule v4 and v6", "AwsSolutions-EC23", []rules.Resource{
			res(sgIngress, "v4", map[string]any{"cidrIpv4": "0.0.0.0/0"}),
			res(sgIngress, "v6", map[string]any{"cidrIpv6": "::/0"}),
		}, []string{"v4", "v6"}},
		{"EC23 open legacy rule", "AwsSolutions-EC23", []rules.Resource{res(sgRule, "legacy", map[string]any{"type": "ingress", "cidrBlocks": []any{"0.0.0.0/0"}})}, []string{"legacy"}},

		// ECS4
		{"ECS4 enhanced", "AwsSolutions-ECS4", []rules.Resource{res(cluster, "c", map[string]any{"settings": []any{map[string]any{"name": "containerInsights", "value": "enhanced"}}})}, nil},
		{"ECS4 enabled", "AwsSolutions-ECS4", []rules.Resource{res(cluster, "c", map[string]any{"settings": []any{map[string]any{"name": "containerInsights", "value": "enabled"}}})}, nil},
		{"ECS4 disabled", "AwsSolutions-ECS4", []rules.Resource{res(cluster, "c", map[string]any{"settings": []any{map[string]any{"name": "containerInsights", "value": "disabled"}}})}, []string{"c"}},
		{"ECS4 unset", "AwsSolutions-ECS4", []rules.Resource{res(cluster, "c", map[string]any{})}, []string{"c"}},

		// ECS7
		{"ECS7 all containers log", "AwsSolutions-ECS7", []rules.Resource{res(taskDef, "td", map[string]any{"containerDefinitions": containerDefs(t, goodContainer(), goodContainer())})}, nil},
		{"ECS7 one container without logs", "AwsSolutions-ECS7", []rules.Resource{res(taskDef, "td", map[string]any{"containerDefinitions": containerDefs(t, goodContainer(), map[string]any{"name": "sidecar"})})}, []string{"td"}},
		{"ECS7 unparseable definitions", "AwsSolutions-ECS7", []rules.Resource{res(taskDef, "td", map[string]any{"containerDefinitions": `[{"name": "ws",`})}, []string{"td"}},
		{"ECS7 missing definitions", "AwsSolutions-ECS7", []rules.Resource{res(taskDef, "td", map[string]any{})}, []string{"td"}},

		// ECS2
		{"ECS2 plain config env and secrets", "AwsSolutions-ECS2", []rules.Resource{res(taskDef, "td", map[string]any{"containerDefinitions": containerDefs(t, goodContainer())})}, nil},
		{"ECS2 password in env", "AwsSolutions-ECS2", []rules.Resource{res(taskDef, "td", map[string]any{"containerDefinitions": containerDefs(t, with(goodContainer(), "environment", []any{map[string]any{"name": "DB_PASSWORD", "value": "hunter2"}}))})}, []string{"td"}},
		{"ECS2 api key and origin secret", "AwsSolutions-ECS2", []rules.Resource{res(taskDef, "td", map[string]any{"containerDefinitions": containerDefs(t, with(goodContainer(), "environment", []any{
			map[string]any{"name": "STRIPE_API_KEY", "value": "x"},
			map[string]any{"name": "originSecret", "value": "y"},
			map[string]any{"name": "KEY_PREFIX", "value": "z"}, // KEY not last: fine
		}))})}, []string{"td", "td"}},

		// CFR2..CFR5
		{"CFR2 web ACL", "AwsSolutions-CFR2", []rules.Resource{res(dist, "cdn", goodDistribution())}, nil},
		{"CFR2 no web ACL", "AwsSolutions-CFR2", []rules.Resource{res(dist, "cdn", with(goodDistribution(), "webAclId", nil))}, []string{"cdn"}},
		{"CFR3 logging", "AwsSolutions-CFR3", []rules.Resource{res(dist, "cdn", goodDistribution())}, nil},
		{"CFR3 no logging", "AwsSolutions-CFR3", []rules.Resource{res(dist, "cdn", with(goodDistribution(), "loggingConfig", nil))}, []string{"cdn"}},
		{"CFR4 custom cert TLS 1.2 2021", "AwsSolutions-CFR4", []rules.Resource{res(dist, "cdn", goodDistribution())}, nil},
		{"CFR4 default certificate", "AwsSolutions-CFR4", []rules.Resource{res(dist, "cdn", with(goodDistribution(), "viewerCertificate", map[string]any{"cloudfrontDefaultCertificate": true}))}, []string{"cdn"}},
		{"CFR4 old protocol", "AwsSolutions-CFR4", []rules.Resource{res(dist, "cdn", with(goodDistribution(), "viewerCertificate", map[string]any{"acmCertificateArn": "x", "sslSupportMethod": "sni-only", "minimumProtocolVersion": "TLSv1.2_2019"}))}, []string{"cdn"}},
		{"CFR4 vip", "AwsSolutions-CFR4", []rules.Resource{res(dist, "cdn", with(goodDistribution(), "viewerCertificate", map[string]any{"acmCertificateArn": "x", "sslSupportMethod": "vip", "minimumProtocolVersion": "TLSv1.2_2021"}))}, []string{"cdn"}},
		{"CFR5 https-only TLS 1.2", "AwsSolutions-CFR5", []rules.Resource{res(dist, "cdn", goodDistribution())}, nil},
		{"CFR5 s3 origin ignored", "AwsSolutions-CFR5", []rules.Resource{res(dist, "cdn", with(goodDistribution(), "origins", []any{map[string]any{"originId": "s3", "s3OriginConfig": map[string]any{}}}))}, nil},
		{"CFR5 http-only", "AwsSolutions-CFR5", []rules.Resource{res(dist, "cdn", with(goodDistribution(), "origins", []any{map[string]any{"originId": "alb", "customOriginConfig": map[string]any{"originProtocolPolicy": "http-only", "originSslProtocols": []any{"TLSv1.2"}}}}))}, []string{"cdn"}},
		{"CFR5 TLSv1 to origin", "AwsSolutions-CFR5", []rules.Resource{res(dist, "cdn", with(goodDistribution(), "origins", []any{map[string]any{"originId": "alb", "customOriginConfig": map[string]any{"originProtocolPolicy": "https-only", "originSslProtocols": []any{"TLSv1", "TLSv1.2"}}}}))}, []string{"cdn"}},

		// S1
		{"S1 logging resource", "AwsSolutions-S1", []rules.Resource{
			res(bucketV2, "data", map[string]any{}),
			res(bucketV2, "logs", map[string]any{}),
			res(bLogging, "data-logging", map[string]any{"bucket": "data_id", "targetBucket": "logs_id"}, "bucket=data", "targetBucket=logs"),
		}, nil},
		{"S1 legacy inline loggings by bucket name", "AwsSolutions-S1", []rules.Resource{
			res(bucketV1, "data", map[string]any{"loggings": []any{map[string]any{"targetBucket": "my-logs"}}}),
			res(bucketV1, "logs", map[string]any{"bucket": "my-logs"}),
		}, nil},
		{"S1 no logging", "AwsSolutions-S1", []rules.Resource{res(bucketV2, "data", map[string]any{}), res(bucketV2, "other", map[string]any{})}, []string{"data", "other"}},
		{"S1 logging resource for another bucket", "AwsSolutions-S1", []rules.Resource{
			res(bucketV2, "data", map[string]any{}),
			res(bLogging, "x-logging", map[string]any{"bucket": "x_id", "targetBucket": "y_id"}),
		}, []string{"data"}},

		// S2
		{"S2 bucket block by ID", "AwsSolutions-S2", []rules.Resource{
			{Type: bucketV2, Name: "data", ID: "data_id", Inputs: map[string]any{}},
			res(bPAB, "data-pab", with(pab(), "bucket", "data_id")),
		}, nil},
		{"S2 account block", "AwsSolutions-S2", []rules.Resource{res(bucketV2, "data", map[string]any{}), res(accPAB, "account", pab())}, nil},
		{"S2 no block", "AwsSolutions-S2", []rules.Resource{res(bucketV2, "data", map[string]any{})}, []string{"data"}},
		{"S2 partial block", "AwsSolutions-S2", []rules.Resource{
			res(bucketV2, "data", map[string]any{}),
			res(bPAB, "data-pab", with(pab(), "restrictPublicBuckets", false), "bucket=data"),
		}, []string{"data"}},
		{"S2 partial account block does not cover", "AwsSolutions-S2", []rules.Resource{res(bucketV2, "data", map[string]any{}), res(accPAB, "account", with(pab(), "blockPublicPolicy", false))}, []string{"data"}},

		// S10
		{"S10 ssl-only policy", "AwsSolutions-S10", []rules.Resource{res(bucketV2, "data", map[string]any{}), res(bPolicy, "data-policy", map[string]any{"policy": sslOnlyPolicy(t)}, "bucket=data")}, nil},
		{"S10 legacy inline policy", "AwsSolutions-S10", []rules.Resource{res(bucketV1, "data", map[string]any{"policy": sslOnlyPolicy(t)})}, nil},
		{"S10 no policy", "AwsSolutions-S10", []rules.Resource{res(bucketV2, "data", map[string]any{})}, []string{"data"}},
		{"S10 policy without TLS condition", "AwsSolutions-S10", []rules.Resource{res(bucketV2, "data", map[string]any{}), res(bPolicy, "p", map[string]any{"policy": js(t, allow("s3:GetObject", "arn:aws:s3:::data/x"))}, "bucket=data")}, []string{"data"}},
		{"S10 deny for a narrow principal", "AwsSolutions-S10", []rules.Resource{res(bucketV2, "data", map[string]any{}), res(bPolicy, "p", map[string]any{"policy": strings.Replace(sslOnlyPolicy(t), `"Principal":"*"`, `"Principal":{"AWS":"arn:aws:iam::1:root"}`, 1)}, "bucket=data")}, []string{"data"}},
		{"S10 unparseable policy beside a good one", "AwsSolutions-S10", []rules.Resource{
			res(bucketV2, "data", map[string]any{}),
			res(bPolicy, "good", map[string]any{"policy": sslOnlyPolicy(t)}, "bucket=data"),
			res(bPolicy, "broken", map[string]any{"policy": `{"Statement": [`}, "bucket=data"),
		}, []string{"data"}},
		{"S10 policy on another bucket", "AwsSolutions-S10", []rules.Resource{res(bucketV2, "data", map[string]any{}), res(bPolicy, "p", map[string]any{"policy": sslOnlyPolicy(t)}, "bucket=other")}, []string{"data"}},

		// VPC7
		{"VPC7 flow log by ref", "AwsSolutions-VPC7", []rules.Resource{res(vpc, "net", map[string]any{}), res(flowLog, "fl", map[string]any{"vpcId": rules.Unknown}, "vpcId=net")}, nil},
		{"VPC7 flow log by id", "AwsSolutions-VPC7", []rules.Resource{{Type: vpc, Name: "net", ID: "vpc-1", Inputs: map[string]any{}}, res(flowLog, "fl", map[string]any{"vpcId": "vpc-1"})}, nil},
		{"VPC7 awsx component, children absent", "AwsSolutions-VPC7", []rules.Resource{res(awsxVpc, "vpc", map[string]any{}), res(flowLog, "fl", map[string]any{}, "vpcId=vpc")}, nil},
		{"VPC7 awsx component with child", "AwsSolutions-VPC7", []rules.Resource{
			res(awsxVpc, "vpc", map[string]any{}),
			{Type: vpc, Name: "vpc", Parent: "vpc", Inputs: map[string]any{}},
			res(flowLog, "fl", map[string]any{}, "vpcId=vpc"),
		}, nil},
		{"VPC7 no flow log", "AwsSolutions-VPC7", []rules.Resource{res(awsxVpc, "vpc", map[string]any{}), res(flowLog, "fl", map[string]any{}, "vpcId=elsewhere")}, []string{"vpc"}},

		// IAM4
		{"IAM4 customer policies only", "AwsSolutions-IAM4", []rules.Resource{
			res(role, "task", map[string]any{"managedPolicyArns": []any{"arn:aws:iam::123456789012:policy/mine"}}),
			res(rpa, "att", map[string]any{"policyArn": "arn:aws:iam::123456789012:policy/mine"}),
		}, nil},
		{"IAM4 managed on role and attachment", "AwsSolutions-IAM4", []rules.Resource{
			res(role, "exec", map[string]any{"managedPolicyArns": []any{"arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"}}),
			res(rpa, "att", map[string]any{"policyArn": "arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess"}),
		}, []string{"exec", "att"}}, // by type, then name

		// IAM5
		{"IAM5 scoped", "AwsSolutions-IAM5", []rules.Resource{
			res(rolePol, "rp", map[string]any{"policy": js(t, allow([]any{"logs:PutLogEvents"}, "arn:aws:logs:eu-west-1:1:log-group:/ecs/ws"))}),
			res(iamPolicy, "p", map[string]any{"policy": js(t, map[string]any{"Statement": map[string]any{"Effect": "Deny", "Action": "*", "Resource": "*"}})}),
			res(role, "r", map[string]any{"inlinePolicies": []any{map[string]any{"name": "x", "policy": js(t, allow("ecr:GetAuthorizationToken", "arn:aws:ecr:eu-west-1:1:repository/ws"))}}}),
		}, nil},
		{"IAM5 wildcard resource in RolePolicy", "AwsSolutions-IAM5", []rules.Resource{res(rolePol, "exec", map[string]any{"policy": js(t, allow([]any{"ssmmessages:CreateControlChannel"}, "*"))})}, []string{"exec"}},
		{"IAM5 wildcard action in Policy (single statement object)", "AwsSolutions-IAM5", []rules.Resource{res(iamPolicy, "p", map[string]any{"policy": js(t, map[string]any{"Statement": map[string]any{"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b"}})})}, []string{"p"}},
		{"IAM5 wildcard in role inline policy", "AwsSolutions-IAM5", []rules.Resource{res(role, "r", map[string]any{"inlinePolicies": []any{map[string]any{"name": "x", "policy": js(t, allow("s3:GetObject", "arn:aws:s3:::b/*"))}}})}, []string{"r"}},
		{"IAM5 NotAction allow", "AwsSolutions-IAM5", []rules.Resource{res(iamPolicy, "p", map[string]any{"policy": js(t, map[string]any{"Statement": []any{map[string]any{"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::b"}}})})}, []string{"p"}},
		{"IAM5 unparseable policy", "AwsSolutions-IAM5", []rules.Resource{res(rolePol, "rp", map[string]any{"policy": "{not json"})}, []string{"rp"}},
		{"IAM5 policy without statements", "AwsSolutions-IAM5", []rules.Resource{res(rolePol, "rp", map[string]any{"policy": `{"Version":"2012-10-17"}`})}, []string{"rp"}},

		// WS-ECR1, WS-LOG1
		{"ECR1 scan on push", "WS-ECR1", []rules.Resource{res(ecrRepo, "repo", map[string]any{"imageScanningConfiguration": map[string]any{"scanOnPush": true}})}, nil},
		{"ECR1 no scanning", "WS-ECR1", []rules.Resource{res(ecrRepo, "repo", map[string]any{})}, []string{"repo"}},
		{"LOG1 retention", "WS-LOG1", []rules.Resource{res(logGroup, "lg", map[string]any{"retentionInDays": 30.0})}, nil},
		{"LOG1 forever", "WS-LOG1", []rules.Resource{res(logGroup, "lg", map[string]any{}), res(logGroup, "zero", map[string]any{"retentionInDays": 0.0})}, []string{"lg", "zero"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range rules.Check(tc.resources) {
				if f.Rule == tc.rule {
					got = append(got, f.Resource)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s flagged %v, want %v; all findings:\n%v", tc.rule, got, tc.want, findings(rules.Check(tc.resources)))
			}
		})
	}
}

func findings(fs []rules.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}

func TestLooksSecretNames(t *testing.T) {
	// Exercised through ECS2 so the heuristic is tested where it is used.
	for _, tc := range []struct {
		env  string
		want bool
	}{
		{"DB_PASSWORD", true},
		{"originSecret", true},
		{"stripe-api-key", true},
		{"GITHUB_TOKEN", true},
		{"AWS_SECRET_ACCESS_KEY", true},
		{"aws.credentials", true},
		{"apiKey", true},
		{"KEY_PREFIX", false},
		{"LOG_FORMAT", false},
		{"MONKEYS", false},
		{"TOKENIZER_MODE", false},
		{"PORT", false},
		// Pusher's app key is public; its secret is not, nor is a key
		// merely named like it.
		{"PUSHER_APP_KEY", false},
		{"PUSHER_APP_SECRET", true},
		{"pusher_app_key", true},
		{"OTHER_APP_KEY", true},
	} {
		t.Run(tc.env, func(t *testing.T) {
			def := js(t, []any{with(goodContainer(), "environment", []any{map[string]any{"name": tc.env, "value": "v"}})})
			fs := rules.Check([]rules.Resource{res(taskDef, "td", map[string]any{"containerDefinitions": def})})
			got := slices.ContainsFunc(fs, func(f rules.Finding) bool { return f.Rule == "AwsSolutions-ECS2" })
			if got != tc.want {
				t.Errorf("ECS2 fired = %v, want %v", got, tc.want)
			}
		})
	}
}
