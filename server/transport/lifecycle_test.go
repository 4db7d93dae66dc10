//go:build linux

package transport_test

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/wsfargate/websocket-service/server/config"
)

// rawLifecycle is the churn scenario's cycle with a raw client that does
// nothing else, so that what the process spends is the server's: the
// upgrade, the greeting, a close frame and its reply.
func rawLifecycle(t *testing.T, addr string) {
	t.Helper()
	c, err := rawDial(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.closeWith(1000); err != nil {
		t.Fatal(err)
	}
}

// writeCalls is the process's count of write system calls (write, writev
// and the like) from /proc/self/io.
func writeCalls(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "syscw: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("/proc/self/io has no syscw line")
	return 0
}

// maxLifecycleAllocs bounds the allocations of one connection's life in
// this process, the raw client's included: 138 when it was set (143 under
// the race detector); about 50 more with the library answering the
// client's close.
const maxLifecycleAllocs = 150

// A connection's life (upgrade, greeting, the client's close) costs the
// server two writes, the 101 response with the greeting and the close
// reply, and a bounded number of allocations: the client's close is
// answered without the library's read path, which formats errors and
// starts two timers.
func TestLifecycleCost(t *testing.T) {
	// The bench's settings: one address opens every connection.
	srv := start(t, func(c *config.Config) { c.SourceConnectRate, c.SourceMaxConnections = 0, 0 })
	addr := strings.TrimPrefix(srv.HTTP, "http://")
	for range 20 { // first use of every path
		rawLifecycle(t, addr)
	}
	const cycles = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	writes := writeCalls(t)
	for range cycles {
		rawLifecycle(t, addr)
	}
	writes = writeCalls(t) - writes
	runtime.ReadMemStats(&after)
	// The client writes twice per cycle (the request and its close).
	serverWrites := float64(writes)/cycles - 2
	allocs := float64(after.Mallocs-before.Mallocs) / cycles
	t.Logf("per connection: %.2f server writes, %.0f allocations (client included)", serverWrites, allocs)
	// The runtime's own wake-ups (an eventfd write) add a little.
	if serverWrites > 2.3 {
		t.Errorf("%.2f write calls per connection, want 2: the 101 response and the greeting go out in one", serverWrites)
	}
	if allocs > maxLifecycleAllocs {
		t.Errorf("%.0f allocations per connection, want at most %d", allocs, maxLifecycleAllocs)
	}
}
