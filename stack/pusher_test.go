package stack

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wsfargate/websocket-service/server/contract"
	"github.com/wsfargate/websocket-service/stack/stacktest"
)

// checkPusher checks the Pusher Channels app: generated credentials shaped
// like Pusher's, the id and key as plain (public) settings, the secret
// stored in Secrets Manager and handed to the container as an ECS secret
// that only the execution role may read, the tasks waiting for its value,
// and the Pusher options passed through from the stack configuration.
func checkPusher(t *testing.T, r *run, cfg Config) {
	t.Helper()
	id := r.one(t, "random:index/randomInteger:RandomInteger").Inputs
	if id["min"] != 1e6 || id["max"] != 1e7-1 {
		t.Errorf("app id range %v..%v, want seven digits", id["min"], id["max"])
	}
	if key := r.one(t, "random:index/randomId:RandomId").Inputs; key["byteLength"] != 10.0 {
		t.Errorf("key of %v bytes, want 10 (20 hex characters)", key["byteLength"])
	}
	if !regexp.MustCompile(`^[0-9a-f]{20}$`).MatchString(r.outputs["pusherKey"]) || !regexp.MustCompile(`^[1-9][0-9]{6}$`).MatchString(r.outputs["pusherAppId"]) {
		t.Errorf("pusherKey %q, pusherAppId %q", r.outputs["pusherKey"], r.outputs["pusherAppId"])
	}
	pw := r.named(t, "random:index/randomPassword:RandomPassword", "websocket-pusher-secret").Rule.Inputs
	if n, _ := pw["length"].(float64); n < 32 || pw["special"] != false {
		t.Errorf("app secret: length %v, special %v; want at least 32 alphanumerics", pw["length"], pw["special"])
	}

	arn := stacktest.SecretARN("websocket-pusher-secret")
	secret := r.named(t, "aws:secretsmanager/secret:Secret", "websocket-pusher-secret").Rule.Inputs
	window, set := secret["recoveryWindowInDays"]
	if cfg.ForceDestroy != (set && window == 0.0) || secret["kmsKeyId"] != nil {
		t.Errorf("secret recovery window %v (set %v) with forceDestroy %v, key %v", window, set, cfg.ForceDestroy, secret["kmsKeyId"])
	}
	if v := r.named(t, "aws:secretsmanager/secretVersion:SecretVersion", "websocket-pusher-secret").Rule.Inputs; v["secretId"] != arn {
		t.Errorf("secret value stored in %v, want %s", v["secretId"], arn)
	}

	c := container(t, r)
	env := map[string]string{}
	for _, kv := range c.Environment {
		env[kv.Name] = kv.Value
	}
	want := map[string]string{
		contract.EnvPusherAppID:      strconv.Itoa(stacktest.PusherAppID),
		contract.EnvPusherAppKey:     stacktest.PusherKey,
		envPusherClientEvents:        strconv.FormatBool(cfg.PusherClientEvents),
		contract.EnvWSSEnabled:       strconv.FormatBool(cfg.WSSEnabled),
		contract.EnvBehindCloudFront: "true",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("env %s=%q, want %q", k, env[k], v)
		}
	}
	if got, ok := env[contract.EnvAllowedOrigins]; ok != (cfg.AllowedOrigins != "") || got != cfg.AllowedOrigins {
		t.Errorf("env %s=%q (set %v), want %q", contract.EnvAllowedOrigins, got, ok, cfg.AllowedOrigins)
	}
	if _, ok := env[contract.EnvPusherAppSecret]; ok {
		t.Errorf("%s is a plain environment variable", contract.EnvPusherAppSecret)
	}
	if !slices.Contains(c.Secrets, secretRef{Name: contract.EnvPusherAppSecret, ValueFrom: arn}) {
		t.Errorf("container secrets %v lack %s from %s", c.Secrets, contract.EnvPusherAppSecret, arn)
	}
	// Only the execution role may read it, and nothing else may.
	var readers []string
	for _, p := range r.ofType("aws:iam/rolePolicy:RolePolicy") {
		if strings.Contains(p.Rule.Inputs["policy"].(string), arn) {
			readers = append(readers, p.Args.Name)
		}
	}
	if !slices.Equal(readers, []string{"websocket-execution"}) {
		t.Errorf("policies naming the app secret: %v, want the execution role's only", readers)
	}
	svc := r.ofType("aws:ecs/service:Service")[0]
	if !slices.ContainsFunc(svc.Args.RegisterRPC.GetDependencies(), func(u string) bool {
		return strings.HasSuffix(u, "aws:secretsmanager/secretVersion:SecretVersion::websocket-pusher-secret")
	}) {
		t.Errorf("the service does not wait for the app secret's value: depends on %v", svc.Args.RegisterRPC.GetDependencies())
	}
}
