package stack

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/wsfargate/websocket-service/server/contract"
)

// CloudFrontPrefixList is the AWS-managed prefix list of the addresses
// CloudFront uses to reach origins; the ALB admits only these.
const CloudFrontPrefixList = "com.amazonaws.global.cloudfront.origin-facing"

// listenerPort is where CloudFront reaches the ALB (HTTP; TLS ends at the edge).
const listenerPort = 80

// loadBalancer is the ALB, its security group and the target group the
// service registers into.
type loadBalancer struct {
	alb         *lb.LoadBalancer
	sg          *ec2.SecurityGroup
	targetGroup *lb.TargetGroup
	// rule forwards to the target group; ECS may register targets only
	// once the target group is attached to the load balancer through it.
	rule *lb.ListenerRule
}

// loadBalancer declares the internet-facing ALB. Only CloudFront's
// origin-facing addresses reach it, and only requests that carry the secret
// header are forwarded; everything else gets 403.
func (b *builder) loadBalancer(net *network, secret pulumi.StringOutput, logs *logBuckets) (*loadBalancer, error) {
	cloudFront, err := ec2.LookupManagedPrefixList(b.ctx, &ec2.LookupManagedPrefixListArgs{
		Name: pulumi.StringRef(CloudFrontPrefixList),
	}, b.parent)
	if err != nil {
		return nil, fmt.Errorf("look up prefix list %s: %w", CloudFrontPrefixList, err)
	}

	sg, err := ec2.NewSecurityGroup(b.ctx, b.name+"-alb", &ec2.SecurityGroupArgs{
		VpcId:       net.vpcID,
		Description: pulumi.String("WebSocket ALB: HTTP from CloudFront origin-facing addresses only"),
		Tags:        b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("alb security group: %w", err)
	}
	_, err = vpc.NewSecurityGroupIngressRule(b.ctx, b.name+"-alb-from-cloudfront", &vpc.SecurityGroupIngressRuleArgs{
		SecurityGroupId: sg.ID(),
		Description:     pulumi.String("HTTP from CloudFront origin-facing addresses"),
		IpProtocol:      pulumi.String("tcp"),
		FromPort:        pulumi.Int(listenerPort),
		ToPort:          pulumi.Int(listenerPort),
		PrefixListId:    pulumi.String(cloudFront.Id),
		Tags:            b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("alb ingress: %w", err)
	}

	alb, err := lb.NewLoadBalancer(b.ctx, b.name+"-alb", &lb.LoadBalancerArgs{
		LoadBalancerType:        pulumi.String("application"),
		Internal:                pulumi.Bool(false),
		SecurityGroups:          pulumi.StringArray{sg.ID()},
		Subnets:                 net.albSubnets,
		DropInvalidHeaderFields: pulumi.Bool(true),
		IdleTimeout:             pulumi.Int(b.cfg.IdleTimeout()),
		AccessLogs: &lb.LoadBalancerAccessLogsArgs{
			Bucket:  logs.alb.Bucket,
			Prefix:  pulumi.String(albLogPrefix),
			Enabled: pulumi.Bool(true),
		},
		Tags: b.tags(),
	}, b.opts(pulumi.DependsOn(logs.albReady))...)
	if err != nil {
		return nil, fmt.Errorf("alb: %w", err)
	}

	tg, err := lb.NewTargetGroup(b.ctx, b.name+"-tasks", &lb.TargetGroupArgs{
		VpcId:               net.vpcID,
		TargetType:          pulumi.String("ip"),
		Port:                pulumi.Int(contract.Port),
		Protocol:            pulumi.String("HTTP"),
		DeregistrationDelay: pulumi.Int(b.cfg.DeregistrationDelay()),
		HealthCheck: &lb.TargetGroupHealthCheckArgs{
			Enabled:            pulumi.Bool(true),
			Path:               pulumi.String(contract.RootPath),
			Protocol:           pulumi.String("HTTP"),
			Port:               pulumi.String(fmt.Sprint(contract.Port)),
			Matcher:            pulumi.String("200"),
			Interval:           pulumi.Int(15),
			Timeout:            pulumi.Int(5),
			HealthyThreshold:   pulumi.Int(2),
			UnhealthyThreshold: pulumi.Int(2),
		},
		Tags: b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("target group: %w", err)
	}

	listener, err := lb.NewListener(b.ctx, b.name+"-http", &lb.ListenerArgs{
		LoadBalancerArn: alb.Arn,
		Port:            pulumi.Int(listenerPort),
		Protocol:        pulumi.String("HTTP"),
		DefaultActions: lb.ListenerDefaultActionArray{
			&lb.ListenerDefaultActionArgs{
				Type: pulumi.String("fixed-response"),
				FixedResponse: &lb.ListenerDefaultActionFixedResponseArgs{
					ContentType: pulumi.String("text/plain"),
					MessageBody: pulumi.String("Forbidden"),
					StatusCode:  pulumi.String("403"),
				},
			},
		},
		Tags: b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("listener: %w", err)
	}

	rule, err := lb.NewListenerRule(b.ctx, b.name+"-from-cloudfront", &lb.ListenerRuleArgs{
		ListenerArn: listener.Arn,
		Priority:    pulumi.Int(1),
		Conditions: lb.ListenerRuleConditionArray{
			&lb.ListenerRuleConditionArgs{
				HttpHeader: &lb.ListenerRuleConditionHttpHeaderArgs{
					HttpHeaderName: pulumi.String(b.cfg.HeaderName),
					Values:         pulumi.StringArray{secret},
				},
			},
		},
		Actions: lb.ListenerRuleActionArray{
			&lb.ListenerRuleActionArgs{
				Type:           pulumi.String("forward"),
				TargetGroupArn: tg.Arn,
			},
		},
		Tags: b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("listener rule: %w", err)
	}
	return &loadBalancer{alb: alb, sg: sg, targetGroup: tg, rule: rule}, nil
}
