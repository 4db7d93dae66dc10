package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

const (
	roleType           = "aws:iam/role:Role"
	rolePolicyType     = "aws:iam/rolePolicy:RolePolicy"
	policyType         = "aws:iam/policy:Policy"
	rolePolicyAttType  = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
	policyAttType      = "aws:iam/policyAttachment:PolicyAttachment"
	awsManagedARNRegex = `^arn:aws[a-z-]*:iam::aws:policy/`
)

var awsManagedARN = regexp.MustCompile(awsManagedARNRegex)

// statement is one IAM policy statement. Action, Resource and their Not
// forms are a string or a list of strings; Principal is "*" or a map.
type statement struct {
	Sid         string
	Effect      string
	Principal   any
	Action      any
	NotAction   any
	Resource    any
	NotResource any
	Condition   map[string]any
}

// everyone reports whether the statement's principal is anybody.
func (s statement) everyone() bool {
	if s.Principal == "*" {
		return true
	}
	m, _ := s.Principal.(map[string]any)
	for _, v := range strs(m["AWS"]) {
		if v == "*" {
			return true
		}
	}
	return false
}

// statements parses an IAM policy document given as a JSON string (the
// provider schema's form) or as an already decoded object. Anything else,
// and a document without statements, is an error.
func statements(doc any) ([]statement, error) {
	var raw []byte
	switch d := doc.(type) {
	case string:
		raw = []byte(d)
	case map[string]any:
		var err error
		if raw, err = json.Marshal(d); err != nil {
			return nil, fmt.Errorf("re-encode policy document: %w", err)
		}
	case nil:
		return nil, errors.New("policy document is missing")
	default:
		return nil, fmt.Errorf("policy document is %T, want a JSON string", doc)
	}
	var parsed struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal(raw, &parsed); err != nil {
		return nil, fmt.Errorf("policy document is not valid JSON: %w", err)
	}
	trimmed := strings.TrimSpace(string(parsed.Statement))
	if trimmed == "" || trimmed == "null" {
		return nil, errors.New("policy document has no Statement")
	}
	var out []statement
	if strings.HasPrefix(trimmed, "{") {
		var s statement
		if err := json.Unmarshal(parsed.Statement, &s); err != nil {
			return nil, fmt.Errorf("policy Statement: %w", err)
		}
		out = []statement{s}
	} else if err := json.Unmarshal(parsed.Statement, &out); err != nil {
		return nil, fmt.Errorf("policy Statement: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("policy document has no Statement")
	}
	return out, nil
}

var iam4 = Rule{
	ID:          "AwsSolutions-IAM4",
	Description: "No AWS managed policy (arn:aws:iam::aws:policy/...) is attached to a role.",
	Types:       []string{roleType, rolePolicyAttType, policyAttType},
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "AwsSolutions-IAM4"}
		const msg = "attaches the AWS managed policy %s: write a scoped inline policy instead, or suppress with the reason"
		for _, r := range g.ofType(roleType) {
			for _, arn := range strs(r.Inputs["managedPolicyArns"]) {
				if awsManagedARN.MatchString(arn) {
					f.add(r, msg, arn)
				}
			}
		}
		for _, r := range g.ofType(rolePolicyAttType, policyAttType) {
			if arn, _ := r.Inputs["policyArn"].(string); awsManagedARN.MatchString(arn) {
				f.add(r, msg, arn)
			}
		}
		return f.out
	},
}

var iam5 = Rule{
	ID:          "AwsSolutions-IAM5",
	Description: "No Allow statement of an inline or customer managed policy uses a wildcard action or resource (or NotAction/NotResource).",
	Types:       []string{roleType, rolePolicyType, policyType},
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "AwsSolutions-IAM5"}
		checkDoc := func(r *Resource, where string, doc any) {
			if doc == Unknown {
				f.unknown(r, where)
				return
			}
			stmts, err := statements(doc)
			if err != nil {
				f.add(r, "%s cannot be checked: %v", where, err)
				return
			}
			for i, s := range stmts {
				if s.Effect != "Allow" {
					continue
				}
				id := s.Sid
				if id == "" {
					id = fmt.Sprintf("#%d", i)
				}
				var wild []string
				for _, a := range strs(s.Action) {
					if strings.Contains(a, "*") {
						wild = append(wild, "Action::"+a)
					}
				}
				for _, res := range strs(s.Resource) {
					if strings.Contains(res, "*") {
						wild = append(wild, "Resource::"+res)
					}
				}
				if s.NotAction != nil {
					wild = append(wild, "NotAction")
				}
				if s.NotResource != nil {
					wild = append(wild, "NotResource")
				}
				if len(wild) > 0 {
					f.add(r, "%s statement %s allows wildcards %s: name the actions and resources, or suppress with the reason", where, id, strings.Join(wild, ", "))
				}
			}
		}
		for _, r := range g.ofType(roleType) {
			ip := r.Inputs["inlinePolicies"]
			if ip == Unknown {
				f.unknown(r, "inlinePolicies")
				continue
			}
			for i, p := range list(ip) {
				m, _ := p.(map[string]any)
				name, _ := m["name"].(string)
				if name == "" {
					name = fmt.Sprintf("#%d", i)
				}
				checkDoc(r, "inline policy "+name, m["policy"])
			}
		}
		for _, r := range g.ofType(rolePolicyType, policyType) {
			checkDoc(r, "policy", r.Inputs["policy"])
		}
		return f.out
	},
}
