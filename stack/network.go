package stack

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	awsx "github.com/pulumi/pulumi-awsx/sdk/v2/go/awsx/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/wsfargate/websocket-service/policy/rules"
)

// network is the VPC the load balancer and tasks live in.
type network struct {
	vpcID pulumi.StringOutput
	// albSubnets are public: the load balancer is internet-facing (it
	// admits only CloudFront, through its security group).
	albSubnets pulumi.StringArrayOutput
	// taskSubnets are private unless publicTasks is set.
	taskSubnets pulumi.StringArrayOutput
	// privateSubnets hold what is never reachable from outside (the broker).
	privateSubnets pulumi.StringArrayOutput
}

// network declares an awsx VPC (public and private subnets over the
// configured AZs, NAT per natGateways) and a flow log of all its traffic to
// CloudWatch Logs.
func (b *builder) network() (*network, error) {
	strategy := awsx.SubnetAllocationStrategyAuto
	vpc, err := awsx.NewVpc(b.ctx, b.name+"-vpc", &awsx.VpcArgs{
		CidrBlock:                 pulumi.StringRef(b.cfg.VpcCidr),
		NumberOfAvailabilityZones: pulumi.IntRef(b.cfg.AvailabilityZones),
		SubnetStrategy:            &strategy,
		SubnetSpecs: []awsx.SubnetSpecArgs{
			{Type: awsx.SubnetTypePublic},
			{Type: awsx.SubnetTypePrivate},
		},
		NatGateways: &awsx.NatGatewayConfigurationArgs{
			Strategy: awsx.NatGatewayStrategy(b.cfg.NatGateways),
		},
		EnableDnsHostnames: pulumi.Bool(true),
		EnableDnsSupport:   pulumi.Bool(true),
		Tags:               b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("vpc: %w", err)
	}

	logGroup, err := b.logGroup(b.name+"-flow-logs", "/vpc/"+b.physical+"/flow-logs")
	if err != nil {
		return nil, err
	}
	role, err := newServiceRole(b.ctx, b.name+"-flow-logs", "vpc-flow-logs.amazonaws.com", b.account,
		"Lets VPC Flow Logs write to the flow log group",
		b.tags(rules.Tags(rules.Suppress("AwsSolutions-IAM5",
			"Flow logs create their own log streams: the stream wildcard covers the streams of this one log group only"))),
		b.opts()...)
	if err != nil {
		return nil, err
	}
	_, err = iam.NewRolePolicy(b.ctx, b.name+"-flow-logs", &iam.RolePolicyArgs{
		Role: role.Name,
		Policy: policyOf(func(v []string) policyDocument {
			return policyDocument{Version: policyVersion, Statement: []statement{
				allow([]string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"}, v[0], v[0]+":*"),
			}}
		}, logGroup.Arn),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("flow log policy: %w", err)
	}
	_, err = ec2.NewFlowLog(b.ctx, b.name+"-flow-log", &ec2.FlowLogArgs{
		VpcId:                  vpc.VpcId,
		TrafficType:            pulumi.String("ALL"),
		LogDestinationType:     pulumi.String("cloud-watch-logs"),
		LogDestination:         logGroup.Arn,
		IamRoleArn:             role.Arn,
		MaxAggregationInterval: pulumi.Int(60),
		Tags:                   b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("flow log: %w", err)
	}

	tasks := vpc.PrivateSubnetIds
	if b.cfg.PublicTasks {
		tasks = vpc.PublicSubnetIds
	}
	return &network{vpcID: vpc.VpcId, albSubnets: vpc.PublicSubnetIds, taskSubnets: tasks, privateSubnets: vpc.PrivateSubnetIds}, nil
}
