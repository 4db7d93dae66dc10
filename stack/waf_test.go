package stack

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/wsfargate/websocket-service/server/contract"
)

// countedCommonRules are the rules of AWSManagedRulesCommonRuleSet the web
// ACL must set to count (written out here rather than taken from the code,
// so that a change to the list is a deliberate change to this test too).
var countedCommonRules = []string{
	"CrossSiteScripting_BODY", "EC2MetaDataSSRF_BODY", "GenericLFI_BODY", "GenericRFI_BODY",
	"NoUserAgent_HEADER", "SizeRestrictions_BODY",
}

// byteMatches evaluates a byte match statement of the web ACL on a
// request path, as WAF would: the text transformations first, then the
// positional constraint.
func byteMatches(t *testing.T, stmt any, path string) bool {
	t.Helper()
	bm, _ := at(stmt, "byteMatchStatement").(map[string]any)
	if bm == nil {
		t.Fatalf("statement %v is not a byte match", stmt)
	}
	if _, ok := at(bm, "fieldToMatch", "uriPath").(map[string]any); !ok {
		t.Fatalf("byte match %v does not inspect the URI path", bm)
	}
	for _, tr := range bm["textTransformations"].([]any) {
		switch at(tr, "type") {
		case "URL_DECODE":
			if p, err := url.PathUnescape(path); err == nil {
				path = p
			}
		case "NONE":
		default:
			t.Fatalf("text transformation %v not modelled", tr)
		}
	}
	s := bm["searchString"].(string)
	switch bm["positionalConstraint"] {
	case "EXACTLY":
		return path == s
	case "STARTS_WITH":
		return strings.HasPrefix(path, s)
	case "CONTAINS":
		return strings.Contains(path, s)
	}
	t.Fatalf("positional constraint %v not modelled", bm["positionalConstraint"])
	return false
}

// checkWAF checks the web ACL: none without the waf switch; with it, one
// CLOUDFRONT web ACL in us-east-1 (through an explicit provider when the
// stack is elsewhere), metrics and samples for it and every rule, the
// per-IP rate limit on upgrades only, and the two AWS managed rule groups
// with exactly the documented rules set to count. The association with the
// distribution is checked in checkEdge.
func checkWAF(t *testing.T, r *run, cfg Config) {
	t.Helper()
	acls := r.ofType("aws:wafv2/webAcl:WebAcl")
	var wafProviders []string
	for _, p := range r.ofType("pulumi:providers:aws") {
		if p.Args.Name == "websocket-"+wafRegion {
			wafProviders = append(wafProviders, p.Args.Name)
			if p.Rule.Inputs["region"] != wafRegion {
				t.Errorf("provider %s region %v, want %s", p.Args.Name, p.Rule.Inputs["region"], wafRegion)
			}
		}
	}
	if !cfg.WAF {
		if len(acls) != 0 || len(wafProviders) != 0 {
			t.Errorf("waf off, yet %d web ACLs and providers %v", len(acls), wafProviders)
		}
		return
	}
	if len(acls) != 1 {
		t.Fatalf("%d web ACLs, want 1", len(acls))
	}
	acl := acls[0]
	in := acl.Rule.Inputs
	physical := cfg.ResourceName("dev")
	if in["scope"] != "CLOUDFRONT" || in["name"] != physical {
		t.Errorf("web ACL scope %v name %v, want CLOUDFRONT %s", in["scope"], in["name"], physical)
	}
	if _, ok := at(in, "defaultAction", "allow").(map[string]any); !ok || at(in, "defaultAction", "block") != nil {
		t.Errorf("default action %v, want allow", in["defaultAction"])
	}
	visible := func(where string, vc any, metric string) {
		if at(vc, "cloudwatchMetricsEnabled") != true || at(vc, "sampledRequestsEnabled") != true || at(vc, "metricName") != metric {
			t.Errorf("%s visibility %v, want metrics and samples as %s", where, vc, metric)
		}
	}
	visible("web ACL", in["visibilityConfig"], physical)

	// A CLOUDFRONT web ACL exists only in us-east-1: the default provider
	// there, an explicit one elsewhere.
	provider := acl.Args.RegisterRPC.GetProvider()
	if r.region == wafRegion {
		if len(wafProviders) != 0 || strings.Contains(provider, "websocket-"+wafRegion) {
			t.Errorf("in %s: providers %v, web ACL provider %q; want the default provider", r.region, wafProviders, provider)
		}
	} else if len(wafProviders) != 1 || !strings.Contains(provider, "pulumi:providers:aws::websocket-"+wafRegion) {
		t.Errorf("in %s: providers %v, web ACL provider %q; want the explicit %s provider", r.region, wafProviders, provider, wafRegion)
	}

	rulesIn, _ := in["rules"].([]any)
	byName := map[string]map[string]any{}
	var order []string
	for i, x := range rulesIn {
		rule := x.(map[string]any)
		name := rule["name"].(string)
		byName[name] = rule
		order = append(order, name)
		if rule["priority"] != float64(i) {
			t.Errorf("rule %s priority %v, want %d (the declared order)", name, rule["priority"], i)
		}
		visible("rule "+name, rule["visibilityConfig"], name)
	}
	if !slices.Equal(order, wafRules) {
		t.Fatalf("rules %v, want %v", order, wafRules)
	}

	// The rate limit: per viewer IP, over 5 minutes, answered with 429,
	// counting WebSocket upgrades only.
	rate := byName[wafRuleUpgradeRate]
	if at(rate, "action", "block", "customResponse", "responseCode") != 429.0 || rate["overrideAction"] != nil {
		t.Errorf("rate rule action %v, want block with 429", rate["action"])
	}
	rb := at(rate, "statement", "rateBasedStatement")
	if at(rb, "aggregateKeyType") != "IP" || at(rb, "limit") != float64(cfg.WAFRateLimit) || at(rb, "evaluationWindowSec") != 300.0 || at(rb, "forwardedIpConfig") != nil {
		t.Errorf("rate-based statement %v, want %d per IP in 300 s", rb, cfg.WAFRateLimit)
	}
	scope, _ := at(rb, "scopeDownStatement", "orStatement", "statements").([]any)
	if len(scope) == 0 {
		t.Fatalf("rate rule has no scope-down OR statement: %v", at(rb, "scopeDownStatement"))
	}
	for path, want := range map[string]bool{
		contract.WebSocketPath:                        true,
		contract.PusherSocketPrefix + "0a1b2c":        true,
		"/%61pp/0a1b2c":                               true, // the server's router decodes the path too
		contract.PusherAPIPrefix + "1234567/events":   false,
		contract.PusherAPIPrefix + "1234567/channels": false,
		contract.RootPath:                             false,
		contract.HealthPath:                           false,
		"/demo":                                       false,
	} {
		got := slices.ContainsFunc(scope, func(s any) bool { return byteMatches(t, s, path) })
		if got != want {
			t.Errorf("rate limit scope on %s: %v, want %v", path, got, want)
		}
	}

	// The managed groups keep their own actions (override none) except the
	// rules set to count.
	for name, want := range map[string]struct {
		group   string
		counted []string
	}{
		wafRuleCommon:         {"AWSManagedRulesCommonRuleSet", countedCommonRules},
		wafRuleKnownBadInputs: {"AWSManagedRulesKnownBadInputsRuleSet", nil},
	} {
		rule := byName[name]
		if _, ok := at(rule, "overrideAction", "none").(map[string]any); !ok || at(rule, "overrideAction", "count") != nil || rule["action"] != nil {
			t.Errorf("rule %s: override %v action %v, want override none", name, rule["overrideAction"], rule["action"])
		}
		mg := at(rule, "statement", "managedRuleGroupStatement")
		if at(mg, "vendorName") != "AWS" || at(mg, "name") != want.group {
			t.Errorf("rule %s runs %v/%v, want AWS/%s", name, at(mg, "vendorName"), at(mg, "name"), want.group)
		}
		var counted []string
		overrides, _ := at(mg, "ruleActionOverrides").([]any)
		for _, o := range overrides {
			action, _ := at(o, "actionToUse").(map[string]any)
			if _, ok := action["count"].(map[string]any); !ok || len(action) != 1 {
				t.Errorf("rule %s override %v is not count", name, o)
			}
			counted = append(counted, at(o, "name").(string))
		}
		slices.Sort(counted)
		if !slices.Equal(counted, want.counted) {
			t.Errorf("rule %s counts %v, want %v", name, counted, want.counted)
		}
	}
}
