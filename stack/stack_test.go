package stack

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/wsfargate/websocket-service/policy/rules"
	serverconfig "github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/contract"
	"github.com/wsfargate/websocket-service/stack/stacktest"
)

const project = "websocket-service"

// devConfig is what `pulumi up` on the dev stack hands the program:
// Pulumi.yaml's defaults overlaid with Pulumi.dev.yaml.
func devConfig(t *testing.T, overrides map[string]string) map[string]string {
	t.Helper()
	cfg := map[string]string{}
	for name, k := range readProject(t).Config {
		cfg[project+":"+name] = fmt.Sprint(k.Default)
	}
	maps.Copy(cfg, stackConfig(t, devFile))
	for k, v := range overrides {
		cfg[project+":"+k] = v
	}
	return cfg
}

// mode is one configuration the program is run with.
type mode struct {
	name      string
	overrides map[string]string
	// defaultsOnly skips Pulumi.dev.yaml.
	defaultsOnly bool
	// region overrides aws:region.
	region string
	// resources is the expected number of registered resources (the
	// component and its children; providers excluded).
	resources int
}

var modes = []mode{
	{name: "dev", resources: 65},
	{name: "defaults", defaultsOnly: true, resources: 64},
	{name: "public-tasks", overrides: map[string]string{"publicTasks": "true", "natGateways": "None"}, resources: 65},
	{name: "requests-scaling", overrides: map[string]string{"scaling": "requests"}, resources: 65},
	{name: "custom-domain", overrides: map[string]string{"domainName": "ws.example.com", "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"}, resources: 65},
	{name: "exec-off", overrides: map[string]string{"executeCommand": "false"}, resources: 64},
	{name: "single-task", overrides: map[string]string{"maxTasks": "1"}, resources: 53},
	{name: "memory-fanout", overrides: map[string]string{"fanout": "memory", "maxTasks": "1"}, resources: 53},
	{name: "alarm-email", overrides: map[string]string{"alarmEmail": "ops@example.com"}, resources: 68},
	{name: "insights-disabled", overrides: map[string]string{"containerInsights": "disabled"}, resources: 64},
	{name: "fixed-size", overrides: map[string]string{"minTasks": "2", "maxTasks": "2"}, resources: 64},
	{name: "eu-west-1", region: "eu-west-1", resources: 65},
	{name: "redis-single-task", overrides: map[string]string{"fanout": "redis", "maxTasks": "1"}, resources: 64},
	// The web ACL is one more resource; outside us-east-1 its provider
	// is one more again, which the count (providers excluded) leaves out.
	{name: "waf", overrides: map[string]string{"waf": "true", "wafRateLimit": "500"}, resources: 66},
	{name: "waf-eu-west-1", overrides: map[string]string{"waf": "true"}, region: "eu-west-1", resources: 66},
	{name: "pusher-options", overrides: map[string]string{"pusherClientEvents": "true", "wssEnabled": "false", "allowedOrigins": "app.example.com,*.example.com"}, resources: 65},
}

func (md mode) config(t *testing.T) map[string]string {
	var cfg map[string]string
	if md.defaultsOnly {
		cfg = map[string]string{"aws:region": stacktest.Region}
		for name, k := range readProject(t).Config {
			cfg[project+":"+name] = fmt.Sprint(k.Default)
		}
	} else {
		cfg = devConfig(t, md.overrides)
	}
	if md.region != "" {
		cfg["aws:region"] = md.region
	}
	return cfg
}

// runMode runs the program in one mode and fails the test on error.
func runMode(t *testing.T, md mode) (*run, Config) {
	t.Helper()
	cfg := md.config(t)
	r, err := runProgram(t, cfg)
	if err != nil {
		t.Fatalf("program failed: %v", err)
	}
	c, err := ParseConfig(func(k string) (string, bool) { v, ok := cfg[project+":"+k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return r, c
}

func countResources(r *run) (int, map[string]int) {
	byType := map[string]int{}
	n := 0
	for _, x := range r.mocks.Resources() {
		if strings.HasPrefix(x.Args.TypeToken, "pulumi:providers:") {
			continue
		}
		byType[x.Args.TypeToken]++
		n++
	}
	return n, byType
}

// TestModes runs the program in every mode and checks the resource count,
// the security rule set and the invariants that hold in all modes.
func TestModes(t *testing.T) {
	for _, md := range modes {
		t.Run(md.name, func(t *testing.T) {
			r, cfg := runMode(t, md)
			n, byType := countResources(r)
			t.Logf("mode %s: %d resources", md.name, n)
			if n != md.resources {
				types := slices.Sorted(maps.Keys(byType))
				var lines []string
				for _, ty := range types {
					lines = append(lines, fmt.Sprintf("%3d %s", byType[ty], ty))
				}
				t.Errorf("%d resources, want %d:\n%s", n, md.resources, strings.Join(lines, "\n"))
			}
			if findings := rules.Check(r.rulesResources()); len(findings) > 0 {
				for _, f := range findings {
					t.Errorf("rule finding: %s", f)
				}
			}
			checkSecretStaysSecret(t, r, cfg)
			checkNoOpenIngress(t, r)
			checkWebsocketURL(t, r, cfg)
			checkScaling(t, r, cfg)
			checkTasks(t, r, cfg)
			checkEdge(t, r, cfg)
			checkWAF(t, r, cfg)
			checkFanout(t, r, cfg)
			checkPusher(t, r, cfg)
			checkDashboard(t, r, cfg)
			checkAlarms(t, r, cfg)
		})
	}
}

// TestResourceTypes pins the set of resource types of the dev stack.
func TestResourceTypes(t *testing.T) {
	r, _ := runMode(t, modes[0])
	_, byType := countResources(r)
	want := map[string]int{
		ComponentType:                                            1,
		"awsx:ec2:Vpc":                                           1,
		"aws:ec2/flowLog:FlowLog":                                1,
		"aws:cloudwatch/logGroup:LogGroup":                       2,
		"aws:iam/role:Role":                                      3,
		"aws:iam/rolePolicy:RolePolicy":                          3,
		"random:index/randomPassword:RandomPassword":             4,
		"random:index/randomInteger:RandomInteger":               1,
		"random:index/randomId:RandomId":                         1,
		"aws:elasticache/user:User":                              2,
		"aws:elasticache/userGroup:UserGroup":                    1,
		"aws:secretsmanager/secret:Secret":                       2,
		"aws:secretsmanager/secretVersion:SecretVersion":         2,
		"aws:cloudwatch/dashboard:Dashboard":                     1,
		"aws:cloudwatch/metricAlarm:MetricAlarm":                 4,
		"aws:s3/bucketV2:BucketV2":                               2,
		"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 2,
		"aws:s3/bucketOwnershipControls:BucketOwnershipControls": 2,
		"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": 2,
		"aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2":                       2,
		"aws:s3/bucketPolicy:BucketPolicy":                                                           2,
		"aws:s3/bucketLoggingV2:BucketLoggingV2":                                                     1,
		"aws:ec2/securityGroup:SecurityGroup":                                                        3,
		"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":                                  3,
		"aws:elasticache/serverlessCache:ServerlessCache":                                            1,
		"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":                                    3,
		"aws:lb/loadBalancer:LoadBalancer":                                                           1,
		"aws:lb/targetGroup:TargetGroup":                                                             1,
		"aws:lb/listener:Listener":                                                                   1,
		"aws:lb/listenerRule:ListenerRule":                                                           1,
		"aws:ecr/repository:Repository":                                                              1,
		"aws:ecr/lifecyclePolicy:LifecyclePolicy":                                                    1,
		"docker:index/image:Image":                                                                   1,
		"aws:ecs/cluster:Cluster":                                                                    1,
		"aws:ecs/taskDefinition:TaskDefinition":                                                      1,
		"aws:ecs/service:Service":                                                                    1,
		"aws:appautoscaling/target:Target":                                                           1,
		"aws:appautoscaling/policy:Policy":                                                           1,
		"aws:cloudfront/distribution:Distribution":                                                   1,
	}
	for ty, n := range want {
		if byType[ty] != n {
			t.Errorf("%s: %d, want %d", ty, byType[ty], n)
		}
	}
	for ty, n := range byType {
		if _, ok := want[ty]; !ok {
			t.Errorf("unexpected resource type %s (%d)", ty, n)
		}
	}
	// Every resource is the component or its descendant.
	for _, x := range r.mocks.Resources() {
		ty := x.Args.TypeToken
		if ty == ComponentType || strings.HasPrefix(ty, "pulumi:providers:") {
			continue
		}
		if !strings.Contains(x.Args.RegisterRPC.GetParent(), ComponentType) {
			t.Errorf("%s %s is not a child of the component (parent %q)", ty, x.Args.Name, x.Args.RegisterRPC.GetParent())
		}
	}
}

// walkSecrets reports every path under v where s appears outside a secret,
// and every path where it appears inside one.
func walkSecrets(v resource.PropertyValue, s, path string, plain, secret *[]string) {
	switch {
	case v.IsSecret():
		if strings.Contains(fmt.Sprint(v.SecretValue().Element.Mappable()), s) {
			*secret = append(*secret, path)
		}
	case v.IsOutput():
		o := v.OutputValue()
		if o.Secret {
			if strings.Contains(fmt.Sprint(o.Element.Mappable()), s) {
				*secret = append(*secret, path)
			}
			return
		}
		walkSecrets(o.Element, s, path, plain, secret)
	case v.IsString():
		if strings.Contains(v.StringValue(), s) {
			*plain = append(*plain, path)
		}
	case v.IsArray():
		for i, e := range v.ArrayValue() {
			walkSecrets(e, s, fmt.Sprintf("%s[%d]", path, i), plain, secret)
		}
	case v.IsObject():
		for k, e := range v.ObjectValue() {
			walkSecrets(e, s, path+"."+string(k), plain, secret)
		}
	}
}

// secretCarriers returns the types of the resources whose inputs carry
// value, failing the test wherever one carries it outside a Pulumi secret
// (state would then store it in plain text).
func secretCarriers(t *testing.T, r *run, value, what string) []string {
	t.Helper()
	var carriers []string
	for _, x := range r.mocks.Resources() {
		if x.Args.TypeToken == "random:index/randomPassword:RandomPassword" {
			continue
		}
		var plain, secret []string
		walkSecrets(resource.NewProperty(x.Args.Inputs), value, x.Args.Name, &plain, &secret)
		for _, p := range plain {
			t.Errorf("%s in plain text at %s (%s)", what, p, x.Args.TypeToken)
		}
		if len(secret) > 0 {
			carriers = append(carriers, x.Args.TypeToken)
		}
	}
	slices.Sort(carriers)
	return carriers
}

// checkSecretStaysSecret proves that every generated secret is a Pulumi
// secret in every resource input that carries it (so state stores it
// encrypted), that it reaches exactly the resources that need it, and that
// no output carries it but pusherSecret, which is a secret output: the
// origin header value (listener rule and distribution), the registry
// password (the image push), the broker passwords (the cache users and the
// Secrets Manager value, never the task definition) and the Pusher app
// secret (the Secrets Manager value only).
func checkSecretStaysSecret(t *testing.T, r *run, cfg Config) {
	t.Helper()
	var brokerCarriers, defaultCarriers []string
	if cfg.FanoutMode() == FanoutRedis {
		brokerCarriers = []string{"aws:elasticache/user:User", "aws:secretsmanager/secretVersion:SecretVersion"}
		defaultCarriers = []string{"aws:elasticache/user:User"}
	}
	for _, s := range []struct {
		value, what string
		want        []string
		// output is the one output that may carry the value.
		output string
	}{
		{stacktest.Secret, "origin secret", []string{"aws:cloudfront/distribution:Distribution", "aws:lb/listenerRule:ListenerRule"}, ""},
		{stacktest.RegistryPassword, "registry password", []string{"docker:index/image:Image"}, ""},
		{stacktest.BrokerPassword, "broker password", brokerCarriers, ""},
		{stacktest.BrokerDefaultPassword, "broker default user password", defaultCarriers, ""},
		{stacktest.PusherSecret, "Pusher app secret", []string{"aws:secretsmanager/secretVersion:SecretVersion"}, "pusherSecret"},
	} {
		if got := secretCarriers(t, r, s.value, s.what); !slices.Equal(got, s.want) {
			t.Errorf("%s is carried (as a secret) by %v, want %v", s.what, got, s.want)
		}
		for name, v := range r.outputs {
			if strings.Contains(v, s.value) && name != s.output {
				t.Errorf("output %s carries the %s", name, s.what)
			}
		}
	}
	if r.outputs["pusherSecret"] != stacktest.PusherSecret {
		t.Errorf("pusherSecret output %q, want the generated secret", r.outputs["pusherSecret"])
	}
	if !slices.Equal(r.secretOutputs, []string{"pusherSecret"}) {
		t.Errorf("secret outputs %v, want exactly pusherSecret", r.secretOutputs)
	}
}

func checkNoOpenIngress(t *testing.T, r *run) {
	t.Helper()
	for _, x := range r.ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
		in := x.Rule.Inputs
		if in["cidrIpv4"] != nil || in["cidrIpv6"] != nil {
			t.Errorf("ingress rule %s admits a CIDR block (%v %v)", x.Args.Name, in["cidrIpv4"], in["cidrIpv6"])
		}
	}
	for _, x := range r.ofType("aws:ec2/securityGroup:SecurityGroup") {
		if x.Rule.Inputs["ingress"] != nil || x.Rule.Inputs["egress"] != nil {
			t.Errorf("security group %s has inline rules; rules are separate resources", x.Args.Name)
		}
	}
}

var urlRe = regexp.MustCompile(`^wss://[a-z0-9.-]+/wss$`)

func checkWebsocketURL(t *testing.T, r *run, cfg Config) {
	t.Helper()
	url := r.outputs["websocketUrl"]
	if !urlRe.MatchString(url) {
		t.Errorf("websocketUrl = %q, want wss://<domain>%s", url, contract.WebSocketPath)
	}
	want := "wss://" + stacktest.DistributionDomain + contract.WebSocketPath
	if cfg.DomainName != "" {
		want = "wss://" + cfg.DomainName + contract.WebSocketPath
	}
	if url != want {
		t.Errorf("websocketUrl = %q, want %q", url, want)
	}
	wantOutputs := []string{"clusterName", "dashboardUrl", "distributionDomain", "distributionId", "image", "loadBalancerDns", "logGroupName",
		"pusherAppId", "pusherHost", "pusherKey", "pusherSecret", "repositoryUrl", "serviceName", "vpcId", "websocketUrl"}
	if got := slices.Sorted(maps.Keys(r.outputs)); !slices.Equal(got, wantOutputs) {
		t.Errorf("outputs %v, want %v", got, wantOutputs)
	}
	if r.outputs["image"] != stacktest.Digest {
		t.Errorf("image output %q, want the pushed digest", r.outputs["image"])
	}
	if r.outputs["distributionId"] != stacktest.DistributionID || r.outputs["serviceName"] != cfg.ResourceName("dev") {
		t.Errorf("outputs %v", r.outputs)
	}
	// Pusher clients and backends use the host of websocketUrl.
	if host := strings.TrimSuffix(strings.TrimPrefix(url, "wss://"), contract.WebSocketPath); r.outputs["pusherHost"] != host {
		t.Errorf("pusherHost %q, want %q", r.outputs["pusherHost"], host)
	}
	if r.outputs["pusherAppId"] != fmt.Sprint(stacktest.PusherAppID) || r.outputs["pusherKey"] != stacktest.PusherKey {
		t.Errorf("pusherAppId %q, pusherKey %q", r.outputs["pusherAppId"], r.outputs["pusherKey"])
	}
}

func checkScaling(t *testing.T, r *run, cfg Config) {
	t.Helper()
	target := r.one(t, "aws:appautoscaling/target:Target").Inputs
	if target["minCapacity"] != float64(cfg.MinTasks) || target["maxCapacity"] != float64(cfg.MaxTasks) {
		t.Errorf("scalable target capacity %v..%v, want %d..%d", target["minCapacity"], target["maxCapacity"], cfg.MinTasks, cfg.MaxTasks)
	}
	if got, want := target["resourceId"], "service/"+cfg.ResourceName("dev")+"/"+cfg.ResourceName("dev"); got != want {
		t.Errorf("scalable target resourceId %v, want %s", got, want)
	}
	policy := r.one(t, "aws:appautoscaling/policy:Policy").Inputs
	tt := at(policy, "targetTrackingScalingPolicyConfiguration")
	if policy["policyType"] != "TargetTrackingScaling" || policy["resourceId"] != target["resourceId"] {
		t.Errorf("policy %v", policy)
	}
	in, out := at(tt, "scaleInCooldown").(float64), at(tt, "scaleOutCooldown").(float64)
	if in <= out {
		t.Errorf("scale-in cooldown %v must exceed scale-out %v", in, out)
	}
	switch cfg.Scaling {
	case ScalingConnections:
		spec := at(tt, "customizedMetricSpecification")
		want := map[string]any{
			"namespace": contract.MetricNamespace, "metricName": contract.MetricConnections, "statistic": "Average",
			"dimensions": []any{map[string]any{"name": contract.MetricDimension, "value": cfg.ResourceName("dev")}},
		}
		if fmt.Sprint(spec) != fmt.Sprint(want) {
			t.Errorf("customized metric %v, want %v", spec, want)
		}
		if at(tt, "targetValue") != float64(cfg.ConnectionsPerTask) || at(tt, "predefinedMetricSpecification") != nil {
			t.Errorf("target tracking %v", tt)
		}
	case ScalingRequests:
		spec := at(tt, "predefinedMetricSpecification")
		if at(spec, "predefinedMetricType") != "ALBRequestCountPerTarget" || at(spec, "resourceLabel") != stacktest.ALBArnSuffix+"/"+stacktest.TargetGroupArnSuffix {
			t.Errorf("predefined metric %v", spec)
		}
		if at(tt, "targetValue") != 5.0 || at(tt, "customizedMetricSpecification") != nil {
			t.Errorf("target tracking %v", tt)
		}
	}
}

func checkTasks(t *testing.T, r *run, cfg Config) {
	t.Helper()
	svc := r.one(t, "aws:ecs/service:Service").Inputs
	subnets := stacktest.PrivateSubnets()
	if cfg.PublicTasks {
		subnets = stacktest.PublicSubnets()
	}
	nc := svc["networkConfiguration"]
	if at(nc, "assignPublicIp") != cfg.PublicTasks || fmt.Sprint(at(nc, "subnets")) != fmt.Sprint(subnets) {
		t.Errorf("network configuration %v, want public=%v subnets %v", nc, cfg.PublicTasks, subnets)
	}
	if svc["enableExecuteCommand"] != cfg.ExecuteCommand {
		t.Errorf("enableExecuteCommand %v, want %v", svc["enableExecuteCommand"], cfg.ExecuteCommand)
	}
	vpc := r.one(t, "awsx:ec2:Vpc").Inputs
	if at(vpc, "natGateways", "strategy") != cfg.NatGateways || vpc["numberOfAvailabilityZones"] != float64(cfg.AvailabilityZones) {
		t.Errorf("vpc %v", vpc)
	}

	td := r.one(t, "aws:ecs/taskDefinition:TaskDefinition").Inputs
	var defs []containerDefinition
	if err := json.Unmarshal([]byte(td["containerDefinitions"].(string)), &defs); err != nil || len(defs) != 1 {
		t.Fatalf("container definitions: %v %v", err, td["containerDefinitions"])
	}
	c := defs[0]
	env := map[string]string{}
	for _, kv := range c.Environment {
		env[kv.Name] = kv.Value
	}
	if env[contract.EnvMetricService] != cfg.ResourceName("dev") || env[contract.EnvPingInterval] != fmt.Sprintf("%ds", cfg.PingIntervalSeconds) {
		t.Errorf("environment %v", env)
	}
	if want := fmt.Sprintf("%dMiB", cfg.Memory*9/10); env["GOMEMLIMIT"] != want {
		t.Errorf("GOMEMLIMIT=%q, want %s: 90%% of the task's %d MiB", env["GOMEMLIMIT"], want, cfg.Memory)
	}
	if c.Image != stacktest.Digest {
		t.Errorf("image %q, want the pushed digest %q", c.Image, stacktest.Digest)
	}
	volumes := at(td, "volumes")
	if cfg.ExecuteCommand {
		if c.LinuxParameters == nil || !c.LinuxParameters.InitProcessEnabled || len(c.MountPoints) != 3 || len(volumes.([]any)) != 3 {
			t.Errorf("exec on: linuxParameters %+v, mounts %+v, volumes %v", c.LinuxParameters, c.MountPoints, volumes)
		}
		for _, m := range c.MountPoints {
			if execWritablePaths[m.SourceVolume] != m.ContainerPath || m.ReadOnly {
				t.Errorf("mount %+v", m)
			}
		}
		policy := r.named(t, "aws:iam/rolePolicy:RolePolicy", "websocket-task-exec").Rule.Inputs["policy"].(string)
		var doc policyDocument
		if err := json.Unmarshal([]byte(policy), &doc); err != nil || len(doc.Statement) != 1 || !slices.Equal(doc.Statement[0].Action, ssmMessagesActions) {
			t.Errorf("task role policy %s (%v), want only %v", policy, err, ssmMessagesActions)
		}
	} else {
		if c.LinuxParameters != nil || len(c.MountPoints) != 0 || volumes != nil {
			t.Errorf("exec off: linuxParameters %+v, mounts %+v, volumes %v", c.LinuxParameters, c.MountPoints, volumes)
		}
		for _, p := range r.ofType("aws:iam/rolePolicy:RolePolicy") {
			if p.Args.Name == "websocket-task-exec" {
				t.Errorf("exec off but the task role has a policy")
			}
		}
	}
}

func checkEdge(t *testing.T, r *run, cfg Config) {
	t.Helper()
	d := r.one(t, "aws:cloudfront/distribution:Distribution").Inputs
	checkEdgeRoutes(t, d)
	// With WAF the distribution is associated with the stack's web ACL by
	// ARN and carries no CFR2 suppression (a stale one would be a WS-NAG1
	// finding); without, it carries the suppression.
	tags, _ := d["tags"].(map[string]any)
	_, suppressed := tags[rules.TagPrefix+"AwsSolutions-CFR2"]
	if cfg.WAF {
		if want := stacktest.WebACLARN(cfg.ResourceName("dev")); d["webAclId"] != want || suppressed {
			t.Errorf("waf on: webAclId %v (want %s), CFR2 suppressed %v", d["webAclId"], want, suppressed)
		}
	} else if d["webAclId"] != nil || !suppressed {
		t.Errorf("waf off: webAclId %v, CFR2 suppressed %v (want none, and the suppression)", d["webAclId"], suppressed)
	}
	vc := d["viewerCertificate"]
	if cfg.DomainName == "" {
		if at(vc, "cloudfrontDefaultCertificate") != true || d["aliases"] != nil {
			t.Errorf("default certificate expected: %v aliases %v", vc, d["aliases"])
		}
	} else {
		if at(vc, "acmCertificateArn") != cfg.CertificateArn || at(vc, "minimumProtocolVersion") != "TLSv1.2_2021" || at(vc, "sslSupportMethod") != "sni-only" {
			t.Errorf("custom certificate expected: %v", vc)
		}
		if fmt.Sprint(d["aliases"]) != fmt.Sprint([]any{cfg.DomainName}) {
			t.Errorf("aliases %v", d["aliases"])
		}
	}
}

// TestSecurityInputs asserts the security-relevant inputs of the dev stack.
func TestSecurityInputs(t *testing.T) {
	r, cfg := runMode(t, modes[0])

	t.Run("alb", func(t *testing.T) {
		alb := r.one(t, "aws:lb/loadBalancer:LoadBalancer").Inputs
		if alb["dropInvalidHeaderFields"] != true || alb["internal"] != false || alb["loadBalancerType"] != "application" {
			t.Errorf("alb %v", alb)
		}
		if alb["idleTimeout"] != 60.0 || 2*cfg.PingIntervalSeconds >= int(alb["idleTimeout"].(float64)) {
			t.Errorf("idle timeout %v with ping %d", alb["idleTimeout"], cfg.PingIntervalSeconds)
		}
		if at(alb, "accessLogs", "enabled") != true || at(alb, "accessLogs", "bucket") != stacktest.ALBBucketName {
			t.Errorf("access logs %v", alb["accessLogs"])
		}
		if fmt.Sprint(alb["subnets"]) != fmt.Sprint(stacktest.PublicSubnets()) {
			t.Errorf("alb subnets %v", alb["subnets"])
		}
		in := r.named(t, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "websocket-alb-from-cloudfront").Rule.Inputs
		if in["prefixListId"] != stacktest.PrefixListID || in["fromPort"] != 80.0 || in["toPort"] != 80.0 || in["ipProtocol"] != "tcp" {
			t.Errorf("alb ingress %v", in)
		}
		if !slices.Contains(r.mocks.Calls(), "aws:ec2/getManagedPrefixList:getManagedPrefixList") {
			t.Error("the CloudFront prefix list was not looked up")
		}
	})

	t.Run("listener", func(t *testing.T) {
		l := r.one(t, "aws:lb/listener:Listener").Inputs
		if l["port"] != 80.0 || l["protocol"] != "HTTP" {
			t.Errorf("listener %v", l)
		}
		da := at(l, "defaultActions", 0)
		if at(da, "type") != "fixed-response" || at(da, "fixedResponse", "statusCode") != "403" {
			t.Errorf("default action %v, want a fixed 403", da)
		}
		rule := r.one(t, "aws:lb/listenerRule:ListenerRule").Inputs
		cond := at(rule, "conditions", 0, "httpHeader")
		if rule["priority"] != 1.0 || at(cond, "httpHeaderName") != "X-Origin-Verify" || fmt.Sprint(at(cond, "values")) != fmt.Sprint([]any{stacktest.Secret}) {
			t.Errorf("listener rule %v", rule)
		}
		if at(rule, "actions", 0, "type") != "forward" || at(rule, "actions", 0, "targetGroupArn") == nil {
			t.Errorf("listener rule action %v", rule["actions"])
		}
		if len(at(rule, "conditions").([]any)) != 1 {
			t.Errorf("the rule must match on the header alone: %v", rule["conditions"])
		}
	})

	t.Run("target group", func(t *testing.T) {
		tg := r.one(t, "aws:lb/targetGroup:TargetGroup").Inputs
		if tg["targetType"] != "ip" || tg["port"] != float64(contract.Port) || tg["protocol"] != "HTTP" {
			t.Errorf("target group %v", tg)
		}
		if at(tg, "healthCheck", "path") != contract.RootPath {
			t.Errorf("health check %v", tg["healthCheck"])
		}
		want := contract.DefaultDrainDelaySeconds + contract.DefaultDrainSpreadSeconds + deregistrationMarginSeconds
		if tg["deregistrationDelay"] != float64(want) {
			t.Errorf("deregistration delay %v, want %d", tg["deregistrationDelay"], want)
		}
	})

	t.Run("tasks", func(t *testing.T) {
		cl := r.one(t, "aws:ecs/cluster:Cluster").Inputs
		if fmt.Sprint(cl["settings"]) != fmt.Sprint([]any{map[string]any{"name": "containerInsights", "value": "enhanced"}}) {
			t.Errorf("cluster settings %v", cl["settings"])
		}
		td := r.one(t, "aws:ecs/taskDefinition:TaskDefinition").Inputs
		if td["cpu"] != "512" || td["memory"] != "1024" || at(td, "runtimePlatform", "cpuArchitecture") != "ARM64" || td["networkMode"] != "awsvpc" {
			t.Errorf("task definition %v", td)
		}
		var defs []map[string]any
		if err := json.Unmarshal([]byte(td["containerDefinitions"].(string)), &defs); err != nil {
			t.Fatal(err)
		}
		c := defs[0]
		checks := map[string]any{
			"readonlyRootFilesystem": true,
			"user":                   nonRootUser,
			"stopTimeout":            float64(contract.StopTimeoutSeconds),
			"ulimits":                []any{map[string]any{"name": "nofile", "softLimit": 65536.0, "hardLimit": 65536.0}},
			"portMappings":           []any{map[string]any{"containerPort": 8080.0, "hostPort": 8080.0, "protocol": "tcp"}},
		}
		for k, want := range checks {
			if fmt.Sprint(c[k]) != fmt.Sprint(want) {
				t.Errorf("container %s = %v, want %v", k, c[k], want)
			}
		}
		if fmt.Sprint(at(c, "healthCheck", "command")) != fmt.Sprint([]any{"CMD", "/wsserver", "-healthcheck"}) {
			t.Errorf("health check %v", c["healthCheck"])
		}
		if at(c, "logConfiguration", "logDriver") != "awslogs" || at(c, "logConfiguration", "options", "awslogs-group") != "/ecs/websocket-service-dev" || at(c, "logConfiguration", "options", "awslogs-region") != stacktest.Region {
			t.Errorf("log configuration %v", c["logConfiguration"])
		}
		svc := r.one(t, "aws:ecs/service:Service").Inputs
		if at(svc, "deploymentCircuitBreaker", "enable") != true || at(svc, "deploymentCircuitBreaker", "rollback") != true {
			t.Errorf("circuit breaker %v", svc["deploymentCircuitBreaker"])
		}
		if svc["launchType"] != "FARGATE" || svc["name"] != "websocket-service-dev" || at(svc, "loadBalancers", 0, "containerPort") != 8080.0 {
			t.Errorf("service %v", svc)
		}
		in := r.named(t, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "websocket-tasks-from-alb").Rule.Inputs
		if in["referencedSecurityGroupId"] != "websocket-alb-id" || in["fromPort"] != 8080.0 || in["toPort"] != 8080.0 {
			t.Errorf("task ingress %v, want 8080 from the ALB security group", in)
		}
		for _, g := range r.ofType("aws:cloudwatch/logGroup:LogGroup") {
			if g.Rule.Inputs["retentionInDays"] != float64(cfg.LogRetentionDays) {
				t.Errorf("log group %s retention %v", g.Args.Name, g.Rule.Inputs["retentionInDays"])
			}
		}
		exec := r.named(t, "aws:iam/rolePolicy:RolePolicy", "websocket-execution").Rule.Inputs["policy"].(string)
		for _, forbidden := range []string{`"*:*"`, `"s3:`, `"iam:`} {
			if strings.Contains(exec, forbidden) {
				t.Errorf("execution policy grants %s: %s", forbidden, exec)
			}
		}
	})

	t.Run("image", func(t *testing.T) {
		repo := r.one(t, "aws:ecr/repository:Repository").Inputs
		if at(repo, "imageScanningConfiguration", "scanOnPush") != true {
			t.Errorf("repository %v", repo)
		}
		var lp ecrLifecyclePolicy
		if err := json.Unmarshal([]byte(r.one(t, "aws:ecr/lifecyclePolicy:LifecyclePolicy").Inputs["policy"].(string)), &lp); err != nil {
			t.Fatal(err)
		}
		if len(lp.Rules) != 1 || lp.Rules[0].Selection.CountNumber != cfg.EcrKeepImages || lp.Rules[0].Action.Type != "expire" {
			t.Errorf("lifecycle policy %+v", lp)
		}
		img := r.one(t, "docker:index/image:Image").Inputs
		build := img["build"]
		if at(build, "platform") != "linux/arm64" || at(build, "context") != "." || at(build, "dockerfile") != "Dockerfile" {
			t.Errorf("image build %v", build)
		}
		if at(img, "registry", "username") != "AWS" || !strings.HasPrefix(at(img, "registry", "server").(string), "https://"+stacktest.Account) {
			t.Errorf("registry %v", img["registry"])
		}
		if !strings.HasPrefix(img["imageName"].(string), stacktest.RepositoryURL+":") {
			t.Errorf("image name %v", img["imageName"])
		}
	})

	t.Run("buckets", func(t *testing.T) {
		for _, p := range r.ofType("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock") {
			for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
				if p.Rule.Inputs[k] != true {
					t.Errorf("%s: %s = %v", p.Args.Name, k, p.Rule.Inputs[k])
				}
			}
		}
		for _, e := range r.ofType("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2") {
			if at(e.Rule.Inputs, "rules", 0, "applyServerSideEncryptionByDefault", "sseAlgorithm") != "AES256" {
				t.Errorf("%s: %v", e.Args.Name, e.Rule.Inputs)
			}
		}
		for _, l := range r.ofType("aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2") {
			if at(l.Rule.Inputs, "rules", 0, "expiration", "days") != float64(cfg.LogBucketExpirationDays) {
				t.Errorf("%s: %v", l.Args.Name, l.Rule.Inputs)
			}
		}
		own := r.named(t, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "websocket-edge-logs").Rule.Inputs
		if at(own, "rule", "objectOwnership") != "BucketOwnerPreferred" {
			t.Errorf("edge bucket ownership %v: CloudFront logging needs ACLs", own)
		}
		var doc policyDocument
		pol := r.named(t, "aws:s3/bucketPolicy:BucketPolicy", "websocket-alb-logs").Rule.Inputs["policy"].(string)
		if err := json.Unmarshal([]byte(pol), &doc); err != nil {
			t.Fatal(err)
		}
		var principals []string
		for _, s := range doc.Statement {
			if s.Effect == "Allow" && s.Principal != nil {
				principals = append(principals, s.Principal.AWS...)
				principals = append(principals, s.Principal.Service...)
				if !slices.Equal(s.Resource, []string{"arn:aws:s3:::" + stacktest.ALBBucketName + "/alb/AWSLogs/" + stacktest.Account + "/*"}) {
					t.Errorf("ALB log delivery may write %v", s.Resource)
				}
			}
		}
		if !slices.Equal(principals, []string{stacktest.ELBAccountARN, "logdelivery.elasticloadbalancing.amazonaws.com"}) {
			t.Errorf("ALB log bucket writers %v", principals)
		}
	})

	t.Run("edge", func(t *testing.T) {
		d := r.one(t, "aws:cloudfront/distribution:Distribution").Inputs
		b := d["defaultCacheBehavior"]
		if at(b, "viewerProtocolPolicy") != "https-only" || at(b, "cachePolicyId") != stacktest.CachePolicyID || at(b, "originRequestPolicyId") != stacktest.OriginRequestPolicyID {
			t.Errorf("default behavior %v", b)
		}
		if len(at(b, "allowedMethods").([]any)) != 7 {
			t.Errorf("allowed methods %v, want all 7", at(b, "allowedMethods"))
		}
		if d["priceClass"] != "PriceClass_100" || d["enabled"] != true {
			t.Errorf("distribution %v", d)
		}
		o := at(d, "origins", 0)
		if at(o, "domainName") != stacktest.ALBDNS || at(o, "customOriginConfig", "originProtocolPolicy") != "http-only" || at(o, "customOriginConfig", "httpPort") != 80.0 {
			t.Errorf("origin %v", o)
		}
		if fmt.Sprint(at(o, "customHeaders")) != fmt.Sprint([]any{map[string]any{"name": "X-Origin-Verify", "value": stacktest.Secret}}) {
			t.Errorf("origin headers %v", at(o, "customHeaders"))
		}
		if at(d, "loggingConfig", "bucket") != stacktest.EdgeBucketName+".s3.amazonaws.com" {
			t.Errorf("logging %v", d["loggingConfig"])
		}
	})

	t.Run("flow log", func(t *testing.T) {
		fl := r.one(t, "aws:ec2/flowLog:FlowLog").Inputs
		if fl["vpcId"] != stacktest.VpcID || fl["trafficType"] != "ALL" || fl["logDestinationType"] != "cloud-watch-logs" {
			t.Errorf("flow log %v", fl)
		}
	})
}

// TestRuleSetSeesViolations guards the rule-set wiring itself: the same
// collected resources with a weakened input must produce findings, so a
// clean Check above is not an artefact of the conversion.
func TestRuleSetSeesViolations(t *testing.T) {
	r, _ := runMode(t, modes[0])
	cases := []struct {
		typ, key string
		value    any
		rule     string
	}{
		{"aws:lb/loadBalancer:LoadBalancer", "dropInvalidHeaderFields", false, "WS-ALB1"},
		{"aws:ecr/repository:Repository", "imageScanningConfiguration", nil, "WS-ECR1"},
		{"aws:ecs/cluster:Cluster", "settings", nil, "AwsSolutions-ECS4"},
		{"aws:ec2/flowLog:FlowLog", "vpcId", "vpc-other", "AwsSolutions-VPC7"},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			res := r.rulesResources()
			for i := range res {
				if res[i].Type == tc.typ {
					in := maps.Clone(res[i].Inputs)
					in[tc.key] = tc.value
					res[i].Inputs = in
					delete(res[i].Refs, tc.key)
				}
			}
			found := false
			for _, f := range rules.Check(res) {
				found = found || f.Rule == tc.rule
			}
			if !found {
				t.Errorf("weakening %s.%s produced no %s finding", tc.typ, tc.key, tc.rule)
			}
		})
	}
}

// TestTaskAgreesWithDockerfile checks that the task definition and the image
// the root Dockerfile builds agree: architecture, health check, user, port.
func TestTaskAgreesWithDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var final, health, user, expose string
	for _, line := range strings.Split(string(raw), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			final = line
		case "HEALTHCHECK":
			health = line
		case "USER":
			user = strings.Join(fields[1:], " ")
		case "EXPOSE":
			expose = strings.Join(fields[1:], " ")
		}
	}
	if !strings.Contains(final, "--platform="+imagePlatform) {
		t.Errorf("final stage %q is not built for %s, the task's runtime platform", final, imagePlatform)
	}
	cmd, err := json.Marshal(healthCheckCommand()[1:])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ReplaceAll(health, " ", ""), "CMD"+string(cmd)) {
		t.Errorf("Dockerfile HEALTHCHECK %q differs from the task's %v", health, healthCheckCommand())
	}
	// distroless's nonroot user is uid/gid 65532.
	if user != "nonroot:nonroot" && user != nonRootUser {
		t.Errorf("Dockerfile USER %q, the task runs as %s", user, nonRootUser)
	}
	if expose != fmt.Sprint(contract.Port) {
		t.Errorf("Dockerfile EXPOSE %q, the task maps %d", expose, contract.Port)
	}
}

// checkFanout checks the fan-out across tasks: a private Valkey cache that
// only the tasks reach and only the server's user may use, its password
// reaching the container through ECS secrets, and a container environment
// the server accepts.
func checkFanout(t *testing.T, r *run, cfg Config) {
	t.Helper()
	caches := r.ofType("aws:elasticache/serverlessCache:ServerlessCache")
	c := container(t, r)
	env := map[string]string{}
	for _, kv := range c.Environment {
		env[kv.Name] = kv.Value
	}
	if _, ok := env[contract.EnvRedisPassword]; ok {
		t.Errorf("%s is a plain environment variable", contract.EnvRedisPassword)
	}
	execPolicy := policyStatements(t, r, "websocket-execution")
	var secretStatements []statement
	for _, st := range execPolicy {
		if slices.ContainsFunc(st.Action, func(a string) bool { return strings.HasPrefix(a, "secretsmanager:") }) {
			secretStatements = append(secretStatements, st)
		}
	}
	// What ECS would hand the server: the environment plus the secrets.
	serverEnv := maps.Clone(env)
	serverEnv[contract.EnvPusherAppSecret] = stacktest.PusherSecret
	// The Pusher app secret is always there (checkPusher); the broker's
	// password comes after it.
	pusherARN := stacktest.SecretARN("websocket-pusher-secret")
	brokerSecrets := slices.DeleteFunc(slices.Clone(c.Secrets), func(s secretRef) bool { return s.Name == contract.EnvPusherAppSecret })

	if cfg.FanoutMode() == FanoutMemory {
		if len(caches) != 0 || env[contract.EnvBroker] != FanoutMemory || env[contract.EnvRedisURL] != "" || env[contract.EnvRedisUsername] != "" {
			t.Errorf("memory fan-out: %d caches, env %v", len(caches), env)
		}
		if len(brokerSecrets) != 0 || len(r.ofType("aws:secretsmanager/secret:Secret")) != 1 {
			t.Errorf("memory fan-out: container secrets %v besides the Pusher secret", brokerSecrets)
		}
		if len(secretStatements) != 1 || !slices.Equal(secretStatements[0].Resource, []string{pusherARN}) {
			t.Errorf("memory fan-out: execution role secret access %+v, want the Pusher secret only", secretStatements)
		}
	} else {
		if len(caches) != 1 {
			t.Fatalf("%d serverless caches, want 1", len(caches))
		}
		cache := caches[0].Rule.Inputs
		if cache["engine"] != "valkey" || fmt.Sprint(cache["subnetIds"]) != fmt.Sprint(stacktest.PrivateSubnets()) {
			t.Errorf("cache %v: want valkey in the private subnets", cache)
		}
		if env[contract.EnvBroker] != FanoutRedis || env[contract.EnvRedisURL] != "rediss://"+stacktest.BrokerAddress+":6379" || env[contract.EnvRedisUsername] != brokerUser {
			t.Errorf("broker env %v", env)
		}
		in := r.named(t, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "websocket-broker-from-tasks").Rule.Inputs
		if in["referencedSecurityGroupId"] != "websocket-tasks-id" || in["fromPort"] != 6379.0 || in["toPort"] != 6380.0 {
			t.Errorf("broker ingress %v, want 6379-6380 from the task security group", in)
		}

		// RBAC: the cache uses a group of the server's user and a
		// disabled default user.
		group := r.one(t, "aws:elasticache/userGroup:UserGroup").Inputs
		if cache["userGroupId"] == nil || cache["userGroupId"] != group["userGroupId"] || group["engine"] != "valkey" {
			t.Errorf("cache user group %v, group %v", cache["userGroupId"], group)
		}
		users := map[string]map[string]any{}
		for _, u := range r.ofType("aws:elasticache/user:User") {
			users[u.Rule.Inputs["userName"].(string)] = u.Rule.Inputs
		}
		server, def := users[brokerUser], users["default"]
		if len(users) != 2 || server == nil || def == nil {
			t.Fatalf("cache users %v, want %s and default", slices.Sorted(maps.Keys(users)), brokerUser)
		}
		if fmt.Sprint(group["userIds"]) != fmt.Sprint([]any{def["userId"], server["userId"]}) {
			t.Errorf("user group members %v, want the default and server users", group["userIds"])
		}
		if !strings.HasPrefix(def["accessString"].(string), "off ") || !strings.HasPrefix(server["accessString"].(string), "on ") {
			t.Errorf("access strings: default %q, server %q", def["accessString"], server["accessString"])
		}
		for _, u := range []map[string]any{server, def} {
			if u["engine"] != "valkey" || u["noPasswordRequired"] == true {
				t.Errorf("user %v", u)
			}
		}

		// The password travels as an ECS secret from exactly this secret,
		// which the execution role, and only it, may read.
		arn := stacktest.SecretARN("websocket-broker-password")
		if want := []secretRef{{Name: contract.EnvRedisPassword, ValueFrom: arn}}; !slices.Equal(brokerSecrets, want) {
			t.Errorf("container secrets %v, want %v besides the Pusher secret", c.Secrets, want)
		}
		if len(secretStatements) != 1 || !slices.Equal(secretStatements[0].Action, []string{"secretsmanager:GetSecretValue"}) || !slices.Equal(secretStatements[0].Resource, []string{pusherARN, arn}) {
			t.Errorf("execution role secret access %+v, want GetSecretValue on %s and %s only", secretStatements, pusherARN, arn)
		}
		for _, p := range r.ofType("aws:iam/rolePolicy:RolePolicy") {
			if p.Args.Name != "websocket-execution" && strings.Contains(p.Rule.Inputs["policy"].(string), "secretsmanager") {
				t.Errorf("%s grants Secrets Manager access", p.Args.Name)
			}
		}
		version := r.named(t, "aws:secretsmanager/secretVersion:SecretVersion", "websocket-broker-password").Rule
		if version.Inputs["secretId"] != arn {
			t.Errorf("secret version of %v, want %s", version.Inputs["secretId"], arn)
		}
		// Tasks read the secret at start: the service waits for its value.
		svc := r.ofType("aws:ecs/service:Service")[0]
		if !slices.ContainsFunc(svc.Args.RegisterRPC.GetDependencies(), func(u string) bool {
			return strings.HasSuffix(u, "aws:secretsmanager/secretVersion:SecretVersion::websocket-broker-password")
		}) {
			t.Errorf("the service does not wait for the password's value: depends on %v", svc.Args.RegisterRPC.GetDependencies())
		}
		serverEnv[contract.EnvRedisPassword] = stacktest.BrokerPassword
	}
	// The server reads the very environment the stack writes.
	sc, err := serverconfig.Load(func(k string) (string, bool) { v, ok := serverEnv[k]; return v, ok }, nil, io.Discard)
	if err != nil {
		t.Fatalf("the server rejects the task environment %v: %v", env, err)
	}
	if cfg.FanoutMode() == FanoutRedis {
		if ok, err := path.Match(brokerKeyPattern, sc.RedisStream); !ok || err != nil {
			t.Errorf("the server's stream key %q lies outside the user's key pattern %q", sc.RedisStream, brokerKeyPattern)
		}
	}
	// The server reads the Pusher app and its options as the stack meant.
	if sc.PusherAppID != fmt.Sprint(stacktest.PusherAppID) || sc.PusherAppKey != stacktest.PusherKey || sc.PusherAppSecret != stacktest.PusherSecret {
		t.Errorf("the server's Pusher app is %q/%q, want %d/%s and the secret", sc.PusherAppID, sc.PusherAppKey, stacktest.PusherAppID, stacktest.PusherKey)
	}
	if sc.PusherClientEvents != cfg.PusherClientEvents || sc.WSSEnabled != cfg.WSSEnabled || !sc.BehindCloudFront {
		t.Errorf("server settings: client events %v (want %v), wss %v (want %v), behind CloudFront %v (want true)",
			sc.PusherClientEvents, cfg.PusherClientEvents, sc.WSSEnabled, cfg.WSSEnabled, sc.BehindCloudFront)
	}
	// Every variable the stack sets is one the server reads (GOMEMLIMIT is
	// Go's runtime's), so a renamed server key cannot go unnoticed.
	known := map[string]bool{"GOMEMLIMIT": true}
	for _, k := range serverconfig.Keys() {
		known[k.Name] = true
	}
	for name := range serverEnv {
		if !known[name] {
			t.Errorf("the task sets %s, which the server does not read", name)
		}
	}
}

// policyStatements parses the inline policy of a role by its logical name.
func policyStatements(t *testing.T, r *run, name string) []statement {
	t.Helper()
	var doc policyDocument
	if err := json.Unmarshal([]byte(r.named(t, "aws:iam/rolePolicy:RolePolicy", name).Rule.Inputs["policy"].(string)), &doc); err != nil {
		t.Fatalf("policy %s: %v", name, err)
	}
	return doc.Statement
}

// container returns the task definition's only container.
func container(t *testing.T, r *run) containerDefinition {
	t.Helper()
	var defs []containerDefinition
	if err := json.Unmarshal([]byte(r.one(t, "aws:ecs/taskDefinition:TaskDefinition").Inputs["containerDefinitions"].(string)), &defs); err != nil || len(defs) != 1 {
		t.Fatalf("container definitions: %v (%d)", err, len(defs))
	}
	return defs[0]
}

func TestElasticacheID(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z]([a-z0-9]|-[a-z0-9])*$`)
	cases := []struct{ base, suffix, want string }{
		{"websocket-service-dev", "server", "websocket-service-dev-server"},
		{"websocket-service-Prod_EU.1", "default", "websocket-service-prod-eu-1-default"},
		{"ws--a", "broker", "ws-a-broker"},
		{"9lives", "server", "ws-9lives-server"},
		{strings.Repeat("a", 31) + "-" + strings.Repeat("b", 20), "default", strings.Repeat("a", 31) + "-default"},
	}
	for _, tc := range cases {
		got := elasticacheID(tc.base, tc.suffix)
		if got != tc.want {
			t.Errorf("elasticacheID(%q, %q) = %q, want %q", tc.base, tc.suffix, got, tc.want)
		}
		if len(got) > elasticacheIDMax || !valid.MatchString(got) {
			t.Errorf("elasticacheID(%q, %q) = %q is not a valid ID", tc.base, tc.suffix, got)
		}
	}
}
