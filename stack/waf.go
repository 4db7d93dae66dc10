package stack

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/wafv2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumiconfig "github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/wsfargate/websocket-service/server/contract"
)

// wafRegion is where a CLOUDFRONT-scoped web ACL must be created, and where
// WAF publishes its metrics, whatever the stack's region.
const wafRegion = "us-east-1"

// Bounds of wafRateLimit: WAF's lowest rate limit is 10, its highest 2e9.
const (
	wafRateLimitMin = 10
	wafRateLimitMax = 2_000_000_000
	// wafRateWindowSeconds is the window wafRateLimit counts over.
	wafRateWindowSeconds = 300
	// wafRateLimitedStatus answers an upgrade over the limit: Too Many
	// Requests tells a client to back off, where WAF's default 403 reads
	// as a permanent refusal.
	wafRateLimitedStatus = 429
)

// The web ACL's rules, in evaluation order. Each name is also the rule's
// CloudWatch metric name (the Rule dimension of AWS/WAFV2).
const (
	wafRuleUpgradeRate    = "upgrades-per-ip"
	wafRuleCommon         = "aws-common-rule-set"
	wafRuleKnownBadInputs = "aws-known-bad-inputs"
)

// wafRules lists the rules' metric names in evaluation order.
var wafRules = []string{wafRuleUpgradeRate, wafRuleCommon, wafRuleKnownBadInputs}

// commonRuleSetCounted are the rules of AWSManagedRulesCommonRuleSet that
// would block this service's legitimate traffic. They are set to count,
// not removed, so their matches stay visible (CountedRequests). The
// group's other rules (bad-bot user agents, oversized query strings,
// URIs and cookies, and the XSS, LFI and RFI patterns in query strings,
// URIs and cookies) stay blocking: nothing legitimate here sends those.
//
// Of the service's endpoints only the Pusher HTTP API (POST
// /apps/{id}/events and /batch_events) and the demo page's two small form
// posts (/demo/pusher/auth and /trigger, whose inputs the server checks
// strictly) take a request body. The API's holds application data that the
// server relays verbatim to subscribers and never renders, opens or
// fetches, and every such request is signed with the app secret, so only
// the app's backend can make one the server accepts. The body rules
// therefore protect nothing here, and each false positive would silently
// drop a published event.
var commonRuleSetCounted = []string{
	// Blocks requests without a User-Agent header. Server SDKs and CLIs
	// send none: the Node ws library (wscat, the smoke test in
	// docs/deploy.md) and several Pusher server libraries among them.
	"NoUserAgent_HEADER",
	// Blocks bodies over 8 KB. An event's data may be up to 10 KB
	// (PUSHER_MAX_EVENT_BYTES) before its JSON envelope, and a batch of
	// events up to PUSHER_MAX_API_BODY; the server enforces both limits
	// itself and answers 413.
	"SizeRestrictions_BODY",
	// Blocks bodies with HTML and script markup. Event data often is
	// HTML (rendered fragments, chat text); the server relays it inside a
	// JSON string and never renders it.
	"CrossSiteScripting_BODY",
	// These three block bodies with path traversal (../), URLs with IPv4
	// addresses and the instance metadata address: ordinary content of
	// event data (file names, links), which the server never opens or
	// fetches.
	"GenericLFI_BODY",
	"GenericRFI_BODY",
	"EC2MetaDataSSRF_BODY",
}

// firewall is the WAF web ACL in front of the distribution.
type firewall struct {
	acl *wafv2.WebAcl
	// name is the web ACL's name: the WebACL dimension of its metrics.
	name string
}

// visibility turns on CloudWatch metrics (named metric) and sampled
// requests, for the web ACL and for every rule.
func visibility(metric string) *wafv2.WebAclVisibilityConfigArgs {
	return &wafv2.WebAclVisibilityConfigArgs{
		CloudwatchMetricsEnabled: pulumi.Bool(true),
		MetricName:               pulumi.String(metric),
		SampledRequestsEnabled:   pulumi.Bool(true),
	}
}

func ruleVisibility(metric string) *wafv2.WebAclRuleVisibilityConfigArgs {
	return &wafv2.WebAclRuleVisibilityConfigArgs{
		CloudwatchMetricsEnabled: pulumi.Bool(true),
		MetricName:               pulumi.String(metric),
		SampledRequestsEnabled:   pulumi.Bool(true),
	}
}

// uriPathMatches is a byte match on the URL-decoded path. Decoding first
// matters because the server's router (Go's http.ServeMux) matches the
// decoded path segments, so /%61pp/{key} reaches the Pusher endpoint too
// and must count against the limit as well.
func uriPathMatches(constraint, value string) wafv2.WebAclRuleStatementInput {
	return &wafv2.WebAclRuleStatementArgs{
		ByteMatchStatement: &wafv2.WebAclRuleStatementByteMatchStatementArgs{
			FieldToMatch: &wafv2.WebAclRuleStatementByteMatchStatementFieldToMatchArgs{
				UriPath: &wafv2.WebAclRuleStatementByteMatchStatementFieldToMatchUriPathArgs{},
			},
			PositionalConstraint: pulumi.String(constraint),
			SearchString:         pulumi.String(value),
			TextTransformations: wafv2.WebAclRuleStatementByteMatchStatementTextTransformationArray{
				&wafv2.WebAclRuleStatementByteMatchStatementTextTransformationArgs{Priority: pulumi.Int(0), Type: pulumi.String("URL_DECODE")},
			},
		},
	}
}

// managedGroup is a rule that runs an AWS managed rule group with the
// group's own actions, except for the rules named in count.
func managedGroup(name, group string, priority int, count []string) *wafv2.WebAclRuleArgs {
	var overrides wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArray
	for _, r := range count {
		overrides = append(overrides, &wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArgs{
			Name: pulumi.String(r),
			ActionToUse: &wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseArgs{
				Count: &wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseCountArgs{},
			},
		})
	}
	return &wafv2.WebAclRuleArgs{
		Name:     pulumi.String(name),
		Priority: pulumi.Int(priority),
		// None keeps the group's actions (Count would make the whole
		// group count).
		OverrideAction: &wafv2.WebAclRuleOverrideActionArgs{None: &wafv2.WebAclRuleOverrideActionNoneArgs{}},
		Statement: &wafv2.WebAclRuleStatementArgs{
			ManagedRuleGroupStatement: &wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs{
				VendorName:          pulumi.String("AWS"),
				Name:                pulumi.String(group),
				RuleActionOverrides: overrides,
			},
		},
		VisibilityConfig: ruleVisibility(name),
	}
}

// wafProvider returns the provider options for WAF resources: none in
// us-east-1, where the default provider already is, and otherwise an
// explicit provider for us-east-1. An explicit provider does not read the
// stack's aws: configuration, so the one credential setting a stack
// commonly carries, aws:profile, is passed on.
func (b *builder) wafProvider() ([]pulumi.ResourceOption, error) {
	if b.region == wafRegion {
		return nil, nil
	}
	args := &aws.ProviderArgs{Region: pulumi.String(wafRegion)}
	if profile := pulumiconfig.Get(b.ctx, "aws:profile"); profile != "" {
		args.Profile = pulumi.String(profile)
	}
	p, err := aws.NewProvider(b.ctx, b.name+"-"+wafRegion, args, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("provider for %s: %w", wafRegion, err)
	}
	return []pulumi.ResourceOption{pulumi.Provider(p)}, nil
}

// firewall declares, when waf is on, the web ACL the distribution is
// associated with, and returns nil when it is off. WAF inspects each HTTP
// request: a WebSocket's upgrade, not the frames that follow, and each
// Pusher HTTP API call.
//
// Rules, in order: a per-IP rate limit on upgrades (a connection flood
// costs a task a socket and memory each, while one IP's other requests are
// cheap), AWS's core rule set with the rules that would block legitimate
// clients or API calls set to count, and AWS's known-bad-inputs set
// (Log4Shell, Java deserialization and similar exploit payloads).
func (b *builder) firewall() (*firewall, error) {
	if !b.cfg.WAF {
		return nil, nil
	}
	providerOpts, err := b.wafProvider()
	if err != nil {
		return nil, err
	}
	upgradeRate := &wafv2.WebAclRuleArgs{
		Name:     pulumi.String(wafRuleUpgradeRate),
		Priority: pulumi.Int(0),
		Action: &wafv2.WebAclRuleActionArgs{
			Block: &wafv2.WebAclRuleActionBlockArgs{
				CustomResponse: &wafv2.WebAclRuleActionBlockCustomResponseArgs{ResponseCode: pulumi.Int(wafRateLimitedStatus)},
			},
		},
		Statement: &wafv2.WebAclRuleStatementArgs{
			RateBasedStatement: &wafv2.WebAclRuleStatementRateBasedStatementArgs{
				// The viewer's own address: WAF on CloudFront sees the
				// client, so no forwarded-IP header is needed (or trusted).
				AggregateKeyType:    pulumi.String("IP"),
				Limit:               pulumi.Int(b.cfg.WAFRateLimit),
				EvaluationWindowSec: pulumi.Int(wafRateWindowSeconds),
				// Only upgrades count: the seed's endpoint and the Pusher
				// socket path (/app/ does not match the API's /apps/).
				ScopeDownStatement: &wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementArgs{
					OrStatement: &wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementOrStatementArgs{
						Statements: wafv2.WebAclRuleStatementArray{
							uriPathMatches("EXACTLY", contract.WebSocketPath),
							uriPathMatches("STARTS_WITH", contract.PusherSocketPrefix),
						},
					},
				},
			},
		},
		VisibilityConfig: ruleVisibility(wafRuleUpgradeRate),
	}
	acl, err := wafv2.NewWebAcl(b.ctx, b.name+"-waf", &wafv2.WebAclArgs{
		Name:        pulumi.String(b.physical),
		Description: pulumi.String("WebSocket service " + b.physical + ": rate limit on upgrades, AWS core and known-bad-inputs rules"),
		// CLOUDFRONT scope: a distribution takes no REGIONAL web ACL.
		Scope:         pulumi.String("CLOUDFRONT"),
		DefaultAction: &wafv2.WebAclDefaultActionArgs{Allow: &wafv2.WebAclDefaultActionAllowArgs{}},
		Rules: wafv2.WebAclRuleArray{
			upgradeRate,
			managedGroup(wafRuleCommon, "AWSManagedRulesCommonRuleSet", 1, commonRuleSetCounted),
			managedGroup(wafRuleKnownBadInputs, "AWSManagedRulesKnownBadInputsRuleSet", 2, nil),
		},
		VisibilityConfig: visibility(b.physical),
		Tags:             b.tags(),
	}, b.opts(providerOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("web acl: %w", err)
	}
	return &firewall{acl: acl, name: b.physical}, nil
}
