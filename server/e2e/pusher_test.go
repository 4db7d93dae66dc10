package e2e_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/internal/testnode"
	"github.com/wsfargate/websocket-service/server/internal/testproc"
	"github.com/wsfargate/websocket-service/server/internal/testredis"
)

// The Pusher app every instance of a test cluster serves.
const (
	pusherAppID     = "4242"
	pusherAppKey    = "e2e-app-key"
	pusherAppSecret = "e2e-secret-0123456789abcdefghijk"
)

// pusherEnv is the Pusher configuration of every instance, on top of
// startInstance's: one app, client events on, and no per-source limits,
// since every client and every API call comes from haproxy's address.
func pusherEnv(extra ...string) []string {
	return append([]string{
		"PUSHER_APP_ID=" + pusherAppID, "PUSHER_APP_KEY=" + pusherAppKey, "PUSHER_APP_SECRET=" + pusherAppSecret,
		"PUSHER_CLIENT_EVENTS=true",
		"SOURCE_MAX_CONNECTIONS=0", "SOURCE_CONNECT_RATE=0", "SOURCE_API_RATE=0",
	}, extra...)
}

// startPusherCluster runs three instances on rs (a single server, or the
// first node of a Redis Cluster with REDIS_CLUSTER=yes in env) behind
// haproxy, as startCluster does for its own Redis. A failed test shows the
// end of each instance's log, without the "connection opened" lines.
func startPusherCluster(t *testing.T, rs *testredis.Server, env ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, redis: rs, env: pusherEnv(env...)}
	for range 3 {
		c.ports = append(c.ports, testproc.FreePort(t))
	}
	for i := range 3 {
		c.procs = append(c.procs, c.startInstance(i))
	}
	c.proxy = startHAProxy(t, c.ports)
	t.Cleanup(func() {
		if t.Failed() {
			for i, p := range c.procs {
				var keep strings.Builder
				for line := range strings.Lines(p.Logs()) {
					if !strings.Contains(line, `"msg":"connection opened"`) {
						keep.WriteString(line)
					}
				}
				t.Logf("instance %d log (last 60 lines):\n%s", i, tail(keep.String(), 60))
			}
		}
	})
	return c
}

// TestPusherClientsBehindHAProxy runs every node:test scenario of
// server/testdata/pusher (pusher-js, Laravel Echo and the pusher SDK:
// public, private, presence with two users on three connections, client
// events, cache channels, signin and server-to-user events, encrypted
// channels, the HTTP API, bad input) against three instances on one Redis
// behind haproxy round robin. A scenario's connections land on different
// instances, and so do its HTTP API calls, so every event, presence change
// and count crosses tasks through Redis.
func TestPusherClientsBehindHAProxy(t *testing.T) {
	node, dir := testnode.PusherClients(t)
	c := startPusherCluster(t, testredis.Start(t, false), scenarioEnv...)
	runPusherScenarios(t, node, dir, c)
}

// TestPusherClientsOnRedisCluster runs the same scenarios with the three
// instances on a three-node Redis Cluster, where each channel's state may
// live on another node than the event stream, as on ElastiCache
// Serverless.
func TestPusherClientsOnRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole Pusher client suite a second time; run without -short")
	}
	node, dir := testnode.PusherClients(t)
	rc := testredis.StartCluster(t, false)
	c := startPusherCluster(t, rc.Nodes[0], append([]string{"REDIS_CLUSTER=yes"}, scenarioEnv...)...)
	runPusherScenarios(t, node, dir, c)
}

// scenarioMaxMembers is the presence cap the scenarios run with, small
// enough for presence.test.mjs to fill a channel.
const scenarioMaxMembers = "5"

// scenarioEnv is the instances' settings for the scenarios: the presence
// cap, and a metrics listener on a free port to see that every instance
// had a share of the connections and of the API calls.
var scenarioEnv = []string{"PUSHER_MAX_PRESENCE_MEMBERS=" + scenarioMaxMembers, "ADMIN_ADDR=127.0.0.1:0"}

// runPusherScenarios runs each *.test.mjs as a subtest against haproxy,
// then checks that every instance served some of the Pusher connections
// and some of the HTTP API calls.
func runPusherScenarios(t *testing.T, node, dir string, c *cluster) {
	files, err := filepath.Glob(filepath.Join(dir, "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no *.test.mjs in %s (%v)", dir, err)
	}
	env := append(os.Environ(), pusherNodeEnv(c.proxy)...)
	env = append(env, "PUSHER_MAX_PRESENCE_MEMBERS="+scenarioMaxMembers) // presence.test.mjs tests the cap
	for _, f := range files {
		file := filepath.Base(f)
		t.Run(strings.TrimSuffix(file, ".test.mjs"), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			// --test-force-exit: see server/app's TestPusherClients.
			cmd := exec.CommandContext(ctx, node, "--test", "--test-force-exit", "--test-reporter=spec", file)
			cmd.Dir = dir
			cmd.Env = env
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			cmd.WaitDelay = 5 * time.Second
			began := time.Now()
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("node --test %s did not finish within 3 minutes\n%s", file, out.String())
			}
			if err != nil {
				t.Fatalf("node --test %s: %v\n%s", file, err, out.String())
			}
			t.Logf("%s: %s in %v", file, summary(out.String()), time.Since(began).Round(time.Millisecond))
		})
	}
	for i, p := range c.procs {
		conns := strings.Count(p.Logs(), `"msg":"connection opened","protocol":"pusher"`)
		api, err := metricSum(p.Logs(), "pusher_api_requests_total")
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		t.Logf("instance %d served %d Pusher connections and %v HTTP API requests", i, conns, api)
		if conns == 0 || api == 0 {
			t.Errorf("instance %d served %d Pusher connections and %v API requests: haproxy did not spread the scenarios", i, conns, api)
		}
	}
}

// metricSum reads an instance's Prometheus metrics, from the admin
// address its log names, and sums every series of the metric name.
func metricSum(logs, name string) (float64, error) {
	m := regexp.MustCompile(`"msg":"admin listening","addr":"([^"]+)"`).FindStringSubmatch(logs)
	if m == nil {
		return 0, errors.New("no \"admin listening\" line in the log (ADMIN_ADDR unset?)")
	}
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
	for line := range strings.Lines(string(body)) {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %v", line, err)
		}
		sum += v
	}
	return sum, nil
}

// summary picks node's "ℹ pass N" and "ℹ fail N" lines out of its report.
func summary(report string) string {
	var parts []string
	for _, k := range []string{"tests", "pass", "fail", "skipped"} {
		if m := regexp.MustCompile(`(?m)^ℹ ` + k + ` (\d+)$`).FindStringSubmatch(report); m != nil {
			parts = append(parts, k+" "+m[1])
		}
	}
	return strings.Join(parts, ", ")
}

// pusherNodeEnv tells helpers.mjs where the server is.
func pusherNodeEnv(hostport string) []string {
	host, port, _ := strings.Cut(hostport, ":")
	return []string{
		"PUSHER_HOST=" + host, "PUSHER_PORT=" + port,
		"PUSHER_APP_ID=" + pusherAppID, "PUSHER_APP_KEY=" + pusherAppKey, "PUSHER_APP_SECRET=" + pusherAppSecret,
	}
}

// apiGet calls the Pusher HTTP API at hostport (an instance or haproxy)
// with a GET signed as the HTTP API reference describes, here and not
// with the server's own signer, and decodes the JSON answer into v.
func apiGet(hostport, path string, params url.Values, v any) error {
	full := "/apps/" + pusherAppID + path
	q := url.Values{}
	for k, vs := range params {
		q[k] = vs
	}
	q.Set("auth_key", pusherAppKey)
	q.Set("auth_timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	q.Set("auth_version", "1.0")
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range q {
			if !yield(k) {
				return
			}
		}
	})
	var pairs []string
	for _, k := range keys {
		pairs = append(pairs, k+"="+q.Get(k))
	}
	mac := hmac.New(sha256.New, []byte(pusherAppSecret))
	io.WriteString(mac, "GET\n"+full+"\n"+strings.Join(pairs, "&"))
	q.Set("auth_signature", hex.EncodeToString(mac.Sum(nil)))
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + hostport + full + "?" + q.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s on %s: HTTP %d %s", path, hostport, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s on %s: %v in %s", path, hostport, err, body)
	}
	return nil
}

// presenceView is what the HTTP API says of a presence channel.
type presenceView struct {
	Users             []string // GET /channels/{c}/users, sorted
	UserCount         int      // GET /channels/{c}?info=user_count,subscription_count
	SubscriptionCount int
}

func (v presenceView) String() string {
	return fmt.Sprintf("%d users, user_count %d, subscription_count %d", len(v.Users), v.UserCount, v.SubscriptionCount)
}

func getPresence(hostport, channel string) (presenceView, error) {
	var users struct{ Users []struct{ ID string } }
	if err := apiGet(hostport, "/channels/"+channel+"/users", nil, &users); err != nil {
		return presenceView{}, err
	}
	var info struct {
		UserCount         int `json:"user_count"`
		SubscriptionCount int `json:"subscription_count"`
	}
	if err := apiGet(hostport, "/channels/"+channel, url.Values{"info": {"user_count,subscription_count"}}, &info); err != nil {
		return presenceView{}, err
	}
	v := presenceView{UserCount: info.UserCount, SubscriptionCount: info.SubscriptionCount}
	for _, u := range users.Users {
		v.Users = append(v.Users, u.ID)
	}
	slices.Sort(v.Users)
	return v, nil
}

func tail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "")
}
