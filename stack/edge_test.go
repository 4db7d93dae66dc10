package stack

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudfront"

	"github.com/wsfargate/websocket-service/server/contract"
	"github.com/wsfargate/websocket-service/stack/stacktest"
)

// cloudFrontPattern matches a path against a cache behaviour's path
// pattern as CloudFront does: * is any run of characters (slashes
// included), ? one character, everything else literal and case-sensitive.
func cloudFrontPattern(pattern, path string) bool {
	var re strings.Builder
	re.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String()).MatchString(path)
}

// behaviourFor returns the cache behaviour CloudFront applies to path: the
// first ordered behaviour whose pattern matches, else the default one.
func behaviourFor(d map[string]any, path string) (map[string]any, string) {
	ordered, _ := d["orderedCacheBehaviors"].([]any)
	for _, o := range ordered {
		b, _ := o.(map[string]any)
		if p, _ := b["pathPattern"].(string); cloudFrontPattern(p, path) {
			return b, p
		}
	}
	b, _ := d["defaultCacheBehavior"].(map[string]any)
	return b, "default"
}

// checkEdgeRoutes checks the behaviour that serves each of the server's
// endpoints: HTTPS only, the method the endpoint needs, nothing cached,
// and the origin request policy that forwards query strings (the Pusher
// API's signature) and adds CloudFront-Viewer-Address.
func checkEdgeRoutes(t *testing.T, d map[string]any) {
	t.Helper()
	for _, ep := range []struct{ path, method string }{
		{contract.WebSocketPath, "GET"},
		{contract.PusherSocketPrefix + stacktest.PusherKey, "GET"},
		{contract.PusherAPIPrefix + "1234567/events", "POST"},
		{contract.PusherAPIPrefix + "1234567/batch_events", "POST"},
		{contract.PusherAPIPrefix + "1234567/channels", "GET"},
		{contract.HealthPath, "GET"},
	} {
		b, which := behaviourFor(d, ep.path)
		methods := strs(b["allowedMethods"])
		if !slices.Contains(methods, ep.method) {
			t.Errorf("%s %s: behaviour %s allows only %v", ep.method, ep.path, which, methods)
		}
		if b["viewerProtocolPolicy"] != "https-only" || b["targetOriginId"] != originID {
			t.Errorf("%s: behaviour %s: viewer protocol %v, origin %v", ep.path, which, b["viewerProtocolPolicy"], b["targetOriginId"])
		}
		// Managed-CachingDisabled: no response is cached, so every API
		// call and upgrade reaches a task.
		if b["cachePolicyId"] != stacktest.CachePolicyID || b["forwardedValues"] != nil {
			t.Errorf("%s: behaviour %s caches (cache policy %v, forwarded values %v)", ep.path, which, b["cachePolicyId"], b["forwardedValues"])
		}
		if b["originRequestPolicyId"] != stacktest.OriginRequestPolicyID {
			t.Errorf("%s: behaviour %s origin request policy %v, want AllViewerAndCloudFrontHeaders-2022-06 (%s)", ep.path, which, b["originRequestPolicyId"], stacktest.OriginRequestPolicyID)
		}
	}
}

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestOriginRequestPolicyCheck: the program accepts the managed policy as
// AWS documents it and refuses one that would leave the server without the
// viewer's address or the API without its signed query string.
func TestOriginRequestPolicyCheck(t *testing.T) {
	policy := func(behavior string, headers []string, queries string) *cloudfront.LookupOriginRequestPolicyResult {
		return &cloudfront.LookupOriginRequestPolicyResult{
			HeadersConfigs: []cloudfront.GetOriginRequestPolicyHeadersConfig{{
				HeaderBehavior: behavior,
				Headers:        []cloudfront.GetOriginRequestPolicyHeadersConfigHeader{{Items: headers}},
			}},
			QueryStringsConfigs: []cloudfront.GetOriginRequestPolicyQueryStringsConfig{{QueryStringBehavior: queries}},
		}
	}
	documented := stacktest.OriginRequestPolicyHeaders()
	cases := []struct {
		name string
		p    *cloudfront.LookupOriginRequestPolicyResult
		ok   bool
	}{
		{"AllViewerAndCloudFrontHeaders-2022-06", policy("allViewerAndWhitelistCloudFront", documented, "all"), true},
		{"AllViewer", policy("allViewer", nil, "all"), false},
		{"without the address header", policy("allViewerAndWhitelistCloudFront", []string{"CloudFront-Viewer-Country"}, "all"), false},
		{"some query strings", policy("allViewerAndWhitelistCloudFront", documented, "whitelist"), false},
		{"no query string config", &cloudfront.LookupOriginRequestPolicyResult{HeadersConfigs: policy("allViewerAndWhitelistCloudFront", documented, "all").HeadersConfigs}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkOriginRequestPolicy(tc.p); (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestCloudFrontPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"/apps/*", "/apps/1/events", true},
		{"/app/*", "/apps/1/events", false},
		{"/app/*", "/app/key", true},
		{"/wss", "/wss", true},
		{"/wss", "/wss/x", false},
		{"*.js", "/a/b.js", true},
	} {
		if got := cloudFrontPattern(tc.pattern, tc.path); got != tc.want {
			t.Errorf("%s ~ %s = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}
