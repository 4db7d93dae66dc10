package rules

import (
	"fmt"
	"slices"
	"strings"
)

// graph indexes the resources for the rules and for suppression lookup.
type graph struct {
	opts      Options
	resources []*Resource
	byType    map[string][]*Resource
}

func newGraph(resources []Resource, opts Options) *graph {
	g := &graph{opts: opts, byType: map[string][]*Resource{}}
	for i := range resources {
		r := &resources[i]
		g.resources = append(g.resources, r)
		g.byType[r.Type] = append(g.byType[r.Type], r)
	}
	return g
}

// ofType returns the resources of the given types, in input order.
func (g *graph) ofType(types ...string) []*Resource {
	var out []*Resource
	for _, r := range g.resources {
		if slices.Contains(types, r.Type) {
			out = append(out, r)
		}
	}
	return out
}

// byName returns the resource with this type and name, or nil.
func (g *graph) byName(typ, name string) *Resource {
	for _, r := range g.byType[typ] {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// refersTo reports whether r's input prop refers to target: through
// Refs (property dependencies), or because its literal value equals the
// target's ID or the physical name the target was given as an input.
func refersTo(r *Resource, prop string, target *Resource) bool {
	if slices.Contains(r.Refs[prop], target.Name) {
		return true
	}
	v, ok := r.Inputs[prop].(string)
	if !ok || v == "" {
		return false
	}
	if target.ID != "" && v == target.ID {
		return true
	}
	for _, k := range []string{"name", "bucket", "arn"} {
		if s, ok := target.Inputs[k].(string); ok && s == v {
			return true
		}
	}
	return false
}

// ancestors returns r's parent chain, nearest first, as far as it is
// among the resources.
func (g *graph) ancestors(r *Resource) []*Resource {
	var out []*Resource
	seen := map[*Resource]bool{r: true}
	for cur := r; cur.Parent != ""; {
		var next *Resource
		for _, c := range g.resources {
			if c.Name == cur.Parent && !seen[c] {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		seen[next] = true
		out = append(out, next)
		cur = next
	}
	return out
}

// ownerRef says, for a resource type without tags, which input names the
// owning resource whose tags carry its suppressions.
type ownerRef struct {
	prop  string
	types []string
}

var (
	roleTypes   = []string{"aws:iam/role:Role"}
	bucketTypes = []string{"aws:s3/bucketV2:BucketV2", "aws:s3/bucket:Bucket"}
	sgTypes     = []string{"aws:ec2/securityGroup:SecurityGroup"}
	vpcTypes    = []string{"aws:ec2/vpc:Vpc", "awsx:ec2:Vpc"}
)

// untaggable lists the resource types that have no tags input and the
// owner that carries their suppressions.
var untaggable = map[string]ownerRef{
	"aws:iam/rolePolicy:RolePolicy":                                                              {"role", roleTypes},
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment":                                          {"role", roleTypes},
	"aws:s3/bucketPolicy:BucketPolicy":                                                           {"bucket", bucketTypes},
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":                                     {"bucket", bucketTypes},
	"aws:s3/bucketLoggingV2:BucketLoggingV2":                                                     {"bucket", bucketTypes},
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": {"bucket", bucketTypes},
	"aws:ec2/securityGroupRule:SecurityGroupRule":                                                {"securityGroupId", sgTypes},
}

// owners returns the resources whose tags may suppress findings on r:
// r itself, or for an untaggable type the owners it refers to.
func (g *graph) owners(r *Resource) []*Resource {
	o, ok := untaggable[r.Type]
	if !ok {
		return []*Resource{r}
	}
	var out []*Resource
	for _, c := range g.ofType(o.types...) {
		if refersTo(r, o.prop, c) {
			out = append(out, c)
		}
	}
	return out
}

// Meta-rule IDs: problems with the suppressions themselves. They cannot be
// suppressed.
const (
	// RuleStale reports a suppression that silenced no finding.
	RuleStale = "WS-NAG1"
	// RuleBadSuppression reports a suppression tag that is malformed.
	RuleBadSuppression = "WS-NAG2"
)

// applySuppressions drops the findings a suppression covers and appends a
// finding for every stale or malformed suppression.
func (g *graph) applySuppressions(raw []Finding) []Finding {
	type carrierRule struct {
		r    *Resource
		rule string
	}
	declared := map[*Resource]map[string]Suppression{}
	var out []Finding
	for _, r := range g.resources {
		s, errs := suppressionsIn(r.Inputs["tags"])
		if len(s) > 0 {
			declared[r] = s
		}
		for _, err := range errs {
			out = append(out, Finding{Rule: RuleBadSuppression, Type: r.Type, Resource: r.Name, Message: err.Error()})
		}
	}
	used := map[carrierRule]bool{}
	for _, f := range raw {
		r := g.byName(f.Type, f.Resource)
		suppressed := false
		if r != nil {
			for _, o := range g.owners(r) {
				if _, ok := declared[o][f.Rule]; ok {
					used[carrierRule{o, f.Rule}] = true
					suppressed = true
				}
			}
		}
		if !suppressed {
			out = append(out, f)
		}
	}
	for _, r := range g.resources {
		for rule, s := range declared[r] {
			if used[carrierRule{r, rule}] {
				continue
			}
			out = append(out, Finding{
				Rule:     RuleStale,
				Type:     r.Type,
				Resource: r.Name,
				Message:  fmt.Sprintf("stale suppression: %s (%q) silences no finding on this resource or the untaggable resources it owns; remove it", rule, s.Reason),
			})
		}
	}
	return out
}

// finder collects one rule's findings.
type finder struct {
	g    *graph
	rule string
	out  []Finding
}

func (f *finder) add(r *Resource, format string, args ...any) {
	f.out = append(f.out, Finding{Rule: f.rule, Type: r.Type, Resource: r.Name, Message: fmt.Sprintf(format, args...)})
}

// unknown records that what could not be verified on r because it is
// [Unknown], unless the options allow unknowns.
func (f *finder) unknown(r *Resource, what string) {
	if !f.g.opts.AllowUnknown {
		f.add(r, "cannot verify: %s is not known", what)
	}
}

// get walks a dotted path through nested maps; lists are not traversed.
func get(m map[string]any, path string) any {
	var cur any = m
	for p := range strings.SplitSeq(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			if cur == Unknown {
				return Unknown
			}
			return nil
		}
		cur = mm[p]
	}
	return cur
}

// list returns v as a slice: a single map or string is a one-element list,
// as in IAM documents and the provider's single-element blocks.
func list(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	default:
		return []any{x}
	}
}

// strs returns the strings in v (a string or a list), skipping others.
func strs(v any) []string {
	var out []string
	for _, e := range list(v) {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// isTrue accepts true and the string "true" (the engine sometimes carries
// booleans of nested blocks as strings).
func isTrue(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true")
	}
	return false
}
