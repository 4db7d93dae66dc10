package rules_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/wsfargate/websocket-service/policy/rules"
)

func TestNewSuppressionValidates(t *testing.T) {
	for _, tc := range []struct {
		name, rule, reason string
		wantErr            string // substring; "" means valid
	}{
		{"valid", "AwsSolutions-CFR4", "No custom domain: viewers get the default cloudfront.net certificate", ""},
		{"all allowed punctuation", "AwsSolutions-IAM5", "a_b.c:d/e=f+g-h@i and ünïcödé 123", ""},
		{"unknown rule", "AwsSolutions-XYZ9", "a long enough reason", "unknown rule ID"},
		{"meta rule", rules.RuleStale, "a long enough reason", "unknown rule ID"},
		{"short reason", "AwsSolutions-S1", "log bkt", "at least 10"},
		{"blank reason", "AwsSolutions-S1", "            ", "at least 10"},
		{"comma", "AwsSolutions-S1", "logs, of logs", "characters AWS tag values do not allow"},
		{"star", "AwsSolutions-IAM5", "needs Resource * for ssmmessages", "characters AWS tag values do not allow"},
		{"too long", "AwsSolutions-S1", strings.Repeat("x", 257), "at most 256"},
		{"exactly 256", "AwsSolutions-S1", strings.Repeat("x", 256), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := rules.NewSuppression(tc.rule, tc.reason)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NewSuppression: %v", err)
				}
				if s.Rule != tc.rule || s.Reason != tc.reason {
					t.Errorf("got %+v", s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestSuppressAndTagsPanicOnProgrammerError(t *testing.T) {
	ok := rules.Suppress("AwsSolutions-S1", "this bucket receives the access logs")
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Suppress invalid", func() { rules.Suppress("AwsSolutions-S1", "short") }},
		{"Tags zero suppression", func() { rules.Tags(rules.Suppression{}) }},
		{"Tags duplicate rule", func() { rules.Tags(ok, ok) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.f()
		})
	}
	got := rules.Tags(ok)
	if len(got) != 1 || got["nag:suppress:AwsSolutions-S1"] != ok.Reason {
		t.Errorf("Tags = %v", got)
	}
}

// ruleNames renders findings as "RULE name" for comparisons.
func ruleNames(fs []rules.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule+" "+f.Resource)
	}
	return out
}

func TestSuppressions(t *testing.T) {
	const reason = "accepted for a documented reason"
	supp := func(rule string) rules.Suppression { return rules.Suppress(rule, reason) }
	wildcard := allow("ssmmessages:OpenDataChannel", "*")
	scoped := allow("logs:PutLogEvents", "arn:aws:logs:eu-west-1:1:log-group:/ecs/ws")

	tests := []struct {
		name      string
		resources func(t *testing.T) []rules.Resource
		want      []string
	}{
		{"tag on the resource suppresses", func(t *testing.T) []rules.Resource {
			return []rules.Resource{res(logGroup, "lg", map[string]any{"tags": tagsOf(supp("WS-LOG1"))})}
		}, nil},
		{"only the named rule is suppressed", func(t *testing.T) []rules.Resource {
			return []rules.Resource{res(lb, "alb", map[string]any{"tags": tagsOf(supp("AwsSolutions-ELB2"))})}
		}, []string{"WS-ALB1 alb"}},
		{"stale suppression is reported", func(t *testing.T) []rules.Resource {
			return []rules.Resource{res(logGroup, "lg", map[string]any{"retentionInDays": 7.0, "tags": tagsOf(supp("WS-LOG1"))})}
		}, []string{"WS-NAG1 lg"}},
		{"suppression on another resource does not leak", func(t *testing.T) []rules.Resource {
			return []rules.Resource{
				res(logGroup, "a", map[string]any{}),
				res(logGroup, "b", map[string]any{"retentionInDays": 7.0, "tags": tagsOf(supp("WS-LOG1"))}),
			}
		}, []string{"WS-LOG1 a", "WS-NAG1 b"}},
		{"untaggable RolePolicy: owner Role via Refs", func(t *testing.T) []rules.Resource {
			return []rules.Resource{
				res(role, "task", map[string]any{"tags": tagsOf(supp("AwsSolutions-IAM5"))}),
				res(rolePol, "exec", map[string]any{"role": rules.Unknown, "policy": js(t, wildcard)}, "role=task"),
			}
		}, nil},
		{"untaggable RolePolicy: owner Role via ID", func(t *testing.T) []rules.Resource {
			return []rules.Resource{
				{Type: role, Name: "task", ID: "task-role-1", Inputs: map[string]any{"tags": tagsOf(supp("AwsSolutions-IAM5"))}},
				res(rolePol, "exec", map[string]any{"role": "task-role-1", "policy": js(t, wildcard)}),
			}
		}, nil},
		{"untaggable BucketPublicAccessBlock: owner via physical name", func(t *testing.T) []rules.Resource {
			return []rules.Resource{
				res(bucketV2, "logs", map[string]any{"bucket": "my-logs", "tags": tagsOf(supp("AwsSolutions-S1"))}),
				res(bPAB, "logs-pab", with(pab(), "bucket", "my-logs")),
				res(bPolicy, "logs-policy", map[string]any{"bucket": "my-logs", "policy": sslOnlyPolicy(t)}),
			}
		}, nil},
		{"untaggable: owner suppression covers the role's own inline policy too", func(t *testing.T) []rules.Resource {
			return []rules.Resource{
				res(role, "task", map[string]any{"tags": tagsOf(supp("AwsSolutions-IAM5")), "inlinePolicies": []any{map[string]any{"name": "a", "policy": js(t, wildcard)}}}),
				res(rolePol, "exec", map[string]any{"policy": js(t, wildcard)}, "role=task"),
			}
		}, nil},
		{"untaggable: owner suppression is stale when nothing it owns fires", func(t *testing.T) []rules.Resource {
			return []rules.Resource{
				res(role, "task", map[string]any{"tags": tagsOf(supp("AwsSolutions-IAM5"))}),
				res(rolePol, "logs", map[string]any{"policy": js(t, scoped)}, "role=task"),
			}
		}, []string{"WS-NAG1 task"}},
		{"untaggable: another role's suppression does not apply", func(t *testing.T) []rules.Resource {
			return []rules.Resource{
				res(role, "task", map[string]any{}),
				res(role, "other", map[string]any{"tags": tagsOf(supp("AwsSolutions-IAM5"))}),
				res(rolePol, "exec", map[string]any{"policy": js(t, wildcard)}, "role=task"),
			}
		}, []string{"AwsSolutions-IAM5 exec", "WS-NAG1 other"}},
		{"untaggable without a resolvable owner stays reported", func(t *testing.T) []rules.Resource {
			return []rules.Resource{res(rolePol, "exec", map[string]any{"role": "somewhere", "policy": js(t, wildcard)})}
		}, []string{"AwsSolutions-IAM5 exec"}},
		{"untaggable ec2 SecurityGroupRule: owner SecurityGroup", func(t *testing.T) []rules.Resource {
			return []rules.Resource{
				res(sg, "public", map[string]any{"tags": tagsOf(supp("AwsSolutions-EC23"))}),
				res(sgRule, "https", map[string]any{"type": "ingress", "cidrBlocks": []any{"0.0.0.0/0"}}, "securityGroupId=public"),
			}
		}, nil},
		{"malformed tags are reported, not ignored", func(t *testing.T) []rules.Resource {
			return []rules.Resource{res(logGroup, "lg", map[string]any{"retentionInDays": 7.0, "tags": map[string]any{
				"nag:suppress:WS-LOG9":  reason,
				"nag:suppress:WS-LOG1":  "too short",
				"nag:suppress:WS-ECR1":  true,
				"team":                  "platform, not a suppression",
				"nag:suppress:WS-NAG1":  reason,
				"nag:suppress:":         reason,
				"nag:suppress:WS-ALB1 ": reason,
			}})}
		}, []string{"WS-NAG2 lg", "WS-NAG2 lg", "WS-NAG2 lg", "WS-NAG2 lg", "WS-NAG2 lg", "WS-NAG2 lg"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := rules.Check(tc.resources(t))
			if got := ruleNames(fs); !slices.Equal(got, tc.want) {
				t.Errorf("findings %v, want %v\n%s", got, tc.want, findings(fs))
			}
		})
	}
}

func TestUnknownValues(t *testing.T) {
	resources := []rules.Resource{
		res(bucketV2, "data", map[string]any{}),
		res(bPolicy, "p", map[string]any{"policy": rules.Unknown}, "bucket=data"),
		res(rolePol, "rp", map[string]any{"policy": rules.Unknown}),
	}
	only := func(fs []rules.Finding) []string {
		var out []string
		for _, n := range ruleNames(fs) {
			if strings.HasPrefix(n, "AwsSolutions-S10") || strings.HasPrefix(n, "AwsSolutions-IAM5") {
				out = append(out, n)
			}
		}
		return out
	}
	if got, want := only(rules.Check(resources)), []string{"AwsSolutions-IAM5 rp", "AwsSolutions-S10 data"}; !slices.Equal(got, want) {
		t.Errorf("strict Check: %v, want %v (a check must not pass by not looking)", got, want)
	}
	if got := only(rules.CheckWith(resources, rules.Options{AllowUnknown: true})); got != nil {
		t.Errorf("AllowUnknown: %v, want none", got)
	}
}

func TestCheckIsDeterministic(t *testing.T) {
	resources := []rules.Resource{
		res(logGroup, "b", map[string]any{}),
		res(logGroup, "a", map[string]any{}),
		res(lb, "alb", map[string]any{}),
		res(bucketV2, "data", map[string]any{}),
		res(cluster, "c", map[string]any{}),
	}
	want := ruleNames(rules.Check(resources))
	if len(want) < 7 {
		t.Fatalf("expected several findings, got %v", want)
	}
	if !slices.IsSortedFunc(rules.Check(resources), func(a, b rules.Finding) int { return strings.Compare(a.Rule, b.Rule) }) {
		t.Errorf("findings not sorted by rule: %v", want)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := slices.Clone(resources)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := ruleNames(rules.Check(shuffled)); !slices.Equal(got, want) {
			t.Fatalf("order depends on input order: %v vs %v", got, want)
		}
	}
}
