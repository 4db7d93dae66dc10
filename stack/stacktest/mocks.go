// Package stacktest provides Pulumi mocks that answer the stack's resource
// registrations and provider function calls the way AWS would, for tests of
// package stack and of the program in the repository root.
package stacktest

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/wsfargate/websocket-service/policy/rules"
)

// Values the mocks answer with. Tests compare the program's inputs with them.
const (
	// Account and Region are the caller identity and region lookups.
	Account = "123456789012"
	Region  = "us-east-1"
	// Secret, BrokerPassword, BrokerDefaultPassword and PusherSecret are
	// RandomPassword results: the broker's server user password for a
	// password whose logical name contains "broker-password", the disabled
	// default user's for one containing "broker-default", the Pusher app
	// secret for one containing "pusher-secret", the origin header value
	// for any other. The mocks return them unmarked, so only the program
	// can make them Pulumi secrets.
	Secret                = "MockOriginSecret0123456789abcdefXYZ"
	BrokerPassword        = "MockBrokerPassword0123456789abcdXYZ"
	BrokerDefaultPassword = "MockBrokerDefaultPassword012345XYZ"
	PusherSecret          = "MockPusherSecret0123456789abcdefXYZ"
	// PusherAppID is the RandomInteger result and PusherKey the RandomId's
	// hex (what the Pusher app id and key are made of).
	PusherAppID = 1234567
	PusherKey   = "0a1b2c3d4e5f60718293"
	// PrefixListID answers the CloudFront origin-facing prefix list lookup.
	PrefixListID = "pl-3b927c52"
	// CachePolicyID and OriginRequestPolicyID answer the managed policy
	// lookups (Managed-CachingDisabled,
	// Managed-AllViewerAndCloudFrontHeaders-2022-06), with AWS's IDs.
	CachePolicyID         = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
	OriginRequestPolicyID = "33f36d7e-f396-46d9-90e0-52428a34d9dc"
	// VpcID is the awsx VPC component's vpcId output.
	VpcID = "vpc-0mock"
	// DistributionID and DistributionDomain are the distribution's outputs.
	DistributionID     = "E2MOCKDISTRIBUTION"
	DistributionDomain = "d111111abcdef8.cloudfront.net"
	// Digest is the pushed image's repoDigest.
	Digest = "123456789012.dkr.ecr.us-east-1.amazonaws.com/server@sha256:0123456789abcdef"
	// RepositoryURL is the ECR repository URL.
	RepositoryURL = "123456789012.dkr.ecr.us-east-1.amazonaws.com/server"
	// RegistryPassword is the ECR authorization token's password.
	RegistryPassword = "MockRegistryPassword"
	// ALBDNS, ALBArnSuffix and TargetGroupArnSuffix are load balancer outputs.
	ALBDNS               = "websocket-alb-123.us-east-1.elb.amazonaws.com"
	ALBArnSuffix         = "app/websocket-alb/50dc6c495c0c9188"
	TargetGroupArnSuffix = "targetgroup/websocket-tasks/6d0ecf831eec9f09"
	// ELBAccountARN is the regional ELB account of us-east-1.
	ELBAccountARN = "arn:aws:iam::127311923021:root"
	// BrokerAddress is the serverless cache's endpoint address.
	BrokerAddress = "websocket-broker-abc123.serverless.use1.cache.amazonaws.com"
	// EdgeBucketName and ALBBucketName are the log buckets' names (a bucket
	// whose logical name contains "edge" is the edge bucket).
	EdgeBucketName = "websocket-edge-logs-1234"
	ALBBucketName  = "websocket-alb-logs-1234"
)

// OriginRequestPolicyHeaders are the CloudFront headers the managed
// origin request policy adds to all viewer headers (AWS's documentation of
// AllViewerAndCloudFrontHeaders-2022-06).
func OriginRequestPolicyHeaders() []string {
	return []string{
		"CloudFront-Forwarded-Proto", "CloudFront-Is-Android-Viewer", "CloudFront-Is-Desktop-Viewer",
		"CloudFront-Is-IOS-Viewer", "CloudFront-Is-Mobile-Viewer", "CloudFront-Is-SmartTV-Viewer",
		"CloudFront-Is-Tablet-Viewer", "CloudFront-Viewer-Address", "CloudFront-Viewer-ASN",
		"CloudFront-Viewer-City", "CloudFront-Viewer-Country", "CloudFront-Viewer-Country-Name",
		"CloudFront-Viewer-Country-Region", "CloudFront-Viewer-Country-Region-Name",
		"CloudFront-Viewer-Http-Version", "CloudFront-Viewer-Latitude", "CloudFront-Viewer-Longitude",
		"CloudFront-Viewer-Metro-Code", "CloudFront-Viewer-Postal-Code", "CloudFront-Viewer-Time-Zone",
		"CloudFront-Viewer-TLS",
	}
}

// WebACLARN is the ARN the mocks give a WAFv2 web ACL named name (a
// CLOUDFRONT one: global, in us-east-1).
func WebACLARN(name string) string {
	return "arn:aws:wafv2:us-east-1:" + Account + ":global/webacl/" + name + "/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
}

// SecretARN is the ARN the mocks give a Secrets Manager secret with the
// logical name name (AWS appends six random characters to the name).
func SecretARN(name string) string {
	return "arn:aws:secretsmanager:" + Region + ":" + Account + ":secret:" + name + "-AbCdEf"
}

// PrivateSubnets returns the awsx VPC's privateSubnetIds output.
func PrivateSubnets() []string { return []string{"subnet-private-a", "subnet-private-b"} }

// PublicSubnets returns the awsx VPC's publicSubnetIds output.
func PublicSubnets() []string { return []string{"subnet-public-a", "subnet-public-b"} }

// Registered is one resource the program declared.
type Registered struct {
	// Args is the registration as the mock monitor received it (inputs
	// with secrets kept).
	Args pulumi.MockResourceArgs
	// Rule is the registration as the policy rule set sees it.
	Rule rules.Resource
}

// Mocks implements pulumi.MockResourceMonitor and records every
// registration and provider function call. It is safe for concurrent use,
// as the Pulumi SDK requires. The zero value is ready to use.
type Mocks struct {
	// CurrentRegion is the region getRegion answers, as the provider's
	// aws:region would set it; empty means Region. Resource ARNs always
	// use Region.
	CurrentRegion string

	mu        sync.Mutex
	resources []Registered
	calls     []string
}

// Resources returns the registrations so far, in order.
func (m *Mocks) Resources() []Registered {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.resources)
}

// Calls returns the provider function tokens called so far, in order.
func (m *Mocks) Calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

func strs(v ...string) resource.PropertyValue {
	out := make([]resource.PropertyValue, len(v))
	for i, s := range v {
		out[i] = resource.NewProperty(s)
	}
	return resource.NewProperty(out)
}

// NewResource answers a registration with its inputs plus the outputs the
// program reads, and records it.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	id := args.Name + "-id"
	outs := args.Inputs.Copy()
	set := func(k string, v any) {
		switch x := v.(type) {
		case resource.PropertyValue:
			outs[resource.PropertyKey(k)] = x
		case string:
			outs[resource.PropertyKey(k)] = resource.NewProperty(x)
		}
	}
	arn := "arn:aws:mock:" + Region + ":" + Account + ":" + args.Name
	switch args.TypeToken {
	case "awsx:ec2:Vpc":
		// A remote component: its children are not registered under mocks,
		// so its outputs come from here.
		set("vpcId", VpcID)
		set("privateSubnetIds", strs(PrivateSubnets()...))
		set("publicSubnetIds", strs(PublicSubnets()...))
	case "random:index/randomPassword:RandomPassword":
		// Deliberately not marked secret here: the program must do it.
		switch {
		case strings.Contains(args.Name, "broker-password"):
			set("result", BrokerPassword)
		case strings.Contains(args.Name, "broker-default"):
			set("result", BrokerDefaultPassword)
		case strings.Contains(args.Name, "pusher-secret"):
			set("result", PusherSecret)
		default:
			set("result", Secret)
		}
	case "random:index/randomInteger:RandomInteger":
		outs["result"] = resource.NewProperty(float64(PusherAppID))
	case "random:index/randomId:RandomId":
		set("hex", PusherKey)
	case "aws:wafv2/webAcl:WebAcl":
		id = "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
		name := args.Name
		if n, ok := outs["name"]; ok && n.IsString() {
			name = n.StringValue()
		}
		set("arn", WebACLARN(name))
	case "aws:sns/topic:Topic":
		set("arn", "arn:aws:sns:"+Region+":"+Account+":"+args.Name)
	case "aws:kms/key:Key":
		set("arn", "arn:aws:kms:"+Region+":"+Account+":key/"+args.Name)
	case "aws:secretsmanager/secret:Secret":
		id = SecretARN(args.Name)
		set("arn", id)
	case "aws:lb/loadBalancer:LoadBalancer":
		set("arn", arn)
		set("arnSuffix", ALBArnSuffix)
		set("dnsName", ALBDNS)
	case "aws:lb/targetGroup:TargetGroup":
		set("arn", arn)
		set("arnSuffix", TargetGroupArnSuffix)
	case "aws:lb/listener:Listener", "aws:ecs/cluster:Cluster", "aws:ecs/taskDefinition:TaskDefinition":
		set("arn", arn)
	case "aws:cloudfront/distribution:Distribution":
		id = DistributionID
		set("domainName", DistributionDomain)
	case "aws:s3/bucketV2:BucketV2":
		name := ALBBucketName
		if strings.Contains(args.Name, "edge") {
			name = EdgeBucketName
		}
		id = name
		set("bucket", name)
		set("arn", "arn:aws:s3:::"+name)
		set("bucketDomainName", name+".s3.amazonaws.com")
	case "aws:ecr/repository:Repository":
		set("arn", arn)
		set("name", "server")
		set("registryId", Account)
		set("repositoryUrl", RepositoryURL)
	case "aws:elasticache/serverlessCache:ServerlessCache":
		set("endpoints", resource.NewProperty([]resource.PropertyValue{resource.NewProperty(resource.PropertyMap{
			"address": resource.NewProperty(BrokerAddress),
			"port":    resource.NewProperty(6379.0),
		})}))
	case "docker:index/image:Image":
		set("repoDigest", Digest)
	case "aws:iam/role:Role":
		set("arn", "arn:aws:iam::"+Account+":role/"+args.Name)
		set("name", args.Name)
	case "aws:cloudwatch/logGroup:LogGroup":
		set("arn", "arn:aws:logs:"+Region+":"+Account+":log-group:"+outs["name"].StringValue())
	case "aws:appautoscaling/target:Target":
		// Inputs are echoed: resourceId and the dimension carry over.
	}
	r := rules.FromMock(args)
	r.ID = id
	m.mu.Lock()
	m.resources = append(m.resources, Registered{Args: args, Rule: r})
	m.mu.Unlock()
	return id, outs, nil
}

// Call answers the provider functions the program uses; any other fails,
// so a new lookup cannot go unnoticed.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.calls = append(m.calls, args.Token)
	m.mu.Unlock()
	name := ""
	if v, ok := args.Args["name"]; ok && v.IsString() {
		name = v.StringValue()
	}
	switch args.Token {
	case "aws:index/getCallerIdentity:getCallerIdentity":
		return resource.NewPropertyMapFromMap(map[string]any{
			"accountId": Account, "arn": "arn:aws:iam::" + Account + ":user/ci", "id": Account, "userId": "AIDAMOCK",
		}), nil
	case "aws:index/getRegion:getRegion":
		region := Region
		if m.CurrentRegion != "" {
			region = m.CurrentRegion
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"name": region, "id": region, "description": region, "endpoint": "ec2." + region + ".amazonaws.com",
		}), nil
	case "aws:elb/getServiceAccount:getServiceAccount":
		return resource.NewPropertyMapFromMap(map[string]any{"arn": ELBAccountARN, "id": "127311923021"}), nil
	case "aws:ec2/getManagedPrefixList:getManagedPrefixList":
		if name != "com.amazonaws.global.cloudfront.origin-facing" {
			return nil, fmt.Errorf("no managed prefix list named %q", name)
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": PrefixListID, "name": name, "addressFamily": "IPv4", "arn": "arn:aws:ec2:us-east-1:aws:prefix-list/" + PrefixListID, "maxEntries": 55, "ownerId": "AWS", "version": 1,
		}), nil
	case "aws:cloudfront/getCachePolicy:getCachePolicy":
		if name != "Managed-CachingDisabled" {
			return nil, fmt.Errorf("no cache policy named %q", name)
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": CachePolicyID, "name": name}), nil
	case "aws:cloudfront/getOriginRequestPolicy:getOriginRequestPolicy":
		if name != "Managed-AllViewerAndCloudFrontHeaders-2022-06" {
			return nil, fmt.Errorf("no origin request policy named %q", name)
		}
		headers := []any{}
		for _, h := range OriginRequestPolicyHeaders() {
			headers = append(headers, h)
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": OriginRequestPolicyID, "name": name,
			"headersConfigs":      []any{map[string]any{"headerBehavior": "allViewerAndWhitelistCloudFront", "headers": []any{map[string]any{"items": headers}}}},
			"cookiesConfigs":      []any{map[string]any{"cookieBehavior": "all", "cookies": []any{}}},
			"queryStringsConfigs": []any{map[string]any{"queryStringBehavior": "all", "queryStrings": []any{}}},
		}), nil
	case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
		return resource.NewPropertyMapFromMap(map[string]any{
			"authorizationToken": "QVdTOk1vY2s=", "expiresAt": "2030-01-01T00:00:00Z", "id": Account,
			"password": RegistryPassword, "proxyEndpoint": "https://" + Account + ".dkr.ecr.us-east-1.amazonaws.com", "userName": "AWS",
		}), nil
	}
	return nil, fmt.Errorf("unexpected provider function %s", args.Token)
}
