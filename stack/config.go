package stack

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumiconfig "github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/wsfargate/websocket-service/server/contract"
)

// Config is the stack's configuration, read once by [LoadConfig] or
// [ParseConfig] and validated before any resource is declared. Each field
// is one key of [Keys] (same name, lower camel case; the cooldowns carry a
// Seconds suffix in their keys), where its meaning and default are.
type Config struct {
	Name                   string
	AvailabilityZones      int
	VpcCidr                string
	NatGateways            string
	PublicTasks            bool
	CPU                    int
	Memory                 int
	MinTasks               int
	MaxTasks               int
	Scaling                string
	ConnectionsPerTask     int
	RequestsPerTarget      int
	ScaleOutCooldown       int
	ScaleInCooldown        int
	PingIntervalSeconds    int
	IdleTimeoutSeconds     int
	DrainDelaySeconds      int
	DrainSpreadSeconds     int
	ShutdownTimeoutSeconds int
	NofileLimit            int
	AllowedOrigins         string
	PusherClientEvents     bool
	WSSEnabled             bool
	ExecuteCommand         bool
	// Fanout is as configured; empty means derived, see [Config.FanoutMode].
	Fanout                  string
	BrokerMaxStorageGB      int
	ContainerInsights       string
	LogRetentionDays        int
	LogBucketExpirationDays int
	EcrKeepImages           int
	ForceDestroy            bool
	HeaderName              string
	HeaderSecretLength      int
	PriceClass              string
	DomainName              string
	CertificateArn          string
	WAF                     bool
	WAFRateLimit            int
	AlarmEmail              string
	Alarm5xxPercent         int
	AlarmEvictions          int
}

// Scaling modes.
const (
	// ScalingConnections tracks the server's live connection count per task.
	ScalingConnections = "connections"
	// ScalingRequests is the seed's ALBRequestCountPerTarget policy.
	ScalingRequests = "requests"
)

// Config key types, as Pulumi.yaml's config schema names them.
const (
	TypeString  = "string"
	TypeInteger = "integer"
	TypeBoolean = "boolean"
)

// deregistrationMarginSeconds is added to the server's drain window so the
// target group never cuts a connection the server is still closing politely.
const deregistrationMarginSeconds = 10

// idleTimeoutPerPing derives the load balancer's idle timeout from the ping
// interval: three pings fit in one idle period, so one lost ping never lets
// the balancer drop a healthy idle connection.
const idleTimeoutPerPing = 3

// ConfigError reports a configuration value the stack cannot use. Key is the
// configuration key as written in Pulumi.<stack>.yaml.
type ConfigError struct {
	// Key is the configuration key to change.
	Key string
	// Value is the rejected value as configured.
	Value string
	// Reason says what the key accepts.
	Reason string
}

// Error names the key, the value and what the key accepts.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("config %s=%q: %s", e.Key, e.Value, e.Reason)
}

// Key describes one configuration key: the single source for reading it, for
// Pulumi.yaml's config block and for the table in docs/deploy.md.
type Key struct {
	// Name is the key without the project namespace, e.g. "cpu".
	Name string
	// Type is TypeString, TypeInteger or TypeBoolean.
	Type string
	// Default is the value used when the stack does not set the key.
	Default string
	// Description says what the key does, for Pulumi.yaml and the docs.
	Description string
	set         func(c *Config, v string) error
}

// Keys returns every configuration key, in the order of the request path
// (network, edge, load balancer, service, scaling) after the naming key.
func Keys() []Key {
	return []Key{
		{"name", TypeString, "websocket-service", "Prefix of named resources; the ECS cluster and service are named <name>-<stack>.", str(func(c *Config) *string { return &c.Name })},
		{"availabilityZones", TypeInteger, "2", "Availability zones the VPC spans (the ALB needs at least 2).", integer(func(c *Config) *int { return &c.AvailabilityZones })},
		{"vpcCidr", TypeString, "10.0.0.0/16", "IPv4 CIDR block of the VPC.", str(func(c *Config) *string { return &c.VpcCidr })},
		{"natGateways", TypeString, "Single", "NAT gateway strategy for the private subnets: None, Single or OnePerAz.", str(func(c *Config) *string { return &c.NatGateways })},
		{"publicTasks", TypeBoolean, "false", "Run tasks in public subnets with public IPs, as the seed does (cheapest dev stack, with natGateways None); private subnets otherwise.", boolean(func(c *Config) *bool { return &c.PublicTasks })},
		{"priceClass", TypeString, "PriceClass_100", "CloudFront price class: PriceClass_100, PriceClass_200 or PriceClass_All.", str(func(c *Config) *string { return &c.PriceClass })},
		{"domainName", TypeString, "", "Optional custom domain for the distribution; needs certificateArn. Empty serves on *.cloudfront.net.", str(func(c *Config) *string { return &c.DomainName })},
		{"certificateArn", TypeString, "", "ACM certificate ARN in us-east-1 covering domainName; enables the TLSv1.2_2021 minimum.", str(func(c *Config) *string { return &c.CertificateArn })},
		{"waf", TypeBoolean, "false", "Attach an AWS WAF web ACL to the distribution: the AWS core and known-bad-inputs managed rule groups and a per-IP rate limit on WebSocket upgrades. About 8 USD a month plus 0.60 USD per million requests; see docs/deploy.md.", boolean(func(c *Config) *bool { return &c.WAF })},
		{"wafRateLimit", TypeInteger, "2000", "With waf: WebSocket upgrades (" + contract.WebSocketPath + " and " + contract.PusherSocketPrefix + "...) one IP address may start in 5 minutes; WAF answers further ones with 429 until the rate falls.", integer(func(c *Config) *int { return &c.WAFRateLimit })},
		{"headerName", TypeString, "X-Origin-Verify", "Name of the secret header CloudFront adds and the ALB listener rule requires.", str(func(c *Config) *string { return &c.HeaderName })},
		{"headerSecretLength", TypeInteger, "32", "Length of the generated alphanumeric header secret (at least 32).", integer(func(c *Config) *int { return &c.HeaderSecretLength })},
		{"pingIntervalSeconds", TypeInteger, strconv.Itoa(contract.DefaultPingIntervalSeconds), "Server keepalive ping interval; must be below half the ALB idle timeout.", integer(func(c *Config) *int { return &c.PingIntervalSeconds })},
		{"idleTimeoutSeconds", TypeInteger, "0", "ALB idle timeout; 0 derives it as 3 x pingIntervalSeconds.", integer(func(c *Config) *int { return &c.IdleTimeoutSeconds })},
		{"drainDelaySeconds", TypeInteger, strconv.Itoa(contract.DefaultDrainDelaySeconds), "After SIGTERM, how long the server reports unhealthy before closing clients.", integer(func(c *Config) *int { return &c.DrainDelaySeconds })},
		{"drainSpreadSeconds", TypeInteger, strconv.Itoa(contract.DefaultDrainSpreadSeconds), "Window over which the server closes clients with 1001; with drainDelaySeconds it sets the target group's deregistration delay.", integer(func(c *Config) *int { return &c.DrainSpreadSeconds })},
		{"shutdownTimeoutSeconds", TypeInteger, strconv.Itoa(contract.DefaultShutdownTimeoutSeconds), "Upper bound of the server's shutdown; above drain delay + spread, below the 120 s stopTimeout.", integer(func(c *Config) *int { return &c.ShutdownTimeoutSeconds })},
		{"cpu", TypeInteger, "1024", "Fargate task CPU units (1024 = 1 vCPU).", integer(func(c *Config) *int { return &c.CPU })},
		{"memory", TypeInteger, "2048", "Fargate task memory in MiB; must be a valid pair with cpu.", integer(func(c *Config) *int { return &c.Memory })},
		{"nofileLimit", TypeInteger, "65536", "Open file limit (soft and hard) of the container: one descriptor per WebSocket.", integer(func(c *Config) *int { return &c.NofileLimit })},
		{"allowedOrigins", TypeString, "", "Comma-separated host patterns of the browser origins allowed besides the service's own host, e.g. app.example.com,*.example.com (" + contract.EnvAllowedOrigins + "). A browser app served from another site than the distribution needs its site here; empty allows same-origin pages and non-browser clients only.", str(func(c *Config) *string { return &c.AllowedOrigins })},
		{"pusherClientEvents", TypeBoolean, "false", "Let Pusher clients send client- events on the private and presence channels they are subscribed to (" + envPusherClientEvents + ").", boolean(func(c *Config) *bool { return &c.PusherClientEvents })},
		{"wssEnabled", TypeBoolean, "true", "Serve the seed's open broadcast endpoint " + contract.WebSocketPath + " (" + contract.EnvWSSEnabled + "); false leaves only the Pusher endpoints " + contract.PusherSocketPrefix + "{key} and " + contract.PusherAPIPrefix + "{id}.", boolean(func(c *Config) *bool { return &c.WSSEnabled })},
		{"executeCommand", TypeBoolean, "false", "Enable ECS Exec (aws ecs execute-command) on the service.", boolean(func(c *Config) *bool { return &c.ExecuteCommand })},
		{"fanout", TypeString, "", "How broadcasts reach clients on other tasks: redis (an ElastiCache Serverless Valkey stream) or memory (one task only; needs maxTasks 1). Empty derives it: redis when maxTasks is above 1, memory otherwise.", str(func(c *Config) *string { return &c.Fanout })},
		{"brokerMaxStorageGb", TypeInteger, "1", "Data storage limit of the Valkey cache in GB; the stream itself stays near the server's history size.", integer(func(c *Config) *int { return &c.BrokerMaxStorageGB })},
		{"containerInsights", TypeString, "enhanced", "ECS Container Insights: enhanced, enabled or disabled.", str(func(c *Config) *string { return &c.ContainerInsights })},
		{"logRetentionDays", TypeInteger, "30", "Retention of the container, VPC flow log and ECS Exec log groups, in days.", integer(func(c *Config) *int { return &c.LogRetentionDays })},
		{"logBucketExpirationDays", TypeInteger, "90", "Days after which ALB and CloudFront access logs expire from their S3 buckets.", integer(func(c *Config) *int { return &c.LogBucketExpirationDays })},
		{"ecrKeepImages", TypeInteger, "10", "Images the ECR lifecycle rule keeps; older ones expire.", integer(func(c *Config) *int { return &c.EcrKeepImages })},
		{"forceDestroy", TypeBoolean, "false", "Let pulumi destroy delete the ECR repository and log buckets with their contents (for dev stacks).", boolean(func(c *Config) *bool { return &c.ForceDestroy })},
		{"minTasks", TypeInteger, "1", "Minimum (and initial) number of tasks.", integer(func(c *Config) *int { return &c.MinTasks })},
		{"maxTasks", TypeInteger, "5", "Maximum number of tasks.", integer(func(c *Config) *int { return &c.MaxTasks })},
		{"scaling", TypeString, ScalingConnections, "Scaling signal: connections (live WebSockets per task, from the server's EMF metric) or requests (the seed's ALBRequestCountPerTarget).", str(func(c *Config) *string { return &c.Scaling })},
		{"connectionsPerTask", TypeInteger, "20000", "Target average live connections per task when scaling is connections.", integer(func(c *Config) *int { return &c.ConnectionsPerTask })},
		{"requestsPerTarget", TypeInteger, "5", "Target ALBRequestCountPerTarget when scaling is requests (the seed's demo value).", integer(func(c *Config) *int { return &c.RequestsPerTarget })},
		{"scaleOutCooldownSeconds", TypeInteger, "60", "Seconds after a scale-out before the next one.", integer(func(c *Config) *int { return &c.ScaleOutCooldown })},
		{"scaleInCooldownSeconds", TypeInteger, "300", "Seconds after a scale-in before the next one; longer than scale-out, since a scale-in drops connections.", integer(func(c *Config) *int { return &c.ScaleInCooldown })},
		{"alarmEmail", TypeString, "", "Email address the alarms notify, through an encrypted SNS topic (the recipient must confirm the subscription); empty creates no topic and the alarms only change state.", str(func(c *Config) *string { return &c.AlarmEmail })},
		{"alarm5xxPercent", TypeInteger, "5", "Alarm when 5xx responses (load balancer and tasks) exceed this percentage of the ALB's requests over 5 minutes.", integer(func(c *Config) *int { return &c.Alarm5xxPercent })},
		{"alarmEvictions", TypeInteger, "100", "Alarm when the tasks together evict more slow consumers than this in 5 minutes.", integer(func(c *Config) *int { return &c.AlarmEvictions })},
	}
}

func str(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *field(c) = v; return nil }
}

func integer(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return errors.New("not an integer")
		}
		*field(c) = n
		return nil
	}
}

func boolean(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return errors.New("not a boolean (true or false)")
		}
		*field(c) = b
		return nil
	}
}

// LoadConfig reads the stack configuration of the current project through
// Pulumi, where unset keys take the defaults of Pulumi.yaml (the same as
// [Keys]), and validates it.
func LoadConfig(ctx *pulumi.Context) (Config, error) {
	pc := pulumiconfig.New(ctx, "")
	return ParseConfig(func(key string) (string, bool) {
		v, err := pc.Try(key)
		return v, err == nil
	})
}

// ParseConfig builds a Config from lookup (a key's value and whether it is
// set), filling unset keys from [Keys], and validates it. Every error names
// the offending key.
func ParseConfig(lookup func(key string) (string, bool)) (Config, error) {
	var c Config
	for _, k := range Keys() {
		v, ok := lookup(k.Name)
		if !ok {
			v = k.Default
		}
		if err := k.set(&c, v); err != nil {
			return Config{}, &ConfigError{Key: k.Name, Value: v, Reason: err.Error()}
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// fargateMemory lists, per CPU value, the memory sizes (MiB) Fargate accepts.
func fargateMemory(cpu int) []int {
	span := func(from, to, step int) []int {
		var out []int
		for m := from; m <= to; m += step {
			out = append(out, m)
		}
		return out
	}
	switch cpu {
	case 256:
		return []int{512, 1024, 2048}
	case 512:
		return span(1024, 4096, 1024)
	case 1024:
		return span(2048, 8192, 1024)
	case 2048:
		return span(4096, 16384, 1024)
	case 4096:
		return span(8192, 30720, 1024)
	case 8192:
		return span(16384, 61440, 4096)
	case 16384:
		return span(32768, 122880, 8192)
	}
	return nil
}

// logRetentionDays are the values CloudWatch Logs accepts.
var logRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

var (
	// headerToken is RFC 9110's token; ALB caps header names at 40 characters.
	headerToken = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,40}$")
	// nameRe keeps derived names valid for ECS, IAM and S3 prefixes.
	nameRe = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}[a-z0-9]$`)
	cidrRe = regexp.MustCompile(`^(\d{1,3}\.){3}\d{1,3}/(1[6-9]|2[0-8])$`)
	// certRe insists on us-east-1: CloudFront reads certificates only there.
	certRe   = regexp.MustCompile(`^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/[0-9a-f-]+$`)
	domainRe = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
)

// reservedHeaders are names CloudFront will not add as origin custom headers
// or that would change how the request is routed.
var reservedHeaders = []string{
	"cache-control", "connection", "content-length", "cookie", "host", "if-match",
	"if-modified-since", "if-none-match", "if-range", "if-unmodified-since",
	"max-forwards", "pragma", "proxy-authorization", "proxy-connection", "range",
	"request-range", "sec-websocket-key", "sec-websocket-version", "te", "trailer",
	"transfer-encoding", "upgrade", "via", "x-forwarded-for", "x-real-ip",
}

// Validate checks every value and the relations between them. The error
// names the key to change.
func (c Config) Validate() error {
	bad := func(key string, v any, format string, args ...any) error {
		return &ConfigError{Key: key, Value: fmt.Sprint(v), Reason: fmt.Sprintf(format, args...)}
	}
	oneOf := func(key, v string, allowed ...string) error {
		if !slices.Contains(allowed, v) {
			return bad(key, v, "must be one of %s", strings.Join(allowed, ", "))
		}
		return nil
	}
	atLeast := func(key string, v, lowest int) error {
		if v < lowest {
			return bad(key, v, "must be at least %d", lowest)
		}
		return nil
	}
	between := func(key string, v, lo, hi int) error {
		if v < lo || v > hi {
			return bad(key, v, "must be between %d and %d", lo, hi)
		}
		return nil
	}
	checks := []func() error{
		func() error {
			if !nameRe.MatchString(c.Name) {
				return bad("name", c.Name, "must be 2-32 lower-case letters, digits and dashes, starting with a letter")
			}
			return nil
		},
		func() error { return between("availabilityZones", c.AvailabilityZones, 2, 6) },
		func() error {
			if !cidrRe.MatchString(c.VpcCidr) {
				return bad("vpcCidr", c.VpcCidr, "must be an IPv4 CIDR block from /16 to /28")
			}
			return nil
		},
		func() error { return oneOf("natGateways", c.NatGateways, "None", "Single", "OnePerAz") },
		func() error {
			if !c.PublicTasks && c.NatGateways == "None" {
				return bad("natGateways", c.NatGateways, "tasks in private subnets need a NAT gateway to pull images and ship logs: use Single or OnePerAz, or set publicTasks to true")
			}
			return nil
		},
		func() error {
			return oneOf("priceClass", c.PriceClass, "PriceClass_100", "PriceClass_200", "PriceClass_All")
		},
		func() error {
			switch {
			case c.DomainName == "" && c.CertificateArn == "":
				return nil
			case c.DomainName == "":
				return bad("domainName", c.DomainName, "is required when certificateArn is set")
			case c.CertificateArn == "":
				return bad("certificateArn", c.CertificateArn, "is required when domainName is set")
			case !domainRe.MatchString(c.DomainName):
				return bad("domainName", c.DomainName, "must be a lower-case DNS name such as ws.example.com")
			case !certRe.MatchString(c.CertificateArn):
				return bad("certificateArn", c.CertificateArn, "must be an ACM certificate ARN in us-east-1 (arn:aws:acm:us-east-1:<account>:certificate/<id>), the only region CloudFront reads")
			}
			return nil
		},
		func() error {
			if !headerToken.MatchString(c.HeaderName) {
				return bad("headerName", c.HeaderName, "must be an HTTP header name (letters, digits and !#$%%&'*+.^_`|~-) of at most 40 characters")
			}
			lower := strings.ToLower(c.HeaderName)
			if slices.Contains(reservedHeaders, lower) || strings.HasPrefix(lower, "x-amz-") || strings.HasPrefix(lower, "x-edge-") || strings.HasPrefix(lower, "cloudfront-") {
				return bad("headerName", c.HeaderName, "is a header CloudFront reserves or the request needs; choose a private name such as X-Origin-Verify")
			}
			return nil
		},
		func() error { return between("wafRateLimit", c.WAFRateLimit, wafRateLimitMin, wafRateLimitMax) },
		func() error { return between("headerSecretLength", c.HeaderSecretLength, 32, 128) },
		func() error { return between("pingIntervalSeconds", c.PingIntervalSeconds, 1, 1999) },
		func() error {
			if c.IdleTimeoutSeconds == 0 {
				return nil
			}
			if err := between("idleTimeoutSeconds", c.IdleTimeoutSeconds, 1, 4000); err != nil {
				return err
			}
			if 2*c.PingIntervalSeconds >= c.IdleTimeoutSeconds {
				return bad("pingIntervalSeconds", c.PingIntervalSeconds, "must be below half of idleTimeoutSeconds (%d), so a ping always crosses the load balancer before it drops an idle connection", c.IdleTimeoutSeconds)
			}
			return nil
		},
		func() error {
			if c.IdleTimeout() > 4000 {
				return bad("pingIntervalSeconds", c.PingIntervalSeconds, "derives an idle timeout of %d s, above the ALB maximum of 4000", c.IdleTimeout())
			}
			return nil
		},
		func() error { return atLeast("drainDelaySeconds", c.DrainDelaySeconds, 0) },
		func() error { return atLeast("drainSpreadSeconds", c.DrainSpreadSeconds, 0) },
		func() error {
			if c.ShutdownTimeoutSeconds <= c.DrainDelaySeconds+c.DrainSpreadSeconds {
				return bad("shutdownTimeoutSeconds", c.ShutdownTimeoutSeconds, "must exceed drainDelaySeconds + drainSpreadSeconds (%d)", c.DrainDelaySeconds+c.DrainSpreadSeconds)
			}
			if c.ShutdownTimeoutSeconds >= contract.StopTimeoutSeconds {
				return bad("shutdownTimeoutSeconds", c.ShutdownTimeoutSeconds, "must stay below the container stopTimeout of %d s, or ECS kills the server mid-shutdown", contract.StopTimeoutSeconds)
			}
			return nil
		},
		func() error {
			if mem := fargateMemory(c.CPU); mem == nil {
				return bad("cpu", c.CPU, "Fargate accepts 256, 512, 1024, 2048, 4096, 8192 or 16384")
			} else if !slices.Contains(mem, c.Memory) {
				return bad("memory", c.Memory, "is not a Fargate size for cpu %d (from %d to %d MiB in steps of %d)", c.CPU, mem[0], mem[len(mem)-1], step(mem))
			}
			return nil
		},
		func() error { return between("nofileLimit", c.NofileLimit, 1024, 1048576) },
		func() error {
			if c.Fanout == "" {
				return nil
			}
			return oneOf("fanout", c.Fanout, FanoutRedis, FanoutMemory)
		},
		func() error { return between("brokerMaxStorageGb", c.BrokerMaxStorageGB, 1, 5000) },
		func() error {
			return oneOf("containerInsights", c.ContainerInsights, "enhanced", "enabled", "disabled")
		},
		func() error {
			if !slices.Contains(logRetentionDays, c.LogRetentionDays) {
				return bad("logRetentionDays", c.LogRetentionDays, "must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)")
			}
			return nil
		},
		func() error { return atLeast("logBucketExpirationDays", c.LogBucketExpirationDays, 1) },
		func() error { return between("ecrKeepImages", c.EcrKeepImages, 1, 1000) },
		func() error { return atLeast("minTasks", c.MinTasks, 1) },
		func() error {
			if c.MaxTasks < c.MinTasks {
				return bad("maxTasks", c.MaxTasks, "must be at least minTasks (%d)", c.MinTasks)
			}
			return nil
		},
		func() error {
			if c.FanoutMode() == FanoutMemory && c.MaxTasks > 1 {
				return bad("fanout", c.Fanout, "memory keeps broadcasts inside one task, but maxTasks is %d: set fanout to redis (or leave it empty), or set maxTasks to 1", c.MaxTasks)
			}
			return nil
		},
		func() error { return oneOf("scaling", c.Scaling, ScalingConnections, ScalingRequests) },
		func() error { return atLeast("connectionsPerTask", c.ConnectionsPerTask, 1) },
		func() error {
			if c.ConnectionsPerTask >= c.NofileLimit {
				return bad("connectionsPerTask", c.ConnectionsPerTask, "must stay below nofileLimit (%d): every connection holds a file descriptor", c.NofileLimit)
			}
			return nil
		},
		func() error { return atLeast("requestsPerTarget", c.RequestsPerTarget, 1) },
		func() error { return atLeast("scaleOutCooldownSeconds", c.ScaleOutCooldown, 0) },
		func() error {
			if c.ScaleInCooldown <= c.ScaleOutCooldown {
				return bad("scaleInCooldownSeconds", c.ScaleInCooldown, "must be longer than scaleOutCooldownSeconds (%d): scaling in drops connections, scaling out does not", c.ScaleOutCooldown)
			}
			return nil
		},
	}
	checks = append(checks,
		func() error {
			if c.AlarmEmail == "" {
				return nil
			}
			if a, err := mail.ParseAddress(c.AlarmEmail); err != nil || a.Address != c.AlarmEmail {
				return bad("alarmEmail", c.AlarmEmail, "must be a bare email address such as ops@example.com, or empty")
			}
			return nil
		},
		func() error { return between("alarm5xxPercent", c.Alarm5xxPercent, 1, 100) },
		func() error { return atLeast("alarmEvictions", c.AlarmEvictions, 1) },
	)
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func step(sizes []int) int {
	if len(sizes) < 2 {
		return 0
	}
	return sizes[1] - sizes[0]
}

// IdleTimeout is the ALB idle timeout in seconds: the configured value, or
// idleTimeoutPerPing pings when it is 0.
func (c Config) IdleTimeout() int {
	if c.IdleTimeoutSeconds != 0 {
		return c.IdleTimeoutSeconds
	}
	return idleTimeoutPerPing * c.PingIntervalSeconds
}

// FanoutMode is how broadcasts reach the other tasks: the configured fanout,
// or, when it is empty, redis for a service that may run more than one task
// and memory for one that never does.
func (c Config) FanoutMode() string {
	switch {
	case c.Fanout != "":
		return c.Fanout
	case c.MaxTasks > 1:
		return FanoutRedis
	}
	return FanoutMemory
}

// DeregistrationDelay is the target group's deregistration delay: the
// server's drain (delay, then spread-out closes) plus a margin.
func (c Config) DeregistrationDelay() int {
	return c.DrainDelaySeconds + c.DrainSpreadSeconds + deregistrationMarginSeconds
}

// ResourceName is the physical name of the cluster and service of a stack:
// unique per stack, so two stacks in one account never share the metric
// dimension that scaling reads.
func (c Config) ResourceName(stack string) string {
	return c.Name + "-" + stack
}
