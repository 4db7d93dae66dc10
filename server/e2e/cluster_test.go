package e2e_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/internal/testproc"
	"github.com/wsfargate/websocket-service/server/internal/testredis"
)

var binary string

func TestMain(m *testing.M) { os.Exit(testproc.RunMain(m, &binary)) }

// cluster is n wsserver processes sharing a Redis stream behind haproxy.
type cluster struct {
	t     *testing.T
	redis *testredis.Server
	ports []int
	procs []*testproc.Process
	proxy string // host:port clients connect to
	env   []string
}

func startCluster(t *testing.T, n int, persist bool, env ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, redis: testredis.Start(t, persist), env: env}
	for range n {
		c.ports = append(c.ports, testproc.FreePort(t))
	}
	for i := range n {
		c.procs = append(c.procs, c.startInstance(i))
	}
	c.proxy = startHAProxy(t, c.ports)
	return c
}

func (c *cluster) startInstance(i int) *testproc.Process {
	c.t.Helper()
	env := []string{
		"ADDR=127.0.0.1:" + strconv.Itoa(c.ports[i]), "ADMIN_ADDR=",
		"BROKER=redis", "REDIS_URL=" + c.redis.URL, "REDIS_STREAM=e2e",
		"DRAIN_DELAY=300ms", "DRAIN_SPREAD=1s", "SHUTDOWN_TIMEOUT=15s",
		"RATE_LIMIT=0", "HISTORY_SIZE=50000", "SEND_QUEUE=4096",
		"LOG_LEVEL=info", "EMF_INTERVAL=0", "STOP_POLL_INTERVAL=0",
		"SOURCE_MAX_CONNECTIONS=0", "SOURCE_CONNECT_RATE=0", // every client dials from one address
	}
	return testproc.Start(c.t, binary, append(env, c.env...)...)
}

// restart stops instance i with SIGTERM, as ECS does, waits for its clean
// exit, and starts it again on the same port.
func (c *cluster) restart(i int) {
	c.t.Helper()
	c.procs[i].Stop(c.t, 20*time.Second)
	c.procs[i] = c.startInstance(i)
}

func (c *cluster) url() string { return "ws://" + c.proxy + "/wss" }

// startHAProxy runs haproxy round-robin over the ports, checking /health
// like the target group does, and returns its address.
func startHAProxy(t *testing.T, ports []int) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("haproxy is not installed; .ci/run installs it (apt-get install -y haproxy)")
		}
		t.Skip("haproxy is not installed (apt-get install -y haproxy); skipped outside CI")
	}
	port := testproc.FreePort(t)
	var servers strings.Builder
	for i, p := range ports {
		fmt.Fprintf(&servers, "  server s%d 127.0.0.1:%d check\n", i, p)
	}
	cfg := fmt.Sprintf(`global
  maxconn 8000
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout tunnel 120s
frontend ws
  bind 127.0.0.1:%d
  default_backend tasks
backend tasks
  balance roundrobin
  option httpchk GET /health
  http-check expect status 200
  default-server inter 200ms fall 1 rise 1
  # A draining instance answers 503 until the check notices; retry the
  # upgrade elsewhere as the ALB would route around it.
  retry-on 503 conn-failure
  retries 3
  option redispatch
%s`, port, servers.String())
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", path, "-db")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy did not come up: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// percentiles summarises durations for the test log.
func percentiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return fmt.Sprintf("n=%d p50=%v p90=%v p99=%v max=%v", len(ds), at(0.5).Round(time.Millisecond), at(0.9).Round(time.Millisecond), at(0.99).Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
}
