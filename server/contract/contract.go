// Package contract holds the names and numbers that the server and the
// infrastructure that deploys it must agree on: ports, paths, configuration
// keys the stack sets, and the CloudWatch metric the autoscaler tracks.
//
// It imports nothing, so the Pulumi program can depend on it without pulling
// the server in, and the server can depend on it without pulling Pulumi in.
package contract

// Ports the server listens on inside its container.
const (
	// Port serves the WebSocket endpoint and the health checks; the load
	// balancer's target group forwards here.
	Port = 8080
	// AdminPort serves Prometheus metrics and pprof. It is never routed by the
	// load balancer.
	AdminPort = 9090
)

// HTTP paths.
const (
	// WebSocketPath is where clients upgrade.
	WebSocketPath = "/wss"
	// RootPath answers 200 while the server accepts connections; the target
	// group's health check uses it, as in the seed.
	RootPath = "/"
	// HealthPath answers 200 while healthy and 503 once draining; the
	// container health check uses it.
	HealthPath = "/health"
	// PusherSocketPrefix is where Pusher Channels clients upgrade:
	// /app/{key}.
	PusherSocketPrefix = "/app/"
	// PusherAPIPrefix is the Pusher HTTP API a backend publishes through:
	// /apps/{app_id}/....
	PusherAPIPrefix = "/apps/"
)

// CloudWatch Embedded Metric Format names. Every task writes one EMF record
// per interval to stdout; the awslogs driver ships it and CloudWatch turns it
// into metrics, so no AWS SDK is linked into the server.
const (
	// MetricNamespace is the CloudWatch namespace of the server's metrics.
	MetricNamespace = "WebSocketService"
	// MetricConnections is the number of open WebSocket connections on one
	// task at the moment of the record. Averaged across tasks it is the
	// autoscaling signal.
	MetricConnections = "LiveConnections"
	// MetricDimension names the dimension whose value is the ECS service
	// name, so that target tracking averages over every task of a service.
	MetricDimension = "ServiceName"
	// MetricMessagesIn counts client messages accepted for broadcast on one
	// task during the record's interval.
	MetricMessagesIn = "MessagesIn"
	// MetricMessagesOut counts broadcast frames written to clients by one
	// task during the interval.
	MetricMessagesOut = "MessagesDelivered"
	// MetricEvictions counts slow consumers one task disconnected during
	// the interval.
	MetricEvictions = "Evictions"
)

// Environment variables the stack sets on the container.
const (
	// EnvMetricService carries the value of MetricDimension.
	EnvMetricService = "METRICS_SERVICE_NAME"
	// EnvPingInterval is the keepalive interval; the stack derives the load
	// balancer's idle timeout from the same value.
	EnvPingInterval = "PING_INTERVAL"
	// EnvDrainDelay and EnvDrainSpread shape shutdown; the stack sets the
	// target group's deregistration delay from them.
	EnvDrainDelay  = "DRAIN_DELAY"
	EnvDrainSpread = "DRAIN_SPREAD"
	// EnvShutdownTimeout bounds the whole shutdown; it must stay below the
	// container's stopTimeout.
	EnvShutdownTimeout = "SHUTDOWN_TIMEOUT"
	// EnvAllowedOrigins lists browser origins allowed to connect.
	EnvAllowedOrigins = "ALLOWED_ORIGINS"
	// EnvLogFormat selects json or text logs.
	EnvLogFormat = "LOG_FORMAT"
	// EnvBroker selects memory or redis fan-out; the Redis keys say where.
	EnvBroker        = "BROKER"
	EnvRedisURL      = "REDIS_URL"
	EnvRedisUsername = "REDIS_USERNAME"
	// EnvRedisPassword must reach the container as an ECS secret, never as
	// a plain environment variable.
	EnvRedisPassword = "REDIS_PASSWORD"
	// The Pusher app's credentials. The id and key are public; the secret
	// must reach the container as an ECS secret, never a plain variable.
	EnvPusherAppID     = "PUSHER_APP_ID"
	EnvPusherAppKey    = "PUSHER_APP_KEY"
	EnvPusherAppSecret = "PUSHER_APP_SECRET"
	// EnvWSSEnabled switches the seed's open /wss broadcast on or off.
	EnvWSSEnabled = "WSS_ENABLED"
	// EnvBehindCloudFront makes the server take each client's address from
	// CloudFront's CloudFront-Viewer-Address header; only the stack, which
	// puts the server behind CloudFront and an ALB that admits nothing
	// else, may set it.
	EnvBehindCloudFront = "BEHIND_CLOUDFRONT"
	// ViewerAddressHeader is the header CloudFront sends the viewer's
	// address and port in, when the origin request policy includes it.
	ViewerAddressHeader = "CloudFront-Viewer-Address"
)

// The Redis/Valkey access the server needs, which the stack grants its ACL
// user and the tests grant theirs: its keys (the broadcast stream, and the
// Pusher app's state and event stream), the commands it runs on them, the
// connection handshake, and CLUSTER SLOTS, with which a cluster client
// finds the nodes. Dangerous commands (KEYS, FLUSHALL, CLIENT KILL, ...) stay
// off.
const (
	RedisKeyPatterns  = "~websocket:* ~pusher:*"
	RedisCommandRules = "-@all +@stream +@hash +@set +@string +@keyspace +@scripting +@connection -@dangerous +cluster|slots"
	// EnvRedisCluster says whether the Redis endpoint is a cluster; the
	// stack sets yes, since ElastiCache Serverless always is one.
	EnvRedisCluster = "REDIS_CLUSTER"
)

// Defaults that both sides reason about.
const (
	// DefaultPingIntervalSeconds sits well inside the ALB's default 60 s
	// idle timeout so that an idle connection is never cut by the balancer.
	DefaultPingIntervalSeconds = 20
	// DefaultDrainDelaySeconds is how long the server keeps serving after
	// SIGTERM with /health at 503 before it starts closing clients.
	DefaultDrainDelaySeconds = 5
	// DefaultDrainSpreadSeconds is the window over which clients are closed
	// with 1001, so that their reconnects do not arrive at once.
	DefaultDrainSpreadSeconds = 30
	// DefaultShutdownTimeoutSeconds bounds shutdown; ECS's stopTimeout
	// maximum is 120 s and the stack sets it to 120.
	DefaultShutdownTimeoutSeconds = 60
	// StopTimeoutSeconds is the container stopTimeout the stack sets.
	StopTimeoutSeconds = 120
)

// The structured log line written when a connection closes. The stack's
// dashboard counts closes by code from it with a Logs Insights query.
const (
	LogConnectionClosed = "connection closed"
	LogFieldCloseCode   = "code"
)
