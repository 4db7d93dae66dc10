package stack

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/elasticache"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Fan-out modes: the values of the fanout key and of the server's
// contract.EnvBroker.
const (
	// FanoutRedis fans broadcasts out across tasks through a Redis stream
	// on ElastiCache Serverless for Valkey.
	FanoutRedis = "redis"
	// FanoutMemory keeps broadcasts inside one task; only valid with one task.
	FanoutMemory = "memory"
)

// valkeyPorts are the serverless cache's ports: the primary endpoint and
// the reader endpoint.
const (
	valkeyPort       = 6379
	valkeyReaderPort = 6380
)

// broker is the shared Redis-compatible stream every task publishes to and
// follows.
type broker struct {
	cache *elasticache.ServerlessCache
	// url is rediss://host:port: serverless caches accept TLS only, and
	// access is by network (security group), so the URL holds no secret.
	url pulumi.StringOutput
}

// broker declares an ElastiCache Serverless Valkey cache in the private
// subnets, reachable from the tasks' security group only. It returns nil
// when the broker is memory.
func (b *builder) broker(net *network, taskSG *ec2.SecurityGroup) (*broker, error) {
	if b.cfg.FanoutMode() != FanoutRedis {
		return nil, nil
	}
	sg, err := ec2.NewSecurityGroup(b.ctx, b.name+"-broker", &ec2.SecurityGroupArgs{
		VpcId:       net.vpcID,
		Description: pulumi.String("WebSocket broker: Valkey from the tasks only"),
		Tags:        b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("broker security group: %w", err)
	}
	_, err = vpc.NewSecurityGroupIngressRule(b.ctx, b.name+"-broker-from-tasks", &vpc.SecurityGroupIngressRuleArgs{
		SecurityGroupId:           sg.ID(),
		Description:               pulumi.String("Valkey from the tasks"),
		IpProtocol:                pulumi.String("tcp"),
		FromPort:                  pulumi.Int(valkeyPort),
		ToPort:                    pulumi.Int(valkeyReaderPort),
		ReferencedSecurityGroupId: taskSG.ID(),
		Tags:                      b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("broker ingress: %w", err)
	}
	_, err = vpc.NewSecurityGroupEgressRule(b.ctx, b.name+"-tasks-to-broker", &vpc.SecurityGroupEgressRuleArgs{
		SecurityGroupId:           taskSG.ID(),
		Description:               pulumi.String("Valkey on the broker"),
		IpProtocol:                pulumi.String("tcp"),
		FromPort:                  pulumi.Int(valkeyPort),
		ToPort:                    pulumi.Int(valkeyReaderPort),
		ReferencedSecurityGroupId: sg.ID(),
		Tags:                      b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("task egress to broker: %w", err)
	}

	cache, err := elasticache.NewServerlessCache(b.ctx, b.name+"-broker", &elasticache.ServerlessCacheArgs{
		Engine:             pulumi.String("valkey"),
		MajorEngineVersion: pulumi.String("8"),
		Description:        pulumi.String("Broadcast stream of " + b.physical),
		// Always private, whatever publicTasks says.
		SubnetIds:        net.privateSubnets,
		SecurityGroupIds: pulumi.StringArray{sg.ID()},
		// The stream is capped near the server's history size; the limit
		// caps the bill if something else fills the cache.
		CacheUsageLimits: &elasticache.ServerlessCacheCacheUsageLimitsArgs{
			DataStorage: &elasticache.ServerlessCacheCacheUsageLimitsDataStorageArgs{
				Maximum: pulumi.Int(b.cfg.BrokerMaxStorageGB),
				Unit:    pulumi.String("GB"),
			},
		},
		Tags: b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("broker cache: %w", err)
	}
	url := cache.Endpoints.ApplyT(func(eps []elasticache.ServerlessCacheEndpoint) (string, error) {
		if len(eps) == 0 {
			return "", fmt.Errorf("serverless cache %s has no endpoint", b.name+"-broker")
		}
		return fmt.Sprintf("rediss://%s:%d", eps[0].Address, eps[0].Port), nil
	}).(pulumi.StringOutput)
	return &broker{cache: cache, url: url}, nil
}
