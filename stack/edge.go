package stack

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudfront"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/wsfargate/websocket-service/policy/rules"
	"github.com/wsfargate/websocket-service/server/contract"
)

// CloudFront managed policies, looked up by name.
const (
	// CachePolicyName disables caching: every frame is live, and every
	// Pusher HTTP API call (/apps/...) reaches a task.
	CachePolicyName = "Managed-CachingDisabled"
	// OriginRequestPolicyName (ID 33f36d7e-f396-46d9-90e0-52428a34d9dc)
	// forwards every viewer header, including Upgrade and the
	// Sec-WebSocket-* headers of the handshake, every cookie and query
	// string (the Pusher API's signature travels in the query string), and
	// adds CloudFront's own headers, among them CloudFront-Viewer-Address,
	// the viewer's address the server's per-source limits count by.
	OriginRequestPolicyName = "Managed-AllViewerAndCloudFrontHeaders-2022-06"
)

// checkOriginRequestPolicy fails unless the looked-up managed policy
// forwards what the server relies on: the viewer address header and every
// query string. A managed policy does not change under its versioned name,
// so this holds once checked; it turns an assumption into a failed preview
// rather than a server that silently counts CloudFront's addresses.
func checkOriginRequestPolicy(p *cloudfront.LookupOriginRequestPolicyResult) error {
	var headers []string
	forwardsViewerAddress := false
	for _, hc := range p.HeadersConfigs {
		for _, h := range hc.Headers {
			headers = append(headers, h.Items...)
		}
		// allViewer alone forwards what the viewer sent, which is not
		// CloudFront's header.
		forwardsViewerAddress = forwardsViewerAddress || hc.HeaderBehavior == "allViewerAndWhitelistCloudFront"
	}
	if !forwardsViewerAddress || !slices.ContainsFunc(headers, func(h string) bool { return strings.EqualFold(h, contract.ViewerAddressHeader) }) {
		return fmt.Errorf("origin request policy %s does not add %s (headers %v)", OriginRequestPolicyName, contract.ViewerAddressHeader, headers)
	}
	allQueries := len(p.QueryStringsConfigs) > 0
	for _, q := range p.QueryStringsConfigs {
		allQueries = allQueries && q.QueryStringBehavior == "all"
	}
	if !allQueries {
		return fmt.Errorf("origin request policy %s does not forward every query string", OriginRequestPolicyName)
	}
	return nil
}

// viewerTLSWithCertificate is the viewer security policy the seed asks for;
// CloudFront applies it only with a custom certificate.
const viewerTLSWithCertificate = "TLSv1.2_2021"

const originID = "alb"

// edge is the CloudFront distribution in front of the ALB.
type edge struct {
	distribution *cloudfront.Distribution
}

// edge declares the distribution: HTTPS-only for viewers, no caching, all
// methods and viewer headers forwarded to the ALB over HTTP with the secret
// header added, standard logs to the edge log bucket, and the web ACL
// when WAF is on (waf is nil otherwise).
//
// One behaviour carries every path: the seed's /wss, the Pusher
// endpoints /app/{key} (upgrades) and /apps/{id}/... (the HTTP API's GET
// and POST, with its signed query string), the demo page and the health
// checks all need the same settings, all methods, no cache and everything
// forwarded, and the ALB's one listener rule forwards any path that
// carries the secret header.
func (b *builder) edge(lb *loadBalancer, secret pulumi.StringOutput, logs *logBuckets, waf *firewall) (*edge, error) {
	cache, err := cloudfront.LookupCachePolicy(b.ctx, &cloudfront.LookupCachePolicyArgs{
		Name: pulumi.StringRef(CachePolicyName),
	}, b.parent)
	if err != nil {
		return nil, fmt.Errorf("look up cache policy %s: %w", CachePolicyName, err)
	}
	if cache.Id == nil {
		return nil, fmt.Errorf("cache policy %s has no id", CachePolicyName)
	}
	originRequest, err := cloudfront.LookupOriginRequestPolicy(b.ctx, &cloudfront.LookupOriginRequestPolicyArgs{
		Name: pulumi.StringRef(OriginRequestPolicyName),
	}, b.parent)
	if err != nil {
		return nil, fmt.Errorf("look up origin request policy %s: %w", OriginRequestPolicyName, err)
	}
	if originRequest.Id == nil {
		return nil, fmt.Errorf("origin request policy %s has no id", OriginRequestPolicyName)
	}
	if err := checkOriginRequestPolicy(originRequest); err != nil {
		return nil, err
	}

	suppressions := []rules.Suppression{
		rules.Suppress("AwsSolutions-CFR5",
			"The ALB origin has no certificate: CloudFront reaches it over HTTP inside AWS and the ALB admits only the CloudFront origin-facing prefix list with the secret header"),
	}
	var webACL pulumi.StringPtrInput
	if waf != nil {
		// WAFv2 web ACLs are attached by ARN (WAF Classic took the ID).
		webACL = waf.acl.Arn
	} else {
		suppressions = append(suppressions, rules.Suppress("AwsSolutions-CFR2",
			"WAF is off: the config switch waf is false. The origin serves only requests with the CloudFront secret header and WAF sees only the upgrade request of a WebSocket. Set waf to true to attach the stack web ACL"))
	}
	viewer := &cloudfront.DistributionViewerCertificateArgs{
		CloudfrontDefaultCertificate: pulumi.Bool(true),
	}
	var aliases pulumi.StringArray
	if b.cfg.DomainName != "" {
		viewer = &cloudfront.DistributionViewerCertificateArgs{
			AcmCertificateArn:      pulumi.String(b.cfg.CertificateArn),
			SslSupportMethod:       pulumi.String("sni-only"),
			MinimumProtocolVersion: pulumi.String(viewerTLSWithCertificate),
		}
		aliases = pulumi.StringArray{pulumi.String(b.cfg.DomainName)}
	} else {
		suppressions = append(suppressions, rules.Suppress("AwsSolutions-CFR4",
			"No custom domain configured: the default cloudfront.net certificate fixes the viewer minimum at TLSv1. Set domainName and certificateArn to get TLSv1.2_2021"))
	}

	dist, err := cloudfront.NewDistribution(b.ctx, b.name+"-edge", &cloudfront.DistributionArgs{
		Enabled:       pulumi.Bool(true),
		Comment:       pulumi.String("WebSocket service " + b.physical),
		IsIpv6Enabled: pulumi.Bool(true),
		PriceClass:    pulumi.String(b.cfg.PriceClass),
		Aliases:       aliases,
		WebAclId:      webACL,
		Origins: cloudfront.DistributionOriginArray{
			&cloudfront.DistributionOriginArgs{
				OriginId:   pulumi.String(originID),
				DomainName: lb.alb.DnsName,
				CustomOriginConfig: &cloudfront.DistributionOriginCustomOriginConfigArgs{
					HttpPort:             pulumi.Int(listenerPort),
					HttpsPort:            pulumi.Int(443),
					OriginProtocolPolicy: pulumi.String("http-only"),
					OriginSslProtocols:   pulumi.StringArray{pulumi.String("TLSv1.2")},
				},
				CustomHeaders: cloudfront.DistributionOriginCustomHeaderArray{
					&cloudfront.DistributionOriginCustomHeaderArgs{
						Name:  pulumi.String(b.cfg.HeaderName),
						Value: secret,
					},
				},
			},
		},
		DefaultCacheBehavior: &cloudfront.DistributionDefaultCacheBehaviorArgs{
			TargetOriginId:       pulumi.String(originID),
			ViewerProtocolPolicy: pulumi.String("https-only"),
			AllowedMethods: pulumi.ToStringArray([]string{
				"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE",
			}),
			CachedMethods:         pulumi.ToStringArray([]string{"GET", "HEAD"}),
			CachePolicyId:         pulumi.String(*cache.Id),
			OriginRequestPolicyId: pulumi.String(*originRequest.Id),
			Compress:              pulumi.Bool(false),
		},
		LoggingConfig: &cloudfront.DistributionLoggingConfigArgs{
			Bucket:         logs.edge.BucketDomainName,
			Prefix:         pulumi.String(edgeLogPrefix),
			IncludeCookies: pulumi.Bool(false),
		},
		Restrictions: &cloudfront.DistributionRestrictionsArgs{
			GeoRestriction: &cloudfront.DistributionRestrictionsGeoRestrictionArgs{
				RestrictionType: pulumi.String("none"),
			},
		},
		ViewerCertificate: viewer,
		Tags:              b.tags(rules.Tags(suppressions...)),
	}, b.opts(pulumi.DependsOn(logs.edgeReady))...)
	if err != nil {
		return nil, fmt.Errorf("distribution: %w", err)
	}
	return &edge{distribution: dist}, nil
}
