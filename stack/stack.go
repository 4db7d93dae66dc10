// Package stack declares the AWS infrastructure of the WebSocket service as
// one Pulumi component, [Service]:
//
//	client --wss--> CloudFront --ws + secret header--> ALB :80 --(header matches)--> Fargate task :8080 /wss
//	                                                   default action: 403
//
// Each concern has its own file: config (keys and validation), network
// (VPC, flow logs), secret (the origin header value), logs (log buckets and
// groups), loadbalancer (ALB, target group, listener), image (ECR and the
// Docker build), broker (the Valkey stream that fans broadcasts out across
// tasks), pusher (the Pusher Channels app's credentials), service
// (cluster, task, security groups), scaling, waf (the optional web ACL),
// edge (CloudFront), dashboard and alarms (what an operator watches).
// [New] calls them in dependency order, which is the request path read
// from the inside out: CloudFront comes after the load balancer because its
// origin is the load balancer's DNS name, and the dashboard and alarms last
// because they watch everything else.
//
// Names shared with the server (port, paths, metric, environment variables)
// come from server/contract, so both sides agree by construction.
package stack

import (
	"fmt"
	"maps"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/wsfargate/websocket-service/server/contract"
)

// ComponentType is the Pulumi type token of [Service].
const ComponentType = "websocket:index:Service"

// Service is the deployed WebSocket service. Its outputs are what an
// operator and the Pusher app's clients and backend need; the origin header
// secret is deliberately not among them, and the Pusher app secret is one
// only as a Pulumi secret.
type Service struct {
	pulumi.ResourceState

	// WebsocketURL is wss://<domain>/wss: the custom domain when one is
	// configured, the distribution's *.cloudfront.net name otherwise.
	WebsocketURL pulumi.StringOutput
	// DistributionID and DistributionDomain identify the CloudFront
	// distribution (the domain is the target of a custom domain's DNS record).
	DistributionID     pulumi.StringOutput
	DistributionDomain pulumi.StringOutput
	// ClusterName and ServiceName address the ECS service, e.g. for
	// aws ecs execute-command.
	ClusterName pulumi.StringOutput
	ServiceName pulumi.StringOutput
	// LogGroupName is the container log group.
	LogGroupName pulumi.StringOutput
	// Image is the deployed image pinned by digest (repository@sha256:...).
	Image pulumi.StringOutput
	// RepositoryURL is the ECR repository the image is pushed to.
	RepositoryURL pulumi.StringOutput
	// LoadBalancerDNS is the ALB's name; direct requests get 403 by design.
	LoadBalancerDNS pulumi.StringOutput
	// VpcID is the VPC the service runs in.
	VpcID pulumi.StringOutput
	// DashboardURL opens the service's CloudWatch dashboard in the console.
	DashboardURL pulumi.StringOutput
	// PusherHost is the host Pusher clients and server libraries connect
	// to (wss://<host>/app/{key}, https://<host>/apps/{id}/...): the same
	// host as WebsocketURL.
	PusherHost pulumi.StringOutput
	// PusherAppID and PusherKey are the Pusher app's public id and key.
	PusherAppID pulumi.StringOutput
	PusherKey   pulumi.StringOutput
	// PusherSecret is the app secret a backend signs API calls and channel
	// authorizations with; a Pulumi secret (pulumi stack output
	// pusherSecret --show-secrets).
	PusherSecret pulumi.StringOutput
}

// Outputs returns the stack outputs by name, for ctx.Export.
func (s *Service) Outputs() map[string]pulumi.StringOutput {
	return map[string]pulumi.StringOutput{
		"websocketUrl":       s.WebsocketURL,
		"distributionId":     s.DistributionID,
		"distributionDomain": s.DistributionDomain,
		"clusterName":        s.ClusterName,
		"serviceName":        s.ServiceName,
		"logGroupName":       s.LogGroupName,
		"image":              s.Image,
		"repositoryUrl":      s.RepositoryURL,
		"loadBalancerDns":    s.LoadBalancerDNS,
		"vpcId":              s.VpcID,
		"dashboardUrl":       s.DashboardURL,
		"pusherHost":         s.PusherHost,
		"pusherAppId":        s.PusherAppID,
		"pusherKey":          s.PusherKey,
		"pusherSecret":       s.PusherSecret,
	}
}

// builder carries what every file's declarations share.
type builder struct {
	ctx *pulumi.Context
	cfg Config
	// name prefixes logical names; physical is the ECS cluster and
	// service name (and the metric dimension value).
	name     string
	physical string
	parent   pulumi.ResourceOrInvokeOption
	account  string
	region   string
}

// opts returns the options of a child resource: parented to the component,
// plus extra.
func (b *builder) opts(extra ...pulumi.ResourceOption) []pulumi.ResourceOption {
	return append([]pulumi.ResourceOption{b.parent}, extra...)
}

// tags returns the common tags merged with extra (for example rule
// suppressions from policy/rules).
func (b *builder) tags(extra ...map[string]string) pulumi.StringMap {
	t := map[string]string{"app": b.cfg.Name, "stack": b.ctx.Stack()}
	for _, e := range extra {
		maps.Copy(t, e)
	}
	return pulumi.ToStringMap(t)
}

// New declares the whole service as children of one component named name.
func New(ctx *pulumi.Context, name string, cfg Config, opts ...pulumi.ResourceOption) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	svc := &Service{}
	if err := ctx.RegisterComponentResource(ComponentType, name, svc, opts...); err != nil {
		return nil, fmt.Errorf("register %s: %w", ComponentType, err)
	}
	b := &builder{ctx: ctx, cfg: cfg, name: name, physical: cfg.ResourceName(ctx.Stack()), parent: pulumi.Parent(svc)}

	caller, err := aws.GetCallerIdentity(ctx, nil, b.parent)
	if err != nil {
		return nil, fmt.Errorf("look up the AWS account: %w", err)
	}
	region, err := aws.GetRegion(ctx, nil, b.parent)
	if err != nil {
		return nil, fmt.Errorf("look up the AWS region: %w", err)
	}
	b.account, b.region = caller.AccountId, region.Name

	net, err := b.network()
	if err != nil {
		return nil, err
	}
	secret, err := b.originSecret()
	if err != nil {
		return nil, err
	}
	logs, err := b.logBuckets()
	if err != nil {
		return nil, err
	}
	lb, err := b.loadBalancer(net, secret, logs)
	if err != nil {
		return nil, err
	}
	img, err := b.image()
	if err != nil {
		return nil, err
	}
	taskSG, err := b.taskSecurityGroup(net, lb)
	if err != nil {
		return nil, err
	}
	brk, err := b.broker(net, taskSG)
	if err != nil {
		return nil, err
	}
	app, err := b.pusherApp()
	if err != nil {
		return nil, err
	}
	task, err := b.service(net, lb, img, taskSG, brk, app)
	if err != nil {
		return nil, err
	}
	if err := b.scaling(task, lb); err != nil {
		return nil, err
	}
	waf, err := b.firewall()
	if err != nil {
		return nil, err
	}
	edge, err := b.edge(lb, secret, logs, waf)
	if err != nil {
		return nil, err
	}
	dashboardURL, err := b.dashboard(watchedOutputs(task, lb, edge), waf)
	if err != nil {
		return nil, err
	}
	topic, err := b.alarmTopic()
	if err != nil {
		return nil, err
	}
	if err := b.alarms(task, lb, topic); err != nil {
		return nil, err
	}

	host := edge.distribution.DomainName
	if cfg.DomainName != "" {
		host = pulumi.String(cfg.DomainName).ToStringOutput()
	}
	svc.WebsocketURL = pulumi.Sprintf("wss://%s%s", host, contract.WebSocketPath)
	svc.DistributionID = edge.distribution.ID().ToStringOutput()
	svc.DistributionDomain = edge.distribution.DomainName
	svc.ClusterName = task.cluster.Name
	svc.ServiceName = task.service.Name
	svc.LogGroupName = task.logGroup.Name
	svc.Image = img.ref
	svc.RepositoryURL = img.repo.RepositoryUrl
	svc.LoadBalancerDNS = lb.alb.DnsName
	svc.VpcID = net.vpcID
	svc.DashboardURL = dashboardURL
	svc.PusherHost = host
	svc.PusherAppID = app.id
	svc.PusherKey = app.key
	svc.PusherSecret = pulumi.ToSecret(app.secret).(pulumi.StringOutput)

	outputs := pulumi.Map{}
	for k, v := range svc.Outputs() {
		outputs[k] = v
	}
	if err := ctx.RegisterResourceOutputs(svc, outputs); err != nil {
		return nil, fmt.Errorf("register outputs of %s: %w", name, err)
	}
	return svc, nil
}
