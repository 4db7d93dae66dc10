package rules

import (
	"fmt"
	"slices"
	"strings"
)

const (
	bucketPolicyType = "aws:s3/bucketPolicy:BucketPolicy"
	pabType          = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	accountPABType   = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
)

// loggingTypes are the standalone server access logging resources (v6 and
// v7 of the provider).
var loggingTypes = []string{"aws:s3/bucketLoggingV2:BucketLoggingV2", "aws:s3/bucketLogging:BucketLogging"}

// pabFlags are the four settings of a public access block; all must be on.
var pabFlags = []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"}

var s1 = Rule{
	ID:          "AwsSolutions-S1",
	Description: "S3 buckets have server access logging enabled; as in cdk-nag, a bucket that receives other buckets' access logs is exempt.",
	Types:       append(slices.Clone(bucketTypes), loggingTypes...),
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "AwsSolutions-S1"}
		buckets := g.ofType(bucketTypes...)
		loggings := g.ofType(loggingTypes...)
		// isTarget: logging a log bucket into itself or another bucket
		// would only move the problem, so cdk-nag exempts it.
		isTarget := func(b *Resource) bool {
			for _, l := range loggings {
				if refersTo(l, "targetBucket", b) {
					return true
				}
			}
			for _, o := range buckets {
				if o == b {
					continue
				}
				if slices.Contains(o.Refs["loggings"], b.Name) {
					return true
				}
				for _, l := range list(o.Inputs["loggings"]) {
					if m, _ := l.(map[string]any); targetIs(m["targetBucket"], b) {
						return true
					}
				}
			}
			return false
		}
	next:
		for _, b := range buckets {
			if isTarget(b) {
				continue
			}
			for _, l := range list(b.Inputs["loggings"]) {
				if m, _ := l.(map[string]any); m["targetBucket"] != nil && m["targetBucket"] != "" {
					continue next
				}
			}
			for _, l := range loggings {
				if refersTo(l, "bucket", b) {
					continue next
				}
			}
			f.add(b, "server access logging is off: add a BucketLoggingV2 for this bucket with a targetBucket")
		}
		return f.out
	},
}

var s2 = Rule{
	ID:          "AwsSolutions-S2",
	Description: "S3 buckets have a public access block with all four settings on (or the account has one).",
	Types:       append(slices.Clone(bucketTypes), pabType, accountPABType),
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "AwsSolutions-S2"}
		allOn := func(r *Resource) bool {
			for _, k := range pabFlags {
				if !isTrue(r.Inputs[k]) {
					return false
				}
			}
			return true
		}
		for _, a := range g.ofType(accountPABType) {
			if allOn(a) {
				return nil
			}
		}
	buckets:
		for _, b := range g.ofType(bucketTypes...) {
			var partial *Resource
			for _, p := range g.ofType(pabType) {
				if !refersTo(p, "bucket", b) {
					continue
				}
				if allOn(p) {
					continue buckets
				}
				partial = p
			}
			if partial != nil {
				f.add(b, "public access block %s does not set all of %v to true", partial.Name, pabFlags)
			} else {
				f.add(b, "no public access block: add a BucketPublicAccessBlock with %v all true", pabFlags)
			}
		}
		return f.out
	},
}

var s10 = Rule{
	ID:          "AwsSolutions-S10",
	Description: "S3 bucket policies deny every request made without TLS (aws:SecureTransport false).",
	Types:       append(slices.Clone(bucketTypes), bucketPolicyType),
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "AwsSolutions-S10"}
		for _, b := range g.ofType(bucketTypes...) {
			// The legacy Bucket carries an inline policy; both count.
			type source struct {
				from *Resource
				doc  any
			}
			var sources []source
			if p, ok := b.Inputs["policy"]; ok && p != nil && p != "" {
				sources = append(sources, source{b, p})
			}
			for _, p := range g.ofType(bucketPolicyType) {
				if refersTo(p, "bucket", b) {
					sources = append(sources, source{p, p.Inputs["policy"]})
				}
			}
			ok := false
			var unknownFrom, broken []string
			for _, src := range sources {
				if src.doc == Unknown {
					unknownFrom = append(unknownFrom, src.from.Name)
					continue
				}
				stmts, err := statements(src.doc)
				if err != nil {
					broken = append(broken, fmt.Sprintf("policy of %s cannot be checked: %v", src.from.Name, err))
					continue
				}
				ok = ok || slices.ContainsFunc(stmts, deniesInsecureTransport)
			}
			// A broken document is reported even when another one passes:
			// strictness on parse failures keeps a typo from hiding.
			for _, msg := range broken {
				f.add(b, "%s", msg)
			}
			switch {
			case ok || len(broken) > 0:
			case len(unknownFrom) > 0:
				f.unknown(b, "the policy of "+strings.Join(unknownFrom, ", "))
			default:
				f.add(b, `no statement denies insecure transport: add a bucket policy statement {Effect: Deny, Principal: "*", Action: "s3:*", Condition: {Bool: {aws:SecureTransport: "false"}}}`)
			}
		}
		return f.out
	},
}

// targetIs reports whether an inline loggings block's targetBucket value
// names b (by ID or physical name).
func targetIs(v any, b *Resource) bool {
	s, ok := v.(string)
	if !ok || s == "" {
		return false
	}
	probe := &Resource{Inputs: map[string]any{"targetBucket": s}}
	return refersTo(probe, "targetBucket", b)
}

// deniesInsecureTransport reports whether a statement denies every S3
// action to everyone when the request did not use TLS.
func deniesInsecureTransport(s statement) bool {
	if s.Effect != "Deny" || !s.everyone() {
		return false
	}
	if !slices.ContainsFunc(strs(s.Action), func(a string) bool { return a == "s3:*" || a == "*" }) {
		return false
	}
	b, _ := s.Condition["Bool"].(map[string]any)
	for _, v := range list(b["aws:SecureTransport"]) {
		if v == false || v == "false" {
			return true
		}
	}
	return false
}
