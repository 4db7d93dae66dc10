package stack

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/elb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Prefixes inside the log buckets.
const (
	albLogPrefix      = "alb"
	edgeLogPrefix     = "cloudfront/"
	s3AccessLogPrefix = "s3-access/"
)

// logBuckets are the S3 buckets that receive access logs. The edge bucket
// holds CloudFront's standard logs and the server access logs of the ALB
// bucket, so every bucket is either logged or a log target.
type logBuckets struct {
	alb *s3.BucketV2
	// albReady is everything the ALB bucket needs before a load balancer
	// may write to it (AWS checks the policy when access logs are enabled).
	albReady []pulumi.Resource
	edge     *s3.BucketV2
	// edgeReady must exist before CloudFront logging is configured: the
	// ownership controls that allow the ACL CloudFront writes.
	edgeReady []pulumi.Resource
}

// logBuckets declares the ALB access log bucket and the edge log bucket,
// both private, encrypted, TLS-only and expiring their objects.
func (b *builder) logBuckets() (*logBuckets, error) {
	// CloudFront standard logging writes with an ACL, so the edge bucket
	// keeps ACLs enabled with the bucket owner preferred.
	edge, edgeReady, err := b.bucket("edge-logs", "BucketOwnerPreferred")
	if err != nil {
		return nil, err
	}
	alb, albReady, err := b.bucket("alb-logs", "BucketOwnerEnforced")
	if err != nil {
		return nil, err
	}

	// ALB access logs: the regional ELB account (regions before August
	// 2022) and the log delivery service principal (newer regions) may put
	// objects under this account's prefix, and nothing else.
	elbAccount, err := elb.GetServiceAccount(b.ctx, nil, b.parent)
	if err != nil {
		return nil, fmt.Errorf("look up the ELB service account: %w", err)
	}
	albPolicy, err := s3.NewBucketPolicy(b.ctx, b.name+"-alb-logs", &s3.BucketPolicyArgs{
		Bucket: alb.ID(),
		Policy: policyOf(func(v []string) policyDocument {
			logs := fmt.Sprintf("%s/%s/AWSLogs/%s/*", v[0], albLogPrefix, b.account)
			return policyDocument{Version: policyVersion, Statement: []statement{
				denyInsecureTransport(v[0]),
				{Sid: "ElbAccountWritesAccessLogs", Effect: "Allow", Principal: &principal{AWS: []string{elbAccount.Arn}}, Action: []string{"s3:PutObject"}, Resource: []string{logs}},
				{Sid: "ElbLogDeliveryWritesAccessLogs", Effect: "Allow", Principal: &principal{Service: []string{"logdelivery.elasticloadbalancing.amazonaws.com"}}, Action: []string{"s3:PutObject"}, Resource: []string{logs}},
			}}
		}, alb.Arn),
	}, b.opts(pulumi.DependsOn(albReady))...)
	if err != nil {
		return nil, fmt.Errorf("alb log bucket policy: %w", err)
	}
	albReady = append(albReady, albPolicy)

	// The ALB bucket's own server access logs go to the edge bucket.
	albLogging, err := s3.NewBucketLoggingV2(b.ctx, b.name+"-alb-logs", &s3.BucketLoggingV2Args{
		Bucket:       alb.ID(),
		TargetBucket: edge.ID(),
		TargetPrefix: pulumi.String(s3AccessLogPrefix),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("alb log bucket logging: %w", err)
	}
	albReady = append(albReady, albLogging)

	edgePolicy, err := s3.NewBucketPolicy(b.ctx, b.name+"-edge-logs", &s3.BucketPolicyArgs{
		Bucket: edge.ID(),
		Policy: policyOf(func(v []string) policyDocument {
			return policyDocument{Version: policyVersion, Statement: []statement{
				denyInsecureTransport(v[0]),
				{
					Sid: "S3ServerAccessLogs", Effect: "Allow",
					Principal: &principal{Service: []string{"logging.s3.amazonaws.com"}},
					Action:    []string{"s3:PutObject"},
					Resource:  []string{v[0] + "/" + s3AccessLogPrefix + "*"},
					Condition: map[string]map[string]string{
						"ArnLike":      {"aws:SourceArn": v[1]},
						"StringEquals": {"aws:SourceAccount": b.account},
					},
				},
			}}
		}, edge.Arn, alb.Arn),
	}, b.opts(pulumi.DependsOn(edgeReady))...)
	if err != nil {
		return nil, fmt.Errorf("edge log bucket policy: %w", err)
	}
	edgeReady = append(edgeReady, edgePolicy)

	return &logBuckets{alb: alb, albReady: albReady, edge: edge, edgeReady: edgeReady}, nil
}

// denyInsecureTransport refuses every request to the bucket made without TLS.
func denyInsecureTransport(bucketArn string) statement {
	return statement{
		Sid:       "DenyInsecureTransport",
		Effect:    "Deny",
		Principal: &principal{AWS: []string{"*"}},
		Action:    []string{"s3:*"},
		Resource:  []string{bucketArn, bucketArn + "/*"},
		Condition: map[string]map[string]string{"Bool": {"aws:SecureTransport": "false"}},
	}
}

// bucket declares a log bucket: public access blocked, SSE-S3 encryption
// (the only kind ALB access logs and CloudFront standard logs accept without
// a KMS key policy), the given object ownership, and lifecycle expiry. It
// returns the bucket and its configuration resources.
func (b *builder) bucket(suffix, ownership string) (*s3.BucketV2, []pulumi.Resource, error) {
	name := b.name + "-" + suffix
	bucket, err := s3.NewBucketV2(b.ctx, name, &s3.BucketV2Args{
		ForceDestroy: pulumi.Bool(b.cfg.ForceDestroy),
		Tags:         b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, nil, fmt.Errorf("bucket %s: %w", name, err)
	}
	pab, err := s3.NewBucketPublicAccessBlock(b.ctx, name, &s3.BucketPublicAccessBlockArgs{
		Bucket:                bucket.ID(),
		BlockPublicAcls:       pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		RestrictPublicBuckets: pulumi.Bool(true),
	}, b.opts()...)
	if err != nil {
		return nil, nil, fmt.Errorf("bucket %s public access block: %w", name, err)
	}
	own, err := s3.NewBucketOwnershipControls(b.ctx, name, &s3.BucketOwnershipControlsArgs{
		Bucket: bucket.ID(),
		Rule:   &s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String(ownership)},
	}, b.opts()...)
	if err != nil {
		return nil, nil, fmt.Errorf("bucket %s ownership: %w", name, err)
	}
	sse, err := s3.NewBucketServerSideEncryptionConfigurationV2(b.ctx, name, &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{
			&s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
				ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
					SseAlgorithm: pulumi.String("AES256"),
				},
			},
		},
	}, b.opts()...)
	if err != nil {
		return nil, nil, fmt.Errorf("bucket %s encryption: %w", name, err)
	}
	life, err := s3.NewBucketLifecycleConfigurationV2(b.ctx, name, &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{
			&s3.BucketLifecycleConfigurationV2RuleArgs{
				Id:     pulumi.String("expire-logs"),
				Status: pulumi.String("Enabled"),
				Filter: &s3.BucketLifecycleConfigurationV2RuleFilterArgs{},
				Expiration: &s3.BucketLifecycleConfigurationV2RuleExpirationArgs{
					Days: pulumi.Int(b.cfg.LogBucketExpirationDays),
				},
				AbortIncompleteMultipartUpload: &s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{
					DaysAfterInitiation: pulumi.Int(7),
				},
			},
		},
	}, b.opts()...)
	if err != nil {
		return nil, nil, fmt.Errorf("bucket %s lifecycle: %w", name, err)
	}
	return bucket, []pulumi.Resource{pab, own, sse, life}, nil
}

// logGroup declares a CloudWatch log group with the configured retention.
func (b *builder) logGroup(logical, name string) (*cloudwatch.LogGroup, error) {
	g, err := cloudwatch.NewLogGroup(b.ctx, logical, &cloudwatch.LogGroupArgs{
		Name:            pulumi.String(name),
		RetentionInDays: pulumi.Int(b.cfg.LogRetentionDays),
		Tags:            b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("log group %s: %w", name, err)
	}
	return g, nil
}
