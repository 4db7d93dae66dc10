// Package config reads and validates the server's settings. Every setting is
// an environment variable that a command-line flag of the same name (lower
// case, dashes) may override. Validation happens once, at start: a bad value
// is reported with its key and what the key accepts.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsfargate/websocket-service/server/contract"
)

// Config holds every setting of the server.
type Config struct {
	Addr              string
	AdminAddr         string
	LogFormat         string
	LogLevel          slog.Level
	PingInterval      time.Duration
	PingTimeout       time.Duration
	WriteTimeout      time.Duration
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxMessageBytes   int64
	SendQueue         int
	RateLimit         float64
	RateBurst         int
	MaxConnections    int
	GCPercent         int // -1: collection off
	AllowedOrigins    []string
	HistorySize       int
	DrainDelay        time.Duration
	DrainSpread       time.Duration
	ShutdownTimeout   time.Duration
	EMFInterval       time.Duration
	MetricService     string
	TaskMetadataURI   string
	StopPollInterval  time.Duration
	Broker            string
	RedisURL          string
	RedisUsername     string
	RedisPassword     string
	RedisStream       string
	RedisCluster      string // auto, yes or no

	// The Pusher Channels app; empty ID turns /app and /apps off.
	PusherAppID              string
	PusherAppKey             string
	PusherAppSecret          string
	PusherClientEvents       bool
	PusherClientEventRate    float64
	PusherRequireSignin      bool
	PusherSigninTimeout      time.Duration
	PusherActivityTimeout    time.Duration
	PusherMaxEventBytes      int
	PusherMaxSubscriptions   int
	PusherMaxPresenceMembers int
	PusherMaxAPIBody         int64
	PusherWebhookURL         string
	PusherWebhookEvents      []string
	WSSEnabled               bool
	DemoEnabled              bool

	// Per-source limits; 0 turns each off.
	BehindCloudFront     bool
	SourceMaxConnections int
	SourceConnectRate    float64
	SourceConnectBurst   int
	SourceAPIRate        float64
	SourceAPIBurst       int
	SourceIPv6Prefix     int
	SourceTableSize      int
}

// Key describes one setting: its environment variable, default and meaning.
type Key struct {
	Name    string
	Default string
	Help    string
	set     func(c *Config, v string) error
}

// Flag is the command-line flag that overrides the key.
func (k Key) Flag() string { return strings.ReplaceAll(strings.ToLower(k.Name), "_", "-") }

func sec(n int) string { return (time.Duration(n) * time.Second).String() }

// Keys lists every setting in the order the README documents them.
func Keys() []Key {
	return []Key{
		{"ADDR", fmt.Sprintf(":%d", contract.Port), "Listen address for WebSocket upgrades (" + contract.WebSocketPath + ") and health checks.", addr(func(c *Config) *string { return &c.Addr })},
		{"ADMIN_ADDR", fmt.Sprintf(":%d", contract.AdminPort), "Listen address for /metrics (Prometheus) and /debug/pprof; empty turns it off. Never routed by the load balancer.", optionalAddr(func(c *Config) *string { return &c.AdminAddr })},
		{"LOG_FORMAT", "json", "Log format: json or text.", oneOf(func(c *Config) *string { return &c.LogFormat }, "json", "text")},
		{"LOG_LEVEL", "info", "Minimum log level: debug, info, warn or error.", level},
		{contract.EnvPingInterval, sec(contract.DefaultPingIntervalSeconds), "How often each client is pinged; keep it well inside the load balancer's idle timeout.", positiveDuration(func(c *Config) *time.Duration { return &c.PingInterval })},
		{"PING_TIMEOUT", "10s", "How long a client has to answer a ping before it is disconnected.", positiveDuration(func(c *Config) *time.Duration { return &c.PingTimeout })},
		{"WRITE_TIMEOUT", "10s", "How long one write to a client may block before the client is evicted as a slow consumer.", positiveDuration(func(c *Config) *time.Duration { return &c.WriteTimeout })},
		{"READ_HEADER_TIMEOUT", "5s", "How long a client may take to send the HTTP request headers.", positiveDuration(func(c *Config) *time.Duration { return &c.ReadHeaderTimeout })},
		{"IDLE_TIMEOUT", "60s", "How long an idle keep-alive HTTP connection (not a WebSocket) stays open.", positiveDuration(func(c *Config) *time.Duration { return &c.IdleTimeout })},
		{"MAX_MESSAGE_BYTES", "65536", "Largest message a client may send; larger closes the connection with 1009.", intRange(func(c *Config) *int64 { return &c.MaxMessageBytes }, 16, 16<<20)},
		{"SEND_QUEUE", "256", "Messages that may wait for one client; a client further behind is evicted as a slow consumer.", intField(func(c *Config) *int { return &c.SendQueue }, 1, 1<<20)},
		{"RATE_LIMIT", "50", "Messages per second one client may send, sustained (token bucket); 0 turns the limit off.", nonNegativeFloat(func(c *Config) *float64 { return &c.RateLimit })},
		{"RATE_BURST", "100", "Token bucket size: messages a client may send at once above RATE_LIMIT.", intField(func(c *Config) *int { return &c.RateBurst }, 1, 1<<20)},
		{"MAX_CONNECTIONS", "50000", "Open WebSockets this process accepts; beyond it upgrades get 503.", intField(func(c *Config) *int { return &c.MaxConnections }, 1, 10_000_000)},
		{"GOGC", "50", "Garbage collector target, read as Go reads it (a percentage, or off). Go's default is 100; an idle connection's memory is long-lived, and 50 keeps half as much garbage beside it (hold 10k: 8.5 -> 7.3 KiB per connection) at no CPU cost measurable in churn or throughput.", gcPercent},
		{contract.EnvAllowedOrigins, "", "Comma-separated origin host patterns (path.Match syntax, e.g. example.com,*.example.com) allowed besides the request's own host. Clients that send no Origin (non-browsers) are always allowed.", origins},
		{"HISTORY_SIZE", "1024", "Recent messages kept in memory so a reconnecting client can resume from its last offset.", intField(func(c *Config) *int { return &c.HistorySize }, 1, 1<<24)},
		{contract.EnvDrainDelay, sec(contract.DefaultDrainDelaySeconds), "After SIGTERM, how long the server keeps its clients while reporting unhealthy, so the load balancer stops routing to it.", nonNegativeDuration(func(c *Config) *time.Duration { return &c.DrainDelay })},
		{contract.EnvDrainSpread, sec(contract.DefaultDrainSpreadSeconds), "Window over which clients are then closed with 1001, so their reconnects do not arrive at once.", nonNegativeDuration(func(c *Config) *time.Duration { return &c.DrainSpread })},
		{contract.EnvShutdownTimeout, sec(contract.DefaultShutdownTimeoutSeconds), "Upper bound for the whole shutdown; must exceed DRAIN_DELAY + DRAIN_SPREAD and stay below the container's stopTimeout (120s).", positiveDuration(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
		{"EMF_INTERVAL", "60s", "How often a CloudWatch Embedded Metric Format line with the live connection count is written to stdout; 0 turns it off.", nonNegativeDuration(func(c *Config) *time.Duration { return &c.EMFInterval })},
		{contract.EnvMetricService, "websocket-service", "Value of the " + contract.MetricDimension + " dimension on the EMF metrics; the stack sets the ECS service name.", nonEmpty(func(c *Config) *string { return &c.MetricService })},
		{contract.EnvBroker, "memory", "How broadcasts reach the other server processes: memory (this process only; the default for one task and local runs) or redis (a Redis/Valkey stream shared by every task).", oneOf(func(c *Config) *string { return &c.Broker }, "memory", "redis")},
		{contract.EnvRedisURL, "", "With BROKER=redis: redis://host:port/db, or rediss:// for TLS (ElastiCache). Credentials may be in the URL or in the next two keys.", optionalRedisURL},
		{contract.EnvRedisUsername, "", "With BROKER=redis: the ACL user, if not in REDIS_URL.", func(c *Config, v string) error { c.RedisUsername = v; return nil }},
		{contract.EnvRedisPassword, "", "With BROKER=redis: the password or token, if not in REDIS_URL; on ECS it comes from a secret, never a plain variable.", func(c *Config, v string) error { c.RedisPassword = v; return nil }},
		{"REDIS_STREAM", "websocket:broadcast", "With BROKER=redis: the stream key; every task of one service must use the same. Its length is capped near HISTORY_SIZE.", nonEmpty(func(c *Config) *string { return &c.RedisStream })},
		{contract.EnvRedisCluster, "auto", "With BROKER=redis: whether the endpoint is a Redis Cluster (ElastiCache Serverless always is): yes, no, or auto to ask the server at start.", oneOf(func(c *Config) *string { return &c.RedisCluster }, "auto", "yes", "no")},
		{contract.EnvPusherAppID, "", "The Pusher Channels app id (the path of the HTTP API, /apps/{id}); empty turns the Pusher endpoints /app and /apps off. With it, PUSHER_APP_KEY and PUSHER_APP_SECRET are required.", pusherID(func(c *Config) *string { return &c.PusherAppID })},
		{contract.EnvPusherAppKey, "", "The Pusher app key: public, clients connect to /app/{key}.", pusherID(func(c *Config) *string { return &c.PusherAppKey })},
		{contract.EnvPusherAppSecret, "", "The Pusher app secret that signs channel authorizations and API requests; never logged. On ECS it comes from a secret, never a plain variable.", secret},
		{"PUSHER_CLIENT_EVENTS", "false", "Whether clients may send client- events on private and presence channels they are subscribed to.", boolean(func(c *Config) *bool { return &c.PusherClientEvents })},
		{"PUSHER_CLIENT_EVENT_RATE", "10", "Client events per second one connection may send (Pusher's own limit is 10); over it the connection is closed with 4301. 0 turns the limit off.", nonNegativeFloat(func(c *Config) *float64 { return &c.PusherClientEventRate })},
		{"PUSHER_REQUIRE_SIGNIN", "false", "Whether every connection must sign in (pusher:signin) within PUSHER_SIGNIN_TIMEOUT; one that does not is closed with 4009.", boolean(func(c *Config) *bool { return &c.PusherRequireSignin })},
		{"PUSHER_SIGNIN_TIMEOUT", "30s", "With PUSHER_REQUIRE_SIGNIN: how long a new connection has to sign in.", positiveDuration(func(c *Config) *time.Duration { return &c.PusherSigninTimeout })},
		{"PUSHER_ACTIVITY_TIMEOUT", "120s", "The activity_timeout sent to Pusher clients: after this long without a message a client sends pusher:ping. Whole seconds.", positiveDuration(func(c *Config) *time.Duration { return &c.PusherActivityTimeout })},
		{"PUSHER_MAX_EVENT_BYTES", "10240", "Largest event payload (data) accepted from a client or the HTTP API, in bytes; Pusher's is 10 KB.", intField(func(c *Config) *int { return &c.PusherMaxEventBytes }, 64, 1<<20)},
		{"PUSHER_MAX_SUBSCRIPTIONS", "100", "Channels one connection may be subscribed to at once.", intField(func(c *Config) *int { return &c.PusherMaxSubscriptions }, 1, 100_000)},
		{"PUSHER_MAX_PRESENCE_MEMBERS", "100", "Distinct users one presence channel may hold (Pusher's limit is 100); a subscription past it gets a subscription_error.", intField(func(c *Config) *int { return &c.PusherMaxPresenceMembers }, 1, 1_000_000)},
		{"PUSHER_MAX_API_BODY", "1048576", "Largest HTTP API request body in bytes; larger gets 413.", intRange(func(c *Config) *int64 { return &c.PusherMaxAPIBody }, 1024, 64<<20)},
		{"PUSHER_WEBHOOK_URL", "", "Where webhooks are POSTed (http:// or https://); empty turns webhooks off.", optionalURL(func(c *Config) *string { return &c.PusherWebhookURL })},
		{"PUSHER_WEBHOOK_EVENTS", "channel_occupied,channel_vacated,member_added,member_removed,client_event", "Comma-separated webhook events to send: channel_occupied, channel_vacated, member_added, member_removed, client_event.", webhookEvents},
		{contract.EnvWSSEnabled, "true", "Whether the seed's open broadcast endpoint " + contract.WebSocketPath + " is served; turn it off in production when only the Pusher endpoints are used.", boolean(func(c *Config) *bool { return &c.WSSEnabled })},
		{"DEMO_ENABLED", "true", "Whether the demo pages are served: /demo (the seed's room) and, with a Pusher app, /demo/pusher, whose signer and trigger reach only presence-demo-*, private-demo-* and demo-* channels.", boolean(func(c *Config) *bool { return &c.DemoEnabled })},
		{contract.EnvBehindCloudFront, "false", "Take each client's address from the " + contract.ViewerAddressHeader + " header, which CloudFront sets. Only safe behind the stack's CloudFront and ALB; otherwise the socket's peer address is used and the header is ignored.", boolean(func(c *Config) *bool { return &c.BehindCloudFront })},
		{"SOURCE_MAX_CONNECTIONS", "100", "Open WebSockets one client address (source) may hold; beyond it upgrades get 429. 0 turns the limit off.", intField(func(c *Config) *int { return &c.SourceMaxConnections }, 0, 10_000_000)},
		{"SOURCE_CONNECT_RATE", "20", "New WebSockets per second one source may open, sustained (token bucket); 0 turns the limit off.", nonNegativeFloat(func(c *Config) *float64 { return &c.SourceConnectRate })},
		{"SOURCE_CONNECT_BURST", "200", "Token bucket size for SOURCE_CONNECT_RATE: connections one source may open at once, e.g. an office reloading a page.", intField(func(c *Config) *int { return &c.SourceConnectBurst }, 1, 1<<20)},
		{"SOURCE_API_RATE", "100", "HTTP API requests per second one source may make, sustained (token bucket); 0 turns the limit off.", nonNegativeFloat(func(c *Config) *float64 { return &c.SourceAPIRate })},
		{"SOURCE_API_BURST", "200", "Token bucket size for SOURCE_API_RATE.", intField(func(c *Config) *int { return &c.SourceAPIBurst }, 1, 1<<20)},
		{"SOURCE_IPV6_PREFIX", "64", "IPv6 clients are counted per network of this prefix length, since one host usually holds a whole /64.", intField(func(c *Config) *int { return &c.SourceIPv6Prefix }, 1, 128)},
		{"SOURCE_TABLE_SIZE", "100000", "Most sources tracked at once for the per-source limits; the table's memory is bounded by it. When full, idle sources are evicted first.", intField(func(c *Config) *int { return &c.SourceTableSize }, 1, 10_000_000)},
		{"ECS_CONTAINER_METADATA_URI_V4", "", "Set by ECS, not by you: the task metadata endpoint. When present the server polls it and starts the drain as soon as ECS decides to stop the task, while the load balancer is still deregistering it, rather than waiting for SIGTERM.", optionalURL(func(c *Config) *string { return &c.TaskMetadataURI })},
		{"STOP_POLL_INTERVAL", "2s", "How often the task metadata endpoint is polled for a stop decision; 0 turns polling off.", nonNegativeDuration(func(c *Config) *time.Duration { return &c.StopPollInterval })},
	}
}

// Error reports a setting that cannot be used.
type Error struct {
	Key    string
	Value  string
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("config: %s=%q: %s", e.Key, e.Value, e.Reason)
}

// Load reads the settings from the environment (through lookup) and then the
// command-line args, which override it. It returns flag.ErrHelp for -h.
func Load(lookup func(string) (string, bool), args []string, usage io.Writer) (*Config, error) {
	keys := Keys()
	values := make(map[string]string, len(keys))
	for _, k := range keys {
		values[k.Name] = k.Default
		if v, ok := lookup(k.Name); ok {
			values[k.Name] = v
		}
	}
	fs := flag.NewFlagSet("wsserver", flag.ContinueOnError)
	fs.SetOutput(usage)
	for _, k := range keys {
		fs.Func(k.Flag(), k.Help+" (env "+k.Name+", default "+strconv.Quote(k.Default)+")", func(v string) error {
			values[k.Name] = v
			return nil
		})
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("config: unexpected argument %q", fs.Arg(0))
	}
	c := &Config{}
	for _, k := range keys {
		v := strings.TrimSpace(values[k.Name])
		if err := k.set(c, v); err != nil {
			shown := values[k.Name]
			if strings.Contains(k.Name, "SECRET") || strings.Contains(k.Name, "PASSWORD") {
				shown = "(redacted)"
			}
			return nil, &Error{Key: k.Name, Value: shown, Reason: err.Error()}
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) validate() error {
	if c.PingTimeout >= c.PingInterval {
		return &Error{Key: "PING_TIMEOUT", Value: c.PingTimeout.String(), Reason: "must be shorter than " + contract.EnvPingInterval + " (" + c.PingInterval.String() + ")"}
	}
	if drain := c.DrainDelay + c.DrainSpread; c.ShutdownTimeout <= drain {
		return &Error{Key: contract.EnvShutdownTimeout, Value: c.ShutdownTimeout.String(), Reason: "must exceed DRAIN_DELAY + DRAIN_SPREAD (" + drain.String() + ")"}
	}
	if c.ShutdownTimeout >= contract.StopTimeoutSeconds*time.Second {
		return &Error{Key: contract.EnvShutdownTimeout, Value: c.ShutdownTimeout.String(), Reason: fmt.Sprintf("must stay below ECS's stopTimeout of %ds", contract.StopTimeoutSeconds)}
	}
	if c.Broker == "redis" && c.RedisURL == "" {
		return &Error{Key: contract.EnvRedisURL, Value: "", Reason: "required when " + contract.EnvBroker + "=redis"}
	}
	if c.PusherAppID != "" && (c.PusherAppKey == "" || c.PusherAppSecret == "") {
		key := contract.EnvPusherAppKey
		if c.PusherAppKey != "" {
			key = contract.EnvPusherAppSecret
		}
		return &Error{Key: key, Value: "", Reason: "required when " + contract.EnvPusherAppID + " is set"}
	}
	if c.PusherAppID == "" && (c.PusherAppKey != "" || c.PusherAppSecret != "") {
		return &Error{Key: contract.EnvPusherAppID, Value: "", Reason: "required when " + contract.EnvPusherAppKey + " or " + contract.EnvPusherAppSecret + " is set"}
	}
	if c.PusherActivityTimeout%time.Second != 0 {
		return &Error{Key: "PUSHER_ACTIVITY_TIMEOUT", Value: c.PusherActivityTimeout.String(), Reason: "must be whole seconds"}
	}
	if _, port, _ := net.SplitHostPort(c.Addr); c.AdminAddr == c.Addr && port != "0" {
		return &Error{Key: "ADMIN_ADDR", Value: c.AdminAddr, Reason: "must differ from ADDR"}
	}
	return nil
}

// Logger builds the process logger the settings ask for.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func addr(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if _, port, err := net.SplitHostPort(v); err != nil {
			return errors.New("want host:port, e.g. :8080 or 127.0.0.1:8080")
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return errors.New("port must be a number from 0 to 65535")
		}
		*field(c) = v
		return nil
	}
}

func optionalAddr(field func(*Config) *string) func(*Config, string) error {
	required := addr(field)
	return func(c *Config, v string) error {
		if v == "" {
			*field(c) = ""
			return nil
		}
		return required(c, v)
	}
}

func oneOf(field func(*Config) *string, allowed ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		for _, a := range allowed {
			if v == a {
				*field(c) = v
				return nil
			}
		}
		return fmt.Errorf("want one of %s", strings.Join(allowed, ", "))
	}
}

func level(c *Config, v string) error {
	if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
		return errors.New("want debug, info, warn or error")
	}
	return nil
}

func duration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("want a duration such as 500ms, 20s or 2m")
	}
	return d, nil
}

func positiveDuration(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := duration(v)
		if err != nil {
			return err
		}
		if d <= 0 {
			return errors.New("must be greater than zero")
		}
		*field(c) = d
		return nil
	}
}

func nonNegativeDuration(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := duration(v)
		if err != nil {
			return err
		}
		if d < 0 {
			return errors.New("must not be negative")
		}
		*field(c) = d
		return nil
	}
}

func intRange(field func(*Config) *int64, lo, hi int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("want a whole number from %d to %d", lo, hi)
		}
		*field(c) = n
		return nil
	}
}

func intField(field func(*Config) *int, lo, hi int) func(*Config, string) error {
	return func(c *Config, v string) error {
		var n int64
		err := intRange(func(*Config) *int64 { return &n }, int64(lo), int64(hi))(c, v)
		*field(c) = int(n)
		return err
	}
}

func gcPercent(c *Config, v string) error {
	if v == "off" {
		c.GCPercent = -1
		return nil
	}
	return intField(func(c *Config) *int { return &c.GCPercent }, 1, 100_000)(c, v)
}

func nonNegativeFloat(field func(*Config) *float64) func(*Config, string) error {
	return func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f != f || f > 1e9 {
			return errors.New("want a number from 0 to 1e9")
		}
		*field(c) = f
		return nil
	}
}

func nonEmpty(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v == "" {
			return errors.New("must not be empty")
		}
		*field(c) = v
		return nil
	}
}

func optionalRedisURL(c *Config, v string) error {
	if v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return errors.New("want redis://host:port/db or rediss://host:port/db")
		}
	}
	c.RedisURL = v
	return nil
}

func optionalURL(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return errors.New("want an http:// URL")
			}
		}
		*field(c) = v
		return nil
	}
}

func boolean(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		*field(c) = b
		return nil
	}
}

// pusherID accepts an app id or key as Pusher issues them: a short token
// that is safe in a URL path.
func pusherID(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if len(v) > 64 || strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != "" {
			return errors.New("want at most 64 letters, digits, '-', '_' or '.'")
		}
		*field(c) = v
		return nil
	}
}

// secret never repeats the value in its error: the message reaches logs.
func secret(c *Config, v string) error {
	if v != "" && len(v) < 16 {
		return errors.New("must be at least 16 characters")
	}
	c.PusherAppSecret = v
	return nil
}

// WebhookEvents lists the webhook events the server can send.
var WebhookEvents = []string{"channel_occupied", "channel_vacated", "member_added", "member_removed", "client_event"}

func webhookEvents(c *Config, v string) error {
	c.PusherWebhookEvents = nil
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !slices.Contains(WebhookEvents, e) {
			return fmt.Errorf("unknown event %q; want some of %s", e, strings.Join(WebhookEvents, ", "))
		}
		c.PusherWebhookEvents = append(c.PusherWebhookEvents, e)
	}
	return nil
}

func origins(c *Config, v string) error {
	c.AllowedOrigins = nil
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if p == "*" {
			return errors.New(`"*" would let any web page connect with its visitors' cookies; list the origins instead`)
		}
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("pattern %q: %w", p, err)
		}
		if strings.Contains(p, "://") {
			return fmt.Errorf("pattern %q: give the host (e.g. example.com), not a URL", p)
		}
		c.AllowedOrigins = append(c.AllowedOrigins, p)
	}
	return nil
}
