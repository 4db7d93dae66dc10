package rules

import (
	"fmt"
	"slices"
	"strings"
)

const distributionType = "aws:cloudfront/distribution:Distribution"

var cfr2 = Rule{
	ID:          "AwsSolutions-CFR2",
	Description: "CloudFront distributions are associated with an AWS WAF web ACL.",
	Types:       []string{distributionType},
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "AwsSolutions-CFR2"}
		for _, r := range g.ofType(distributionType) {
			switch v := r.Inputs["webAclId"]; {
			case v == Unknown:
				// An ACL created in the same program: it is there.
			case v == nil || v == "":
				f.add(r, "no WAF web ACL: set webAclId, or suppress with the reason the edge is protected otherwise")
			}
		}
		return f.out
	},
}

var cfr3 = Rule{
	ID:          "AwsSolutions-CFR3",
	Description: "CloudFront distributions write standard access logs to an S3 bucket.",
	Types:       []string{distributionType},
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "AwsSolutions-CFR3"}
		for _, r := range g.ofType(distributionType) {
			switch v := get(r.Inputs, "loggingConfig.bucket"); {
			case v == Unknown:
				f.unknown(r, "loggingConfig.bucket")
			case v == nil || v == "":
				f.add(r, "access logging is off: set loggingConfig.bucket to a log bucket's regional domain name")
			}
		}
		return f.out
	},
}

// modernViewerTLS are the viewer security policies CFR4 accepts: TLS 1.2
// or later with the 2021 (or newer) cipher set.
var modernViewerTLS = []string{"TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"}

var cfr4 = Rule{
	ID:          "AwsSolutions-CFR4",
	Description: "CloudFront viewers connect with a custom SNI certificate and minimum protocol TLSv1.2_2021 or newer (the default *.cloudfront.net certificate admits TLSv1).",
	Types:       []string{distributionType},
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "AwsSolutions-CFR4"}
		for _, r := range g.ofType(distributionType) {
			vc := r.Inputs["viewerCertificate"]
			if vc == Unknown {
				f.unknown(r, "viewerCertificate")
				continue
			}
			m, _ := vc.(map[string]any)
			if m == nil || isTrue(m["cloudfrontDefaultCertificate"]) {
				f.add(r, "viewers use the default *.cloudfront.net certificate, which admits TLSv1: use an ACM certificate with minimumProtocolVersion TLSv1.2_2021, or suppress while there is no custom domain")
				continue
			}
			if m["sslSupportMethod"] != "sni-only" {
				f.add(r, "viewer sslSupportMethod is %v: use sni-only", m["sslSupportMethod"])
			}
			if v, _ := m["minimumProtocolVersion"].(string); !slices.Contains(modernViewerTLS, v) {
				f.add(r, "viewer minimumProtocolVersion is %q: use one of %s", v, strings.Join(modernViewerTLS, ", "))
			}
		}
		return f.out
	},
}

// outdatedOriginTLS are the origin protocols CFR5 rejects (cdk-nag rejects
// SSLv3 and TLSv1; TLSv1.1 is as obsolete).
var outdatedOriginTLS = []string{"SSLv3", "TLSv1", "TLSv1.1"}

var cfr5 = Rule{
	ID:          "AwsSolutions-CFR5",
	Description: "CloudFront reaches every custom origin with https-only and no SSLv3, TLSv1 or TLSv1.1 in originSslProtocols.",
	Types:       []string{distributionType},
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "AwsSolutions-CFR5"}
		for _, r := range g.ofType(distributionType) {
			origins := r.Inputs["origins"]
			if origins == Unknown {
				f.unknown(r, "origins")
				continue
			}
			for i, o := range list(origins) {
				om, _ := o.(map[string]any)
				coc, _ := om["customOriginConfig"].(map[string]any)
				if coc == nil {
					continue
				}
				id := fmt.Sprintf("#%d", i)
				if s, ok := om["originId"].(string); ok && s != "" {
					id = s
				}
				if p := coc["originProtocolPolicy"]; p != "https-only" {
					f.add(r, "origin %s has originProtocolPolicy %v, so CloudFront may reach it over plain HTTP: use https-only, or suppress with the mitigation", id, p)
					continue
				}
				for _, p := range strs(coc["originSslProtocols"]) {
					if slices.Contains(outdatedOriginTLS, p) {
						f.add(r, "origin %s allows %s: list only TLSv1.2 in originSslProtocols", id, p)
					}
				}
			}
		}
		return f.out
	},
}
