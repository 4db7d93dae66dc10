// Package rules is the project's security rule set, modelled on cdk-nag's
// AwsSolutions pack and applied to the resources a Pulumi program registers.
//
// The same rules run in two places: the stack's mock tests (resources
// captured from pulumi.WithMocks, see [FromMock]) and the Pulumi policy pack
// in the parent directory (resources from the Pulumi engine). Each finding
// names a rule ID; a finding is silenced only by a [Suppression] that carries
// a reason and sits next to the resource in the stack code, as AWS tags (see
// [Tags]). A suppression that silences nothing is itself reported, so the
// list of accepted risks cannot rot.
package rules

import (
	"cmp"
	"fmt"
	"slices"
)

// Resource is one resource as the rules see it.
type Resource struct {
	// Type is the Pulumi type token, e.g. "aws:lb/loadBalancer:LoadBalancer".
	Type string
	// Name is the resource's logical name (the last part of its URN).
	// Findings and suppressions are attributed by name, so names should be
	// unique within a type.
	Name string
	// Inputs are the resource's inputs as plain JSON-like values (string,
	// float64, bool, []any, map[string]any, nil), secrets unwrapped, keyed
	// by the Pulumi AWS provider schema's camelCase property names
	// (e.g. dropInvalidHeaderFields, accessLogs.enabled). A value not known
	// yet (a preview's computed output) is [Unknown].
	Inputs map[string]any
	// ID is the provider ID, when known (mock tests know it; a preview
	// often does not). Optional: used to resolve references such as a
	// RolePolicy's role or a FlowLog's vpcId.
	ID string
	// Parent is the logical name of the parent resource, "" for none.
	// Optional: lets a VPC created inside an awsx:ec2:Vpc component be
	// covered by a flow log that refers to the component.
	Parent string
	// Refs maps a top-level input property to the logical names of the
	// resources its value was computed from (Pulumi's property
	// dependencies). Optional but preferred: it relates resources even when
	// IDs and names are unknown, as in a preview.
	Refs map[string][]string
}

// Unknown stands for an input value that is not known yet, such as an
// output of a resource that a preview has not created. [Check] treats it as
// a finding ("cannot verify"); [CheckWith] with Options.AllowUnknown skips
// checks that depend on it.
var Unknown = unknown{}

type unknown struct{}

// String makes Unknown readable in messages and test failures.
func (unknown) String() string { return "<unknown>" }

// Finding is one rule violation on one resource.
type Finding struct {
	// Rule is the rule ID, e.g. "AwsSolutions-ELB2".
	Rule string
	// Resource is the logical name of the offending resource.
	Resource string
	// Message says what is wrong and how to fix it.
	Message string
	// Type is the offending resource's type token (disambiguates a name
	// shared by a component and its child, as awsx does).
	Type string
}

// String formats a finding as "RULE TYPE NAME: MESSAGE".
func (f Finding) String() string {
	return fmt.Sprintf("%s %s %s: %s", f.Rule, f.Type, f.Resource, f.Message)
}

// Options tunes [CheckWith].
type Options struct {
	// AllowUnknown skips a check whose input is [Unknown] instead of
	// reporting it. The policy pack sets it, because a preview does not
	// know the outputs of resources it has not created yet; the engine runs
	// the stack policy again on the final state at `pulumi up`. Mock tests
	// leave it false, so a check can never pass by not looking.
	AllowUnknown bool
}

// Check runs every rule over resources and returns the findings that no
// suppression covers, followed by the problems with the suppressions
// themselves (stale or malformed). The order is deterministic: by rule,
// then resource type, then resource name, then message.
func Check(resources []Resource) []Finding {
	return CheckWith(resources, Options{})
}

// CheckWith is [Check] with options.
func CheckWith(resources []Resource, opts Options) []Finding {
	g := newGraph(resources, opts)
	var raw []Finding
	for _, r := range catalog {
		raw = append(raw, r.check(g)...)
	}
	out := g.applySuppressions(raw)
	slices.SortFunc(out, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.Rule, b.Rule),
			cmp.Compare(a.Type, b.Type),
			cmp.Compare(a.Resource, b.Resource),
			cmp.Compare(a.Message, b.Message),
		)
	})
	return slices.Compact(out)
}
