package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/wsfargate/websocket-service/policy/rules"
)

const stackURN = "urn:pulumi:dev::websocket-service::"

func urnOf(typ, name string) string { return stackURN + typ + "::" + name }

// violation is one ReportViolation call.
type violation struct{ message, urn string }

// recorder is a policyx.PolicyManager that keeps the violations.
type recorder struct{ got []violation }

func (r *recorder) ReportViolation(message, urn string) {
	r.got = append(r.got, violation{message, urn})
}

func str(s string) property.Value { return property.New(s) }

func TestToResources(t *testing.T) {
	roleURN := urnOf("aws:iam/role:Role", "task")
	policyDoc := property.New(`{"Statement":[]}`).WithSecret(true)
	in := []policyx.AnalyzerResource{{
		Type:   "aws:iam/rolePolicy:RolePolicy",
		Name:   "exec",
		URN:    urnOf("aws:iam/rolePolicy:RolePolicy", "exec"),
		Parent: urnOf("pulumi:pulumi:Stack", "websocket-service-dev"),
		Properties: property.NewMap(map[string]property.Value{
			"role":   property.New(property.Computed),
			"policy": policyDoc,
			"nested": property.New(map[string]property.Value{
				"list": property.New([]property.Value{property.New(true), property.New(2.0), property.New(property.Null)}),
			}),
			"name": str("exec").WithDependencies(nil),
		}),
		PropertyDependencies: map[string][]string{"role": {roleURN}},
	}}
	got := toResources(in)
	if len(got) != 1 {
		t.Fatalf("got %d resources", len(got))
	}
	r := got[0]
	want := rules.Resource{
		Type:   "aws:iam/rolePolicy:RolePolicy",
		Name:   "exec",
		Parent: "websocket-service-dev",
		Inputs: map[string]any{
			"role":   rules.Unknown,
			"policy": `{"Statement":[]}`, // secret unwrapped
			"nested": map[string]any{"list": []any{true, 2.0, nil}},
			"name":   "exec",
		},
		Refs: map[string][]string{"role": {"task"}},
	}
	gotJSON, _ := json.Marshal(r)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) || r.Inputs["role"] != rules.Unknown {
		t.Errorf("toResources:\n got  %s\n want %s", gotJSON, wantJSON)
	}
}

func TestValidateReportsFindingsOnTheirURN(t *testing.T) {
	lbURN := urnOf("aws:lb/loadBalancer:LoadBalancer", "alb")
	groupURN := urnOf("aws:cloudwatch/logGroup:LogGroup", "service")
	resources := []policyx.AnalyzerResource{
		{Type: "aws:lb/loadBalancer:LoadBalancer", Name: "alb", URN: lbURN, Properties: property.NewMap(map[string]property.Value{
			"dropInvalidHeaderFields": property.New(true),
			"accessLogs":              property.New(map[string]property.Value{"enabled": property.New(true), "bucket": property.New(property.Computed)}),
		})},
		{Type: "aws:cloudwatch/logGroup:LogGroup", Name: "service", URN: groupURN, Properties: property.NewMap(map[string]property.Value{
			"tags": property.New(map[string]property.Value{"nag:suppress:WS-LOG1": str("Kept for an audit period set outside this stack")}),
		})},
		{Type: "aws:cloudwatch/logGroup:LogGroup", Name: "orphan", URN: urnOf("aws:cloudwatch/logGroup:LogGroup", "orphan"), Properties: property.NewMap(nil)},
	}
	for _, tc := range []struct {
		name string
		opts rules.Options
		want []violation
	}{
		{"preview skips unknowns", rules.Options{AllowUnknown: true}, []violation{
			{"WS-LOG1: logs are kept forever: set retentionInDays", urnOf("aws:cloudwatch/logGroup:LogGroup", "orphan")},
		}},
		{"update is strict", rules.Options{}, []violation{
			{"AwsSolutions-ELB2: cannot verify: accessLogs is not known", lbURN},
			{"WS-LOG1: logs are kept forever: set retentionInDays", urnOf("aws:cloudwatch/logGroup:LogGroup", "orphan")},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			validate(policyx.StackValidationArgs{Manager: rec, Resources: resources}, tc.opts)
			if !slices.Equal(rec.got, tc.want) {
				t.Errorf("violations:\n got  %q\n want %q", rec.got, tc.want)
			}
		})
	}
}

func TestNewPack(t *testing.T) {
	pack, err := newPack(true)
	if err != nil {
		t.Fatal(err)
	}
	if pack.Name() != packName || len(pack.Policies()) != 1 {
		t.Fatalf("pack %s with %d policies", pack.Name(), len(pack.Policies()))
	}
	p, ok := pack.Policies()[0].(policyx.StackValidationPolicy)
	if !ok || p.Name() != policyName || p.EnforcementLevel() != policyx.EnforcementLevelMandatory {
		t.Fatalf("policy %T %s %v, want a mandatory stack policy %s", pack.Policies()[0], pack.Policies()[0].Name(), pack.Policies()[0].EnforcementLevel(), policyName)
	}
	rec := &recorder{}
	err = p.Validate(context.Background(), policyx.StackValidationArgs{Manager: rec, Resources: []policyx.AnalyzerResource{{
		Type: "aws:ecr/repository:Repository", Name: "repo", URN: urnOf("aws:ecr/repository:Repository", "repo"), Properties: property.NewMap(nil),
	}}})
	if err != nil || len(rec.got) != 1 || !strings.HasPrefix(rec.got[0].message, "WS-ECR1: ") {
		t.Errorf("Validate: err %v, violations %q", err, rec.got)
	}
}
