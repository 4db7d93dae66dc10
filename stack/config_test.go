package stack

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// update rewrites the generated parts of Pulumi.yaml and docs/deploy.md
// from Keys(): go test ./stack -run 'TestConfigDocumented' -update
var update = flag.Bool("update", false, "rewrite Pulumi.yaml's config block and the config table in docs/deploy.md")

const (
	projectFile = "../Pulumi.yaml"
	devFile     = "../Pulumi.dev.yaml"
	deployDoc   = "../docs/deploy.md"
	tableBegin  = "<!-- config-table:begin (generated from stack/config.go; go test ./stack -run TestConfigDocumented -update) -->"
	tableEnd    = "<!-- config-table:end -->"
)

// projectYAML is the part of Pulumi.yaml the tests read.
type projectYAML struct {
	Name        string                      `yaml:"name"`
	Runtime     any                         `yaml:"runtime"`
	Description string                      `yaml:"description"`
	Config      map[string]projectConfigKey `yaml:"config"`
}

type projectConfigKey struct {
	Type        string `yaml:"type"`
	Default     any    `yaml:"default"`
	Description string `yaml:"description"`
}

func readProject(t *testing.T) projectYAML {
	t.Helper()
	raw, err := os.ReadFile(projectFile)
	if err != nil {
		t.Fatal(err)
	}
	var p projectYAML
	if err := yaml.Unmarshal(raw, &p); err != nil {
		t.Fatalf("%s: %v", projectFile, err)
	}
	return p
}

// stackConfig reads a Pulumi.<stack>.yaml's config values as the engine
// hands them to the program: fully qualified keys, string values.
func stackConfig(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string]string{}
	for k, v := range f.Config {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// markdownTable renders Keys() as the table docs/deploy.md carries.
func markdownTable() string {
	var b strings.Builder
	b.WriteString("| Key | Type | Default | Description |\n|---|---|---|---|\n")
	for _, k := range Keys() {
		def := "`" + k.Default + "`"
		if k.Default == "" {
			def = "(empty)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", k.Name, k.Type, def, strings.ReplaceAll(k.Description, "|", `\|`))
	}
	return b.String()
}

// yamlDefault is a key's default as Pulumi.yaml writes it.
func yamlDefault(k Key) any {
	switch k.Type {
	case TypeInteger:
		var n int
		fmt.Sscan(k.Default, &n)
		return n
	case TypeBoolean:
		return k.Default == "true"
	}
	return k.Default
}

// renderConfigBlock renders Pulumi.yaml's config block from Keys().
func renderConfigBlock() (string, error) {
	var b strings.Builder
	b.WriteString("config:\n")
	for _, k := range Keys() {
		entry := map[string]projectConfigKey{k.Name: {Type: k.Type, Default: yamlDefault(k), Description: k.Description}}
		var out strings.Builder
		enc := yaml.NewEncoder(&out)
		enc.SetIndent(2)
		if err := enc.Encode(entry); err != nil {
			return "", err
		}
		if err := enc.Close(); err != nil {
			return "", err
		}
		for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
			b.WriteString("  " + line + "\n")
		}
	}
	return b.String(), nil
}

func TestConfigDocumented(t *testing.T) {
	if *update {
		raw, err := os.ReadFile(projectFile)
		if err != nil {
			t.Fatal(err)
		}
		head, _, _ := strings.Cut(string(raw), "config:\n")
		block, err := renderConfigBlock()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(projectFile, []byte(head+block), 0o644); err != nil {
			t.Fatal(err)
		}
		doc, err := os.ReadFile(deployDoc)
		if err != nil {
			t.Fatal(err)
		}
		before, rest, ok1 := strings.Cut(string(doc), tableBegin)
		_, after, ok2 := strings.Cut(rest, tableEnd)
		if !ok1 || !ok2 {
			t.Fatalf("%s lacks the table markers", deployDoc)
		}
		out := before + tableBegin + "\n" + markdownTable() + tableEnd + after
		if err := os.WriteFile(filepath.Clean(deployDoc), []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("Pulumi.yaml", func(t *testing.T) {
		p := readProject(t)
		if p.Name != "websocket-service" || p.Runtime != "go" || p.Description == "" {
			t.Errorf("project header = %q %v %q, want websocket-service, go and a description", p.Name, p.Runtime, p.Description)
		}
		want := map[string]projectConfigKey{}
		for _, k := range Keys() {
			want[k.Name] = projectConfigKey{Type: k.Type, Default: yamlDefault(k), Description: k.Description}
		}
		for name, w := range want {
			got, ok := p.Config[name]
			if !ok {
				t.Errorf("Pulumi.yaml config lacks %s", name)
				continue
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("Pulumi.yaml config %s = %+v, stack/config.go says %+v", name, got, w)
			}
		}
		for name := range p.Config {
			if _, ok := want[name]; !ok {
				t.Errorf("Pulumi.yaml declares %s, which stack/config.go does not read", name)
			}
		}
	})

	t.Run("docs/deploy.md", func(t *testing.T) {
		doc, err := os.ReadFile(deployDoc)
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok1 := strings.Cut(string(doc), tableBegin)
		table, _, ok2 := strings.Cut(rest, tableEnd)
		if !ok1 || !ok2 {
			t.Fatalf("%s lacks the markers %q and %q", deployDoc, tableBegin, tableEnd)
		}
		if got, want := strings.TrimSpace(table), strings.TrimSpace(markdownTable()); got != want {
			t.Errorf("config table in %s differs from stack/config.go; run go test ./stack -run TestConfigDocumented -update\n got:\n%s\nwant:\n%s", deployDoc, got, want)
		}
	})

	t.Run("Pulumi.dev.yaml", func(t *testing.T) {
		known := map[string]bool{}
		for _, k := range Keys() {
			known["websocket-service:"+k.Name] = true
		}
		for k := range stackConfig(t, devFile) {
			if !strings.HasPrefix(k, "aws:") && !known[k] {
				t.Errorf("Pulumi.dev.yaml sets %s, which stack/config.go does not read", k)
			}
		}
	})
}

func TestKeysAreUniqueAndParseTheirDefaults(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys() {
		if seen[k.Name] {
			t.Errorf("key %s declared twice", k.Name)
		}
		seen[k.Name] = true
		if k.Description == "" || (k.Type != TypeString && k.Type != TypeInteger && k.Type != TypeBoolean) {
			t.Errorf("key %s: type %q, description %q", k.Name, k.Type, k.Description)
		}
		var c Config
		if err := k.set(&c, k.Default); err != nil {
			t.Errorf("key %s: default %q does not parse: %v", k.Name, k.Default, err)
		}
	}
	if _, err := ParseConfig(func(string) (string, bool) { return "", false }); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

func TestParseConfigDerivedValues(t *testing.T) {
	c, err := ParseConfig(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if c.IdleTimeout() != 60 {
		t.Errorf("idle timeout = %d, want 60 (3 x ping 20)", c.IdleTimeout())
	}
	if c.DeregistrationDelay() != 45 {
		t.Errorf("deregistration delay = %d, want 45 (drain 5 + spread 30 + margin 10)", c.DeregistrationDelay())
	}
	if got := c.ResourceName("dev"); got != "websocket-service-dev" {
		t.Errorf("resource name = %q", got)
	}
	// WAF is opt-in; the seed's /wss stays on and client events off, as
	// in the server's own defaults.
	if c.WAF || c.WAFRateLimit != 2000 || !c.WSSEnabled || c.PusherClientEvents {
		t.Errorf("waf %v rate %d, wss %v, client events %v", c.WAF, c.WAFRateLimit, c.WSSEnabled, c.PusherClientEvents)
	}
}

func TestParseConfigRejects(t *testing.T) {
	cases := []struct {
		name    string
		set     map[string]string
		wantKey string
	}{
		{"unknown scaling mode", map[string]string{"scaling": "cpu"}, "scaling"},
		{"min above max", map[string]string{"minTasks": "4", "maxTasks": "2"}, "maxTasks"},
		{"zero min", map[string]string{"minTasks": "0"}, "minTasks"},
		{"memory not allowed for cpu", map[string]string{"cpu": "1024", "memory": "1024"}, "memory"},
		{"memory step", map[string]string{"cpu": "512", "memory": "1536"}, "memory"},
		{"cpu not a Fargate size", map[string]string{"cpu": "768"}, "cpu"},
		{"header with space", map[string]string{"headerName": "X Origin"}, "headerName"},
		{"header with colon", map[string]string{"headerName": "X-Origin:"}, "headerName"},
		{"reserved header", map[string]string{"headerName": "Host"}, "headerName"},
		{"amz header", map[string]string{"headerName": "X-Amz-Secret"}, "headerName"},
		{"header too long", map[string]string{"headerName": "X-" + strings.Repeat("a", 40)}, "headerName"},
		{"ping too close to idle", map[string]string{"pingIntervalSeconds": "30", "idleTimeoutSeconds": "60"}, "pingIntervalSeconds"},
		{"idle too large", map[string]string{"idleTimeoutSeconds": "5000"}, "idleTimeoutSeconds"},
		{"derived idle too large", map[string]string{"pingIntervalSeconds": "1500"}, "pingIntervalSeconds"},
		{"short secret", map[string]string{"headerSecretLength": "16"}, "headerSecretLength"},
		{"integer typo", map[string]string{"cpu": "1 vCPU"}, "cpu"},
		{"boolean typo", map[string]string{"publicTasks": "yes please"}, "publicTasks"},
		{"nat strategy", map[string]string{"natGateways": "Two"}, "natGateways"},
		{"private tasks without NAT", map[string]string{"natGateways": "None"}, "natGateways"},
		{"one AZ", map[string]string{"availabilityZones": "1"}, "availabilityZones"},
		{"bad cidr", map[string]string{"vpcCidr": "10.0.0.0/8"}, "vpcCidr"},
		{"domain without certificate", map[string]string{"domainName": "ws.example.com"}, "certificateArn"},
		{"certificate without domain", map[string]string{"certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc"}, "domainName"},
		{"certificate outside us-east-1", map[string]string{"domainName": "ws.example.com", "certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc"}, "certificateArn"},
		{"price class", map[string]string{"priceClass": "PriceClass_50"}, "priceClass"},
		{"retention", map[string]string{"logRetentionDays": "10"}, "logRetentionDays"},
		{"insights", map[string]string{"containerInsights": "on"}, "containerInsights"},
		{"shutdown below drain", map[string]string{"shutdownTimeoutSeconds": "30"}, "shutdownTimeoutSeconds"},
		{"shutdown beyond stopTimeout", map[string]string{"shutdownTimeoutSeconds": "120"}, "shutdownTimeoutSeconds"},
		{"scale-in faster than scale-out", map[string]string{"scaleInCooldownSeconds": "30"}, "scaleInCooldownSeconds"},
		{"connections beyond nofile", map[string]string{"connectionsPerTask": "70000"}, "connectionsPerTask"},
		{"bad name", map[string]string{"name": "WebSocket_Service"}, "name"},
		{"unknown fanout", map[string]string{"fanout": "kafka"}, "fanout"},
		{"memory fanout with several tasks", map[string]string{"fanout": "memory"}, "fanout"},
		{"broker storage", map[string]string{"brokerMaxStorageGb": "0"}, "brokerMaxStorageGb"},
		{"alarm email with a name", map[string]string{"alarmEmail": "Ops <ops@example.com>"}, "alarmEmail"},
		{"alarm email without a domain", map[string]string{"alarmEmail": "ops"}, "alarmEmail"},
		{"alarm 5xx percent", map[string]string{"alarm5xxPercent": "0"}, "alarm5xxPercent"},
		{"alarm 5xx above 100", map[string]string{"alarm5xxPercent": "101"}, "alarm5xxPercent"},
		{"alarm evictions", map[string]string{"alarmEvictions": "0"}, "alarmEvictions"},
		{"waf rate limit below WAF's minimum", map[string]string{"waf": "true", "wafRateLimit": "9"}, "wafRateLimit"},
		{"waf rate limit above WAF's maximum", map[string]string{"wafRateLimit": "2000000001"}, "wafRateLimit"},
		{"waf typo", map[string]string{"waf": "on"}, "waf"},
		{"client events typo", map[string]string{"pusherClientEvents": "yes"}, "pusherClientEvents"},
		{"wss typo", map[string]string{"wssEnabled": "off"}, "wssEnabled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(func(k string) (string, bool) {
				v, ok := tc.set[k]
				return v, ok
			})
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			if ce.Key != tc.wantKey {
				t.Errorf("error names key %q, want %q (%v)", ce.Key, tc.wantKey, err)
			}
			if !strings.Contains(err.Error(), tc.wantKey) {
				t.Errorf("message %q does not name %s", err, tc.wantKey)
			}
		})
	}
}

// TestFanoutDefault pins issue 5's rule: fan-out is on whenever the stack can
// run more than one task, and memory fan-out with several tasks is an error
// that names both keys.
func TestFanoutDefault(t *testing.T) {
	cases := []struct {
		name    string
		set     map[string]string
		want    string
		wantErr bool
	}{
		{"defaults (maxTasks 5)", nil, FanoutRedis, false},
		{"two tasks", map[string]string{"maxTasks": "2"}, FanoutRedis, false},
		{"one task", map[string]string{"maxTasks": "1"}, FanoutMemory, false},
		{"one task, redis asked for", map[string]string{"maxTasks": "1", "fanout": "redis"}, FanoutRedis, false},
		{"one task, memory asked for", map[string]string{"maxTasks": "1", "fanout": "memory"}, FanoutMemory, false},
		{"two tasks, memory asked for", map[string]string{"maxTasks": "2", "fanout": "memory"}, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig(func(k string) (string, bool) { v, ok := tc.set[k]; return v, ok })
			if tc.wantErr {
				if err == nil {
					t.Fatalf("accepted %v (fan-out %s)", tc.set, c.FanoutMode())
				}
				for _, key := range []string{"fanout", "maxTasks"} {
					if !strings.Contains(err.Error(), key) {
						t.Errorf("error %q does not name %s", err, key)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.FanoutMode(); got != tc.want {
				t.Errorf("fan-out %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseConfigAccepts(t *testing.T) {
	cases := []struct {
		name string
		set  map[string]string
	}{
		{"seed-like public tasks without NAT", map[string]string{"publicTasks": "true", "natGateways": "None"}},
		{"requests scaling", map[string]string{"scaling": "requests"}},
		{"one task without a broker", map[string]string{"fanout": "memory", "maxTasks": "1"}},
		{"one task on redis", map[string]string{"fanout": "redis", "maxTasks": "1"}},
		{"explicit idle timeout", map[string]string{"pingIntervalSeconds": "25", "idleTimeoutSeconds": "120"}},
		{"custom domain", map[string]string{"domainName": "ws.example.com", "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"}},
		{"alarm email", map[string]string{"alarmEmail": "ops@example.com"}},
		{"smallest task", map[string]string{"cpu": "256", "memory": "512", "connectionsPerTask": "5000"}},
		{"largest task", map[string]string{"cpu": "16384", "memory": "122880"}},
		{"waf at WAF's lowest rate limit", map[string]string{"waf": "true", "wafRateLimit": "10"}},
		{"Pusher only, with client events", map[string]string{"wssEnabled": "false", "pusherClientEvents": "true"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseConfig(func(k string) (string, bool) {
				v, ok := tc.set[k]
				return v, ok
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
