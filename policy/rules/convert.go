package rules

import (
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// FromMock converts a resource registered under pulumi.WithMocks, so a
// mock's NewResource can collect what the program declares:
//
//	func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
//		id := args.Name + "_id"
//		r := rules.FromMock(args)
//		r.ID = id
//		m.resources = append(m.resources, r) // guard with a mutex: mocks run concurrently
//		return id, args.Inputs, nil
//	}
//
// Parent and Refs come from the register request, so references between
// resources resolve without IDs.
func FromMock(args pulumi.MockResourceArgs) Resource {
	r := Resource{
		Type:   args.TypeToken,
		Name:   args.Name,
		Inputs: FromProperties(resource.FromResourcePropertyMap(args.Inputs)),
		ID:     args.ID,
	}
	if req := args.RegisterRPC; req != nil {
		r.Parent = NameOfURN(req.GetParent())
		for prop, deps := range req.GetPropertyDependencies() {
			r.Refs = addRefs(r.Refs, prop, deps.GetUrns())
		}
	}
	return r
}

func addRefs(refs map[string][]string, prop string, urns []string) map[string][]string {
	for _, u := range urns {
		if refs == nil {
			refs = map[string][]string{}
		}
		refs[prop] = append(refs[prop], NameOfURN(u))
	}
	return refs
}

// NameOfURN returns the logical name at the end of a Pulumi URN
// ("urn:pulumi:stack::project::type::name"), or "" for an empty URN.
func NameOfURN(urn string) string {
	if urn == "" {
		return ""
	}
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}

// FromProperties converts Pulumi property values to the plain values of
// [Resource.Inputs]: secrets are unwrapped, computed values become
// [Unknown], and assets, archives and resource references become nil
// (no rule inspects them).
func FromProperties(m property.Map) map[string]any {
	out := make(map[string]any, m.Len())
	for k, v := range m.All {
		out[k] = fromValue(v)
	}
	return out
}

// RefsOf returns the Refs of a property map whose values carry their
// dependencies (as the policy pack's properties do): for each top-level
// property, the logical names of the resources it was computed from.
func RefsOf(m property.Map) map[string][]string {
	var refs map[string][]string
	for k, v := range m.AllStable {
		var urns []string
		for _, u := range v.Dependencies() {
			urns = append(urns, string(u))
		}
		refs = addRefs(refs, k, urns)
	}
	return refs
}

func fromValue(v property.Value) any {
	switch {
	case v.IsComputed():
		return Unknown
	case v.IsNull():
		return nil
	case v.IsBool():
		return v.AsBool()
	case v.IsNumber():
		return v.AsNumber()
	case v.IsString():
		return v.AsString()
	case v.IsArray():
		arr := v.AsArray()
		out := make([]any, 0, arr.Len())
		for _, e := range arr.All {
			out = append(out, fromValue(e))
		}
		return out
	case v.IsMap():
		return FromProperties(v.AsMap())
	default:
		return nil
	}
}
