package stack

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/elasticache"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/secretsmanager"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/wsfargate/websocket-service/server/contract"
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

// The cache's access control (ElastiCache RBAC). The server connects as
// brokerUser; the group's "default" user, which every connection that has
// not authenticated runs as, is switched off.
const (
	// brokerUser is the server's ACL user name (REDIS_USERNAME). A user
	// name is not a secret; only its password is.
	brokerUser = "websocket-server"
	// brokerKeyPattern is the keys the server may touch; the server's
	// default stream key (REDIS_STREAM) lies inside it, which a test checks.
	brokerKeyPattern = "websocket:*"
	// brokerAccess allows what the server runs (contract.RedisCommandRules)
	// on its keys only: the broadcast stream, and the Pusher app's state
	// and event stream.
	brokerAccess = "on " + contract.RedisKeyPatterns + " " + contract.RedisCommandRules
	// disabledDefaultAccess turns the mandatory default user off: without
	// AUTH a connection can run nothing.
	disabledDefaultAccess = "off -@all"
	// brokerPasswordLength is within ElastiCache's 16 to 128 characters;
	// the password is alphanumeric, so it needs no escaping anywhere.
	brokerPasswordLength = 32
	// elasticacheIDMax bounds user and user group IDs.
	elasticacheIDMax = 40
)

// broker is the shared Redis-compatible stream every task publishes to and
// follows.
type broker struct {
	cache *elasticache.ServerlessCache
	// url is rediss://host:port: serverless caches accept TLS only. It
	// holds no credentials; those travel separately.
	url pulumi.StringOutput
	// passwordSecret holds the server user's password in Secrets Manager;
	// ECS reads it with the execution role and hands it to the container
	// as REDIS_PASSWORD, so it never appears in the task definition.
	passwordSecret *secretsmanager.Secret
	// passwordValue is the secret's value; tasks must not start before it
	// exists, or ECS cannot read the secret and the deployment fails.
	passwordValue *secretsmanager.SecretVersion
}

var elasticacheIDInvalid = regexp.MustCompile(`[^a-z0-9]+`)

// elasticacheID turns base and suffix into an ElastiCache user or user
// group ID: lower-case letters, digits and single hyphens, starting with a
// letter, at most elasticacheIDMax characters. Stack names may hold
// characters these IDs do not (upper case, underscores, dots).
func elasticacheID(base, suffix string) string {
	base = strings.Trim(elasticacheIDInvalid.ReplaceAllString(strings.ToLower(base), "-"), "-")
	if base == "" || base[0] < 'a' || base[0] > 'z' {
		base = "ws-" + base
	}
	if limit := elasticacheIDMax - len(suffix) - 1; len(base) > limit {
		base = strings.TrimRight(base[:limit], "-")
	}
	return base + "-" + suffix
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

	users, secret, value, err := b.brokerUsers()
	if err != nil {
		return nil, err
	}

	cache, err := elasticache.NewServerlessCache(b.ctx, b.name+"-broker", &elasticache.ServerlessCacheArgs{
		Engine:             pulumi.String("valkey"),
		MajorEngineVersion: pulumi.String("8"),
		Description:        pulumi.String("Broadcast stream of " + b.physical),
		// Always private, whatever publicTasks says.
		SubnetIds:        net.privateSubnets,
		SecurityGroupIds: pulumi.StringArray{sg.ID()},
		UserGroupId:      users.UserGroupId,
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
	return &broker{cache: cache, url: url, passwordSecret: secret, passwordValue: value}, nil
}

// brokerUsers declares the cache's RBAC: the server's user with a generated
// password, a disabled "default" user (ElastiCache requires a user of that
// name in every group, and the default one it provides has full access
// without a password), the group holding both, and the Secrets Manager
// secret the password reaches the tasks through.
func (b *builder) brokerUsers() (*elasticache.UserGroup, *secretsmanager.Secret, *secretsmanager.SecretVersion, error) {
	password := func(logical string) (pulumi.StringOutput, error) {
		pw, err := random.NewRandomPassword(b.ctx, logical, &random.RandomPasswordArgs{
			Length:  pulumi.Int(brokerPasswordLength),
			Special: pulumi.Bool(false),
		}, b.opts()...)
		if err != nil {
			return pulumi.StringOutput{}, fmt.Errorf("%s: %w", logical, err)
		}
		// As with the origin secret: explicit, and secret even where no
		// engine applies the provider's marking.
		return pulumi.ToSecret(pw.Result).(pulumi.StringOutput), nil
	}
	serverPassword, err := password(b.name + "-broker-password")
	if err != nil {
		return nil, nil, nil, err
	}
	// Nobody ever uses this password (the user is off); it only keeps the
	// user from being password-less should someone switch it on.
	defaultPassword, err := password(b.name + "-broker-default-password")
	if err != nil {
		return nil, nil, nil, err
	}

	server, err := elasticache.NewUser(b.ctx, b.name+"-broker-server", &elasticache.UserArgs{
		UserId:       pulumi.String(elasticacheID(b.physical, "server")),
		UserName:     pulumi.String(brokerUser),
		Engine:       pulumi.String("valkey"),
		AccessString: pulumi.String(brokerAccess),
		Passwords:    pulumi.StringArray{serverPassword},
		Tags:         b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("broker user: %w", err)
	}
	disabled, err := elasticache.NewUser(b.ctx, b.name+"-broker-default", &elasticache.UserArgs{
		UserId:       pulumi.String(elasticacheID(b.physical, "default")),
		UserName:     pulumi.String("default"),
		Engine:       pulumi.String("valkey"),
		AccessString: pulumi.String(disabledDefaultAccess),
		Passwords:    pulumi.StringArray{defaultPassword},
		Tags:         b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("broker default user: %w", err)
	}
	group, err := elasticache.NewUserGroup(b.ctx, b.name+"-broker", &elasticache.UserGroupArgs{
		UserGroupId: pulumi.String(elasticacheID(b.physical, "broker")),
		Engine:      pulumi.String("valkey"),
		UserIds:     pulumi.StringArray{disabled.UserId, server.UserId},
		Tags:        b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("broker user group: %w", err)
	}

	secretArgs := &secretsmanager.SecretArgs{
		Description: pulumi.String("Password of the " + brokerUser + " user on the broadcast cache of " + b.physical + " (" + contract.EnvRedisPassword + ")"),
		Tags:        b.tags(),
	}
	if b.cfg.ForceDestroy {
		// Delete at once on destroy instead of after the 30-day window.
		secretArgs.RecoveryWindowInDays = pulumi.Int(0)
	}
	secret, err := secretsmanager.NewSecret(b.ctx, b.name+"-broker-password", secretArgs, b.opts()...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("broker password secret: %w", err)
	}
	value, err := secretsmanager.NewSecretVersion(b.ctx, b.name+"-broker-password", &secretsmanager.SecretVersionArgs{
		SecretId:     secret.ID(),
		SecretString: serverPassword,
	}, b.opts()...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("broker password secret value: %w", err)
	}
	return group, secret, value, nil
}
