package stack

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/wsfargate/websocket-service/policy/rules"
	"github.com/wsfargate/websocket-service/server/contract"
)

// ContainerName is the container's name in the task definition (the seed's).
const ContainerName = "websocket-service"

// nonRootUser is distroless's nonroot user and group; the task definition
// repeats the image's USER so that a changed base image cannot run as root.
const nonRootUser = "65532:65532"

// healthCheckCommand is the container health check: the server binary
// probing itself, since a distroless image has no shell or curl. It must
// match the Dockerfile's HEALTHCHECK.
func healthCheckCommand() []string { return []string{"CMD", "/wsserver", "-healthcheck"} }

// execWritablePaths are where the ECS Exec agent writes inside the
// container; with a read-only root filesystem each gets a task volume
// (aws/containers-roadmap#1359).
var execWritablePaths = map[string]string{
	"exec-managed-agents": "/managed-agents",
	"exec-ssm-lib":        "/var/lib/amazon/ssm",
	"exec-ssm-log":        "/var/log/amazon/ssm",
}

// execVolumeNames orders execWritablePaths for deterministic output.
var execVolumeNames = []string{"exec-managed-agents", "exec-ssm-lib", "exec-ssm-log"}

// ssmMessagesActions are the only permissions ECS Exec needs in the task role.
var ssmMessagesActions = []string{
	"ssmmessages:CreateControlChannel",
	"ssmmessages:CreateDataChannel",
	"ssmmessages:OpenControlChannel",
	"ssmmessages:OpenDataChannel",
}

// containerDefinition is the subset of the ECS container definition schema
// the stack sets, marshalled to the task definition's JSON.
type containerDefinition struct {
	Name                   string           `json:"name"`
	Image                  string           `json:"image"`
	Essential              bool             `json:"essential"`
	User                   string           `json:"user"`
	ReadonlyRootFilesystem bool             `json:"readonlyRootFilesystem"`
	PortMappings           []portMapping    `json:"portMappings"`
	Environment            []keyValue       `json:"environment"`
	Secrets                []secretRef      `json:"secrets,omitempty"`
	Ulimits                []ulimit         `json:"ulimits"`
	HealthCheck            healthCheck      `json:"healthCheck"`
	StopTimeout            int              `json:"stopTimeout"`
	LinuxParameters        *linuxParameters `json:"linuxParameters,omitempty"`
	MountPoints            []mountPoint     `json:"mountPoints,omitempty"`
	LogConfiguration       logConfiguration `json:"logConfiguration"`
}

type portMapping struct {
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort"`
	Protocol      string `json:"protocol"`
}

type keyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// secretRef is a container secret: ECS reads ValueFrom (a Secrets Manager
// ARN) with the execution role and sets it as the variable Name.
type secretRef struct {
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
}

type ulimit struct {
	Name      string `json:"name"`
	SoftLimit int    `json:"softLimit"`
	HardLimit int    `json:"hardLimit"`
}

type healthCheck struct {
	Command     []string `json:"command"`
	Interval    int      `json:"interval"`
	Timeout     int      `json:"timeout"`
	Retries     int      `json:"retries"`
	StartPeriod int      `json:"startPeriod"`
}

type linuxParameters struct {
	InitProcessEnabled bool `json:"initProcessEnabled"`
}

type mountPoint struct {
	SourceVolume  string `json:"sourceVolume"`
	ContainerPath string `json:"containerPath"`
	ReadOnly      bool   `json:"readOnly"`
}

type logConfiguration struct {
	LogDriver string            `json:"logDriver"`
	Options   map[string]string `json:"options"`
}

// task is the ECS side: cluster, service and its log group.
type task struct {
	cluster  *ecs.Cluster
	service  *ecs.Service
	logGroup *cloudwatch.LogGroup
}

// seconds renders n seconds as the Go duration the server's config parses.
func seconds(n int) string { return (time.Duration(n) * time.Second).String() }

// taskSettings are the values the container needs that only exist once
// other resources do: where the broker is (empty with memory fan-out), the
// Pusher app's public id and key, and the ARNs of the secrets ECS reads.
type taskSettings struct {
	brokerURL, brokerPasswordARN string
	pusherAppID, pusherKey       string
	pusherSecretARN              string
}

// environment is what the stack tells the server: its metric dimension
// value, the timings the load balancer settings were derived from, where
// the broker is, the Pusher app and its options (the passwords and the app
// secret excepted: see secrets), and that it runs behind CloudFront.
func (b *builder) environment(ts taskSettings) []keyValue {
	env := []keyValue{
		{contract.EnvMetricService, b.physical},
		{contract.EnvPingInterval, seconds(b.cfg.PingIntervalSeconds)},
		{contract.EnvDrainDelay, seconds(b.cfg.DrainDelaySeconds)},
		{contract.EnvDrainSpread, seconds(b.cfg.DrainSpreadSeconds)},
		{contract.EnvShutdownTimeout, seconds(b.cfg.ShutdownTimeoutSeconds)},
		{contract.EnvLogFormat, "json"},
		// Go's runtime reads this: as the task nears its memory the
		// collector works harder rather than the kernel ending the task.
		// The tenth left over is for what the runtime does not count (the
		// binary, thread stacks) and for the collector to work in.
		{"GOMEMLIMIT", fmt.Sprintf("%dMiB", b.cfg.Memory*9/10)},
	}
	if b.cfg.FanoutMode() == FanoutRedis {
		env = append(env,
			keyValue{contract.EnvBroker, FanoutRedis},
			keyValue{contract.EnvRedisURL, ts.brokerURL},
			keyValue{contract.EnvRedisUsername, brokerUser},
			// ElastiCache Serverless is always a cluster; saying so spares
			// each task the question at start.
			keyValue{contract.EnvRedisCluster, "yes"})
	} else {
		env = append(env, keyValue{contract.EnvBroker, FanoutMemory})
	}
	if b.cfg.AllowedOrigins != "" {
		env = append(env, keyValue{contract.EnvAllowedOrigins, b.cfg.AllowedOrigins})
	}
	env = append(env,
		// The app id and key are public: clients send the key in the URL,
		// backends the id in the API path.
		keyValue{contract.EnvPusherAppID, ts.pusherAppID},
		keyValue{contract.EnvPusherAppKey, ts.pusherKey},
		keyValue{envPusherClientEvents, strconv.FormatBool(b.cfg.PusherClientEvents)},
		keyValue{contract.EnvWSSEnabled, strconv.FormatBool(b.cfg.WSSEnabled)},
		// Every request reaches the tasks through CloudFront: the ALB
		// admits only CloudFront's origin-facing addresses carrying the
		// secret header, and the edge's origin request policy adds
		// CloudFront-Viewer-Address, so the per-source limits count
		// viewers rather than CloudFront's edge servers.
		keyValue{contract.EnvBehindCloudFront, "true"},
	)
	return env
}

// secrets are the container's secrets, which ECS reads from Secrets
// Manager with the execution role: the Pusher app secret, and the broker
// password with redis fan-out.
func (b *builder) secrets(ts taskSettings) []secretRef {
	out := []secretRef{{Name: contract.EnvPusherAppSecret, ValueFrom: ts.pusherSecretARN}}
	if b.cfg.FanoutMode() == FanoutRedis {
		out = append(out, secretRef{Name: contract.EnvRedisPassword, ValueFrom: ts.brokerPasswordARN})
	}
	return out
}

// containerDefinitions renders the task's single container.
func (b *builder) containerDefinitions(imageRef, logGroup string, ts taskSettings) (string, error) {
	c := containerDefinition{
		Name:                   ContainerName,
		Image:                  imageRef,
		Essential:              true,
		User:                   nonRootUser,
		ReadonlyRootFilesystem: true,
		PortMappings:           []portMapping{{ContainerPort: contract.Port, HostPort: contract.Port, Protocol: "tcp"}},
		Environment:            b.environment(ts),
		Secrets:                b.secrets(ts),
		Ulimits:                []ulimit{{Name: "nofile", SoftLimit: b.cfg.NofileLimit, HardLimit: b.cfg.NofileLimit}},
		HealthCheck:            healthCheck{Command: healthCheckCommand(), Interval: 30, Timeout: 5, Retries: 3, StartPeriod: 10},
		StopTimeout:            contract.StopTimeoutSeconds,
		LogConfiguration: logConfiguration{LogDriver: "awslogs", Options: map[string]string{
			"awslogs-group":         logGroup,
			"awslogs-region":        b.region,
			"awslogs-stream-prefix": ContainerName,
		}},
	}
	if b.cfg.ExecuteCommand {
		// An init process reaps the processes exec sessions leave behind.
		c.LinuxParameters = &linuxParameters{InitProcessEnabled: true}
		for _, v := range execVolumeNames {
			c.MountPoints = append(c.MountPoints, mountPoint{SourceVolume: v, ContainerPath: execWritablePaths[v]})
		}
	}
	out, err := json.Marshal([]containerDefinition{c})
	if err != nil {
		return "", fmt.Errorf("marshal container definitions: %w", err)
	}
	return string(out), nil
}

// service declares the cluster, the task definition with its roles and the
// Fargate service behind the target group.
func (b *builder) service(net *network, lb *loadBalancer, img *image, taskSG *ec2.SecurityGroup, brk *broker, app *pusherApp) (*task, error) {
	clusterTags := b.tags()
	if b.cfg.ContainerInsights == "disabled" {
		// An operator's explicit choice, visible on the cluster; the
		// dashboard then counts tasks from the server's own metric and the
		// tasks-at-max alarm is left out.
		clusterTags = b.tags(rules.Tags(rules.Suppress("AwsSolutions-ECS4",
			"containerInsights is disabled in the stack configuration to save its cost")))
	}
	cluster, err := ecs.NewCluster(b.ctx, b.name+"-cluster", &ecs.ClusterArgs{
		Name: pulumi.String(b.physical),
		Settings: ecs.ClusterSettingArray{
			&ecs.ClusterSettingArgs{Name: pulumi.String("containerInsights"), Value: pulumi.String(b.cfg.ContainerInsights)},
		},
		// Exec sessions are audited by CloudTrail (ExecuteCommand with the
		// command line); their output is not logged, which keeps the task
		// role down to the ssmmessages actions.
		Configuration: &ecs.ClusterConfigurationArgs{
			ExecuteCommandConfiguration: &ecs.ClusterConfigurationExecuteCommandConfigurationArgs{
				Logging: pulumi.String("NONE"),
			},
		},
		Tags: clusterTags,
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}

	logGroup, err := b.logGroup(b.name+"-server", "/ecs/"+b.physical)
	if err != nil {
		return nil, err
	}

	execRole, err := newServiceRole(b.ctx, b.name+"-execution", "ecs-tasks.amazonaws.com", b.account,
		"ECS task execution role: pulls the server image, ships its logs and reads the container secrets",
		b.tags(rules.Tags(rules.Suppress("AwsSolutions-IAM5",
			"ecr:GetAuthorizationToken has no resource scope and the stream wildcard covers the streams of the one container log group only"))),
		b.opts()...)
	if err != nil {
		return nil, err
	}
	// The secrets the container gets, by ARN: the execution role may read
	// exactly these.
	policyInputs := []pulumi.StringInput{img.repo.Arn, logGroup.Arn, app.secretStore.Arn}
	if brk != nil {
		policyInputs = append(policyInputs, brk.passwordSecret.Arn)
	}
	_, err = iam.NewRolePolicy(b.ctx, b.name+"-execution", &iam.RolePolicyArgs{
		Role: execRole.Name,
		Policy: policyOf(func(v []string) policyDocument {
			return policyDocument{Version: policyVersion, Statement: []statement{
				allow([]string{"ecr:GetAuthorizationToken"}, "*"),
				allow([]string{"ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"}, v[0]),
				allow([]string{"logs:CreateLogStream", "logs:PutLogEvents"}, v[1]+":*"),
				// The container's secrets; they use the AWS managed key,
				// which needs no grant.
				allow([]string{"secretsmanager:GetSecretValue"}, v[2:]...),
			}}
		}, policyInputs...),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("execution role policy: %w", err)
	}

	var taskRoleTags pulumi.StringMap
	if b.cfg.ExecuteCommand {
		taskRoleTags = b.tags(rules.Tags(rules.Suppress("AwsSolutions-IAM5",
			"The ssmmessages actions ECS Exec needs support no resource scope")))
	} else {
		taskRoleTags = b.tags()
	}
	taskRole, err := newServiceRole(b.ctx, b.name+"-task", "ecs-tasks.amazonaws.com", b.account,
		"WebSocket server task role: no AWS access beyond ECS Exec when enabled", taskRoleTags, b.opts()...)
	if err != nil {
		return nil, err
	}
	if b.cfg.ExecuteCommand {
		doc, err := marshalPolicy(policyDocument{Version: policyVersion, Statement: []statement{
			allow(ssmMessagesActions, "*"),
		}})
		if err != nil {
			return nil, err
		}
		_, err = iam.NewRolePolicy(b.ctx, b.name+"-task-exec", &iam.RolePolicyArgs{
			Role:   taskRole.Name,
			Policy: pulumi.String(doc),
		}, b.opts()...)
		if err != nil {
			return nil, fmt.Errorf("task role exec policy: %w", err)
		}
	}

	var volumes ecs.TaskDefinitionVolumeArray
	if b.cfg.ExecuteCommand {
		for _, v := range execVolumeNames {
			volumes = append(volumes, &ecs.TaskDefinitionVolumeArgs{Name: pulumi.String(v)})
		}
	}
	brokerURL, passwordARN := pulumi.String("").ToStringOutput(), pulumi.String("").ToStringOutput()
	// Tasks read the secrets when they start, so their values must exist.
	serviceDeps := []pulumi.Resource{lb.rule, app.secretValue}
	if brk != nil {
		brokerURL, passwordARN = brk.url, brk.passwordSecret.Arn
		serviceDeps = append(serviceDeps, brk.passwordValue)
	}
	containers := pulumi.All(img.ref, logGroup.Name, brokerURL, passwordARN, app.id, app.key, app.secretStore.Arn).ApplyT(func(v []any) (string, error) {
		return b.containerDefinitions(v[0].(string), v[1].(string), taskSettings{
			brokerURL: v[2].(string), brokerPasswordARN: v[3].(string),
			pusherAppID: v[4].(string), pusherKey: v[5].(string), pusherSecretARN: v[6].(string),
		})
	}).(pulumi.StringOutput)
	taskDef, err := ecs.NewTaskDefinition(b.ctx, b.name+"-task", &ecs.TaskDefinitionArgs{
		Family:                  pulumi.String(b.physical),
		Cpu:                     pulumi.String(strconv.Itoa(b.cfg.CPU)),
		Memory:                  pulumi.String(strconv.Itoa(b.cfg.Memory)),
		NetworkMode:             pulumi.String("awsvpc"),
		RequiresCompatibilities: pulumi.StringArray{pulumi.String("FARGATE")},
		RuntimePlatform: &ecs.TaskDefinitionRuntimePlatformArgs{
			OperatingSystemFamily: pulumi.String("LINUX"),
			CpuArchitecture:       pulumi.String("ARM64"),
		},
		ExecutionRoleArn:     execRole.Arn,
		TaskRoleArn:          taskRole.Arn,
		ContainerDefinitions: containers,
		Volumes:              volumes,
		Tags:                 b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("task definition: %w", err)
	}

	service, err := ecs.NewService(b.ctx, b.name+"-service", &ecs.ServiceArgs{
		Name:           pulumi.String(b.physical),
		Cluster:        cluster.Arn,
		TaskDefinition: taskDef.Arn,
		LaunchType:     pulumi.String("FARGATE"),
		DesiredCount:   pulumi.Int(b.cfg.MinTasks),
		NetworkConfiguration: &ecs.ServiceNetworkConfigurationArgs{
			Subnets:        net.taskSubnets,
			SecurityGroups: pulumi.StringArray{taskSG.ID()},
			AssignPublicIp: pulumi.Bool(b.cfg.PublicTasks),
		},
		LoadBalancers: ecs.ServiceLoadBalancerArray{
			&ecs.ServiceLoadBalancerArgs{
				TargetGroupArn: lb.targetGroup.Arn,
				ContainerName:  pulumi.String(ContainerName),
				ContainerPort:  pulumi.Int(contract.Port),
			},
		},
		HealthCheckGracePeriodSeconds: pulumi.Int(30),
		// Start new tasks before stopping old ones: a deployment never
		// lowers capacity below the current connection load.
		DeploymentMinimumHealthyPercent: pulumi.Int(100),
		DeploymentMaximumPercent:        pulumi.Int(200),
		DeploymentCircuitBreaker: &ecs.ServiceDeploymentCircuitBreakerArgs{
			Enable:   pulumi.Bool(true),
			Rollback: pulumi.Bool(true),
		},
		EnableExecuteCommand: pulumi.Bool(b.cfg.ExecuteCommand),
		EnableEcsManagedTags: pulumi.Bool(true),
		PropagateTags:        pulumi.String("SERVICE"),
		Tags:                 b.tags(),
	}, b.opts(
		// ECS rejects a target group that no listener uses yet.
		pulumi.DependsOn(serviceDeps),
		// Auto scaling owns the task count after creation.
		pulumi.IgnoreChanges([]string{"desiredCount"}),
	)...)
	if err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	return &task{cluster: cluster, service: service, logGroup: logGroup}, nil
}

// taskSecurityGroup admits the container port from the ALB's security group
// only, and lets tasks reach HTTPS endpoints (ECR, CloudWatch, SSM) out.
func (b *builder) taskSecurityGroup(net *network, lb *loadBalancer) (*ec2.SecurityGroup, error) {
	sg, err := ec2.NewSecurityGroup(b.ctx, b.name+"-tasks", &ec2.SecurityGroupArgs{
		VpcId:       net.vpcID,
		Description: pulumi.String("WebSocket tasks: container port from the ALB only"),
		Tags:        b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("task security group: %w", err)
	}
	_, err = vpc.NewSecurityGroupIngressRule(b.ctx, b.name+"-tasks-from-alb", &vpc.SecurityGroupIngressRuleArgs{
		SecurityGroupId:           sg.ID(),
		Description:               pulumi.String("Container port from the ALB"),
		IpProtocol:                pulumi.String("tcp"),
		FromPort:                  pulumi.Int(contract.Port),
		ToPort:                    pulumi.Int(contract.Port),
		ReferencedSecurityGroupId: lb.sg.ID(),
		Tags:                      b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("task ingress: %w", err)
	}
	_, err = vpc.NewSecurityGroupEgressRule(b.ctx, b.name+"-tasks-https-out", &vpc.SecurityGroupEgressRuleArgs{
		SecurityGroupId: sg.ID(),
		Description:     pulumi.String("HTTPS to AWS APIs: ECR, CloudWatch Logs, SSM"),
		IpProtocol:      pulumi.String("tcp"),
		FromPort:        pulumi.Int(443),
		ToPort:          pulumi.Int(443),
		CidrIpv4:        pulumi.String("0.0.0.0/0"),
		Tags:            b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("task egress: %w", err)
	}
	_, err = vpc.NewSecurityGroupEgressRule(b.ctx, b.name+"-alb-to-tasks", &vpc.SecurityGroupEgressRuleArgs{
		SecurityGroupId:           lb.sg.ID(),
		Description:               pulumi.String("Container port on the tasks"),
		IpProtocol:                pulumi.String("tcp"),
		FromPort:                  pulumi.Int(contract.Port),
		ToPort:                    pulumi.Int(contract.Port),
		ReferencedSecurityGroupId: sg.ID(),
		Tags:                      b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("alb egress: %w", err)
	}
	return sg, nil
}
