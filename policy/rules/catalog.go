package rules

import "slices"

// Rule describes one rule of the set.
type Rule struct {
	// ID is the cdk-nag rule ID (AwsSolutions-...) or a project ID (WS-...)
	// for checks cdk-nag's AwsSolutions pack does not have.
	ID string
	// Description is the one-line requirement the rule enforces.
	Description string
	// Types are the resource type tokens the rule inspects.
	Types []string

	check func(g *graph) []Finding
}

// catalog is the rule set, in README order.
var catalog = []Rule{
	elb2, alb1,
	ec23,
	ecs4, ecs7, ecs2,
	cfr2, cfr3, cfr4, cfr5,
	s1, s2, s10,
	vpc7,
	iam4, iam5,
	ecr1, log1,
}

// Rules returns the rule set, in a stable order.
func Rules() []Rule { return slices.Clone(catalog) }

func ruleByID(id string) (Rule, bool) {
	for _, r := range catalog {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

func suppressibleIDs() []string {
	ids := make([]string, len(catalog))
	for i, r := range catalog {
		ids[i] = r.ID
	}
	return ids
}
