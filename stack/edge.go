package stack

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudfront"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/wsfargate/websocket-service/policy/rules"
)

// CloudFront managed policies, looked up by name.
const (
	// CachePolicyName disables caching: every frame is live.
	CachePolicyName = "Managed-CachingDisabled"
	// OriginRequestPolicyName forwards every viewer header, including
	// Upgrade and the Sec-WebSocket-* headers of the handshake.
	OriginRequestPolicyName = "Managed-AllViewer"
)

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
// header added, standard logs to the edge log bucket.
func (b *builder) edge(lb *loadBalancer, secret pulumi.StringOutput, logs *logBuckets) (*edge, error) {
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

	suppressions := []rules.Suppression{
		rules.Suppress("AwsSolutions-CFR2",
			"No WAF by default: the origin serves only requests with the CloudFront secret header and WAF sees only the upgrade request of a WebSocket. Attach a web ACL where the threat model needs one"),
		rules.Suppress("AwsSolutions-CFR5",
			"The ALB origin has no certificate: CloudFront reaches it over HTTP inside AWS and the ALB admits only the CloudFront origin-facing prefix list with the secret header"),
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
