package config_test

import (
	"errors"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/config"
)

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := kv[k]
		return v, ok
	}
}

func TestDefaults(t *testing.T) {
	c, err := config.Load(env(nil), nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.AdminAddr != ":9090" || c.PingInterval != 20*time.Second || c.MaxMessageBytes != 64<<10 {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	// The ping must land well inside the ALB's default 60 s idle timeout.
	if c.PingInterval+c.PingTimeout >= 60*time.Second {
		t.Fatalf("ping %v + timeout %v does not fit a 60s idle timeout", c.PingInterval, c.PingTimeout)
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	c, err := config.Load(env(map[string]string{"ADDR": ":1111", "RATE_LIMIT": "5"}), []string{"-addr", ":2222"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":2222" || c.RateLimit != 5 {
		t.Fatalf("addr %s rate %v, want :2222 (flag) and 5 (env)", c.Addr, c.RateLimit)
	}
}

func TestInvalidValuesNameTheKey(t *testing.T) {
	tests := []struct {
		key, value string
	}{
		{"ADDR", "8080"},
		{"ADDR", ":99999"},
		{"ADMIN_ADDR", ":8080"}, // same as ADDR
		{"LOG_FORMAT", "xml"},
		{"LOG_LEVEL", "loud"},
		{"PING_INTERVAL", "0s"},
		{"PING_INTERVAL", "twenty"},
		{"PING_TIMEOUT", "30s"}, // not shorter than the interval
		{"WRITE_TIMEOUT", "-1s"},
		{"MAX_MESSAGE_BYTES", "1"},
		{"MAX_MESSAGE_BYTES", "1e9"},
		{"SEND_QUEUE", "0"},
		{"RATE_LIMIT", "-3"},
		{"RATE_LIMIT", "NaN"},
		{"RATE_BURST", "lots"},
		{"MAX_CONNECTIONS", "0"},
		{"GOGC", "0"},
		{"GOGC", "fast"},
		{"ALLOWED_ORIGINS", "*"},
		{"ALLOWED_ORIGINS", "https://example.com"},
		{"ALLOWED_ORIGINS", "[bad"},
		{"HISTORY_SIZE", "0"},
		{"DRAIN_DELAY", "-5s"},
		{"SHUTDOWN_TIMEOUT", "20s"},  // not above drain delay + spread
		{"SHUTDOWN_TIMEOUT", "125s"}, // not below ECS's stopTimeout
		{"EMF_INTERVAL", "soon"},
		{"METRICS_SERVICE_NAME", " "},
		{"BROKER", "kafka"},
		{"REDIS_URL", "http://cache:6379"},
		{"REDIS_URL", "redis://"},
		{"REDIS_STREAM", ""},
		{"ECS_CONTAINER_METADATA_URI_V4", "169.254.170.2/v4"},
		{"STOP_POLL_INTERVAL", "-1s"},
		{"REDIS_CLUSTER", "maybe"},
		{"PUSHER_APP_KEY", "has space"},
		{"PUSHER_APP_SECRET", "short"},
		{"PUSHER_CLIENT_EVENTS", "sometimes"},
		{"PUSHER_CLIENT_EVENT_RATE", "-1"},
		{"PUSHER_REQUIRE_SIGNIN", "2"},
		{"PUSHER_SIGNIN_TIMEOUT", "0s"},
		{"PUSHER_ACTIVITY_TIMEOUT", "1500ms"},
		{"PUSHER_MAX_EVENT_BYTES", "10"},
		{"PUSHER_MAX_SUBSCRIPTIONS", "0"},
		{"PUSHER_MAX_PRESENCE_MEMBERS", "0"},
		{"PUSHER_MAX_API_BODY", "1"},
		{"PUSHER_WEBHOOK_URL", "ftp://hooks"},
		{"PUSHER_WEBHOOK_EVENTS", "channel_occupied,subscription_count"},
		{"WSS_ENABLED", "nope"},
		{"BEHIND_CLOUDFRONT", "yes please"},
		{"SOURCE_MAX_CONNECTIONS", "-1"},
		{"SOURCE_CONNECT_RATE", "fast"},
		{"SOURCE_CONNECT_BURST", "0"},
		{"SOURCE_API_RATE", "-2"},
		{"SOURCE_API_BURST", "0"},
		{"SOURCE_IPV6_PREFIX", "129"},
		{"SOURCE_TABLE_SIZE", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			_, err := config.Load(env(map[string]string{tt.key: tt.value}), nil, io.Discard)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *config.Error", err)
			}
			if ce.Key != tt.key || !strings.Contains(err.Error(), tt.key) || ce.Reason == "" {
				t.Fatalf("error %q names %s, want %s with a reason", err, ce.Key, tt.key)
			}
		})
	}
}

func TestGOGC(t *testing.T) {
	tests := []struct {
		value string // "" leaves GOGC unset
		want  int
	}{
		{"", 50},
		{"100", 100},
		{"off", -1},
	}
	for _, tt := range tests {
		vars := map[string]string{}
		if tt.value != "" {
			vars["GOGC"] = tt.value
		}
		c, err := config.Load(env(vars), nil, io.Discard)
		if err != nil {
			t.Fatalf("GOGC=%q: %v", tt.value, err)
		}
		if c.GCPercent != tt.want {
			t.Errorf("GOGC=%q: GCPercent %d, want %d", tt.value, c.GCPercent, tt.want)
		}
	}
}

func TestRedisBrokerNeedsURL(t *testing.T) {
	_, err := config.Load(env(map[string]string{"BROKER": "redis"}), nil, io.Discard)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "REDIS_URL" {
		t.Fatalf("BROKER=redis without REDIS_URL: %v, want an error naming REDIS_URL", err)
	}
	if _, err := config.Load(env(map[string]string{"BROKER": "redis", "REDIS_URL": "rediss://user:pw@cache.example:6379/0"}), nil, io.Discard); err != nil {
		t.Fatal(err)
	}
}

func TestPusherAppNeedsAllThreeCredentials(t *testing.T) {
	tests := []struct {
		vars    map[string]string
		wantKey string // "" when the set is valid
	}{
		{map[string]string{}, ""},
		{map[string]string{"PUSHER_APP_ID": "1", "PUSHER_APP_KEY": "key", "PUSHER_APP_SECRET": "0123456789abcdef"}, ""},
		{map[string]string{"PUSHER_APP_ID": "1"}, "PUSHER_APP_KEY"},
		{map[string]string{"PUSHER_APP_ID": "1", "PUSHER_APP_KEY": "key"}, "PUSHER_APP_SECRET"},
		{map[string]string{"PUSHER_APP_SECRET": "0123456789abcdef"}, "PUSHER_APP_ID"},
	}
	for _, tt := range tests {
		_, err := config.Load(env(tt.vars), nil, io.Discard)
		var ce *config.Error
		switch {
		case tt.wantKey == "" && err != nil:
			t.Errorf("%v: %v", tt.vars, err)
		case tt.wantKey != "" && (!errors.As(err, &ce) || ce.Key != tt.wantKey):
			t.Errorf("%v: %v, want an error naming %s", tt.vars, err, tt.wantKey)
		}
	}
}

// The secret reaches error messages, and so logs, only as "(redacted)".
func TestSecretIsNeverEchoed(t *testing.T) {
	_, err := config.Load(env(map[string]string{"PUSHER_APP_ID": "1", "PUSHER_APP_KEY": "k", "PUSHER_APP_SECRET": "hunter2"}), nil, io.Discard)
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "PUSHER_APP_SECRET") {
		t.Fatalf("error %q: want one naming PUSHER_APP_SECRET without its value", err)
	}
}

func TestOrigins(t *testing.T) {
	c, err := config.Load(env(map[string]string{"ALLOWED_ORIGINS": " example.com, *.example.com ,"}), nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.AllowedOrigins, "|") != "example.com|*.example.com" {
		t.Fatalf("origins %q", c.AllowedOrigins)
	}
}

// The README's configuration table is the user's reference; it must list
// exactly the keys the code reads, with the same defaults.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)` \\| `([^`]*)` \\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		documented[m[1]] = m[2]
	}
	for _, k := range config.Keys() {
		def, ok := documented[k.Name]
		if !ok {
			t.Errorf("README does not document %s (default %q)", k.Name, k.Default)
			continue
		}
		if def != k.Default {
			t.Errorf("README gives %s default %q, code %q", k.Name, def, k.Default)
		}
		delete(documented, k.Name)
	}
	for k := range documented {
		t.Errorf("README documents %s, which the server does not read", k)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("PING_INTERVAL", "20s")
	f.Add("MAX_MESSAGE_BYTES", "65536")
	f.Add("ALLOWED_ORIGINS", "a.com,*.b.com")
	f.Add("RATE_LIMIT", "1e308")
	f.Fuzz(func(t *testing.T, key, value string) {
		c, err := config.Load(env(map[string]string{key: value}), nil, io.Discard)
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Key == "" {
				t.Fatalf("error %v does not name a key", err)
			}
			return
		}
		if c.PingTimeout >= c.PingInterval || c.MaxMessageBytes < 16 || c.SendQueue < 1 || c.MaxConnections < 1 {
			t.Fatalf("accepted an invalid config: %+v", c)
		}
	})
}
