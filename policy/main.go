// Command policy is a Pulumi policy pack that applies the project's
// security rules (package rules) to a whole stack:
//
//	pulumi preview --policy-pack policy
//
// It registers one mandatory stack validation policy that converts the
// engine's view of every resource to a rules.Resource and reports each
// unsuppressed finding as a violation on the offending resource.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/wsfargate/websocket-service/policy/rules"
)

// packName is the policy pack's name as the Pulumi CLI shows it.
const packName = "websocket-service-security"

// policyName names the single stack policy.
const policyName = "aws-solutions"

// packVersion is the policy pack's version; bump it when the rules change
// so the Pulumi Cloud can tell published packs apart.
var packVersion = semver.MustParse("0.1.0")

func main() {
	if err := policyx.Main(func(ctx *pulumi.Context) (policyx.PolicyPack, error) {
		return newPack(ctx.DryRun())
	}); err != nil {
		slog.Error("policy pack failed", "err", err)
		os.Exit(1)
	}
}

// newPack builds the policy pack. In a preview (dryRun) the values of
// resources not created yet are unknown, and checks that depend on them
// are skipped; `pulumi up` runs the policy again on the real values.
func newPack(dryRun bool) (policyx.PolicyPack, error) {
	policy := policyx.NewStackValidationPolicy(policyName, policyx.StackValidationPolicyArgs{
		Description:      "Security rules modelled on cdk-nag's AwsSolutions pack; see policy/README.md. Accept a finding with a nag:suppress:<rule> tag carrying the reason.",
		EnforcementLevel: policyx.EnforcementLevelMandatory,
		ValidateStack: func(_ context.Context, args policyx.StackValidationArgs) error {
			validate(args, rules.Options{AllowUnknown: dryRun})
			return nil
		},
	})
	pack, err := policyx.NewPolicyPack(packName, packVersion, policyx.EnforcementLevelMandatory, []policyx.Policy{policy})
	if err != nil {
		return nil, fmt.Errorf("policy pack %s: %w", packName, err)
	}
	return pack, nil
}

// validate runs the rules over the stack and reports every finding on the
// URN of the resource it names.
func validate(args policyx.StackValidationArgs, opts rules.Options) {
	urns := make(map[string]string, len(args.Resources))
	for _, r := range args.Resources {
		urns[r.Type+"::"+r.Name] = r.URN
	}
	for _, f := range rules.CheckWith(toResources(args.Resources), opts) {
		args.Manager.ReportViolation(fmt.Sprintf("%s: %s", f.Rule, f.Message), urns[f.Type+"::"+f.Resource])
	}
}

// toResources converts the engine's resources to the rules' view: plain
// property values, the parent's name, and property dependencies as Refs.
func toResources(in []policyx.AnalyzerResource) []rules.Resource {
	out := make([]rules.Resource, 0, len(in))
	for _, r := range in {
		res := rules.Resource{
			Type:   r.Type,
			Name:   r.Name,
			Inputs: rules.FromProperties(r.Properties),
			Parent: rules.NameOfURN(r.Parent),
			Refs:   rules.RefsOf(r.Properties),
		}
		if res.Name == "" {
			res.Name = rules.NameOfURN(r.URN)
		}
		for prop, deps := range r.PropertyDependencies {
			for _, u := range deps {
				if res.Refs == nil {
					res.Refs = map[string][]string{}
				}
				res.Refs[prop] = append(res.Refs[prop], rules.NameOfURN(u))
			}
		}
		out = append(out, res)
	}
	return out
}
