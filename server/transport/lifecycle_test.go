//go:build linux

package transport_test

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/config"
)

// rawLifecycle opens one connection with a hand-written handshake, reads
// the 101 response and the greeting, sends a close frame and reads the
// reply: the churn scenario's cycle, with a client that does nothing but
// that, so that what the process spends is the server's.
func rawLifecycle(t *testing.T, addr string, buf []byte) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	const request = "GET /wss HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := nc.Write([]byte(request)); err != nil {
		t.Fatal(err)
	}
	// The response's header, then the greeting: a text frame short enough
	// for a 2-byte header.
	got := 0
	for {
		n, err := nc.Read(buf[got:])
		if err != nil {
			t.Fatalf("reading the handshake and greeting: %v (have %q)", err, buf[:got])
		}
		got += n
		end := bytes.Index(buf[:got], []byte("\r\n\r\n"))
		if end < 0 {
			continue
		}
		if !bytes.HasPrefix(buf, []byte("HTTP/1.1 101 ")) || !bytes.Contains(bytes.ToLower(buf[:end]), []byte("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=")) {
			t.Fatalf("not a valid 101 response: %q", buf[:end])
		}
		frame := buf[end+4 : got]
		if len(frame) >= 2 && frame[0] == 0x81 && len(frame) >= 2+int(frame[1]) {
			if !bytes.Contains(frame, []byte(`"connection":"ok"`)) {
				t.Fatalf("greeting = %q", frame[2:])
			}
			break
		}
	}
	// A masked close frame with 1000 and no reason; the reply echoes it.
	if _, err := nc.Write([]byte{0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2}); err != nil {
		t.Fatal(err)
	}
	reply := buf[:4]
	if _, err := ioReadFull(nc, reply); err != nil || !bytes.Equal(reply, []byte{0x88, 0x02, 0x03, 0xe8}) {
		t.Fatalf("close reply = % x, %v; want 88 02 03 e8", reply, err)
	}
}

func ioReadFull(nc net.Conn, b []byte) (int, error) {
	got := 0
	for got < len(b) {
		n, err := nc.Read(b[got:])
		got += n
		if err != nil {
			return got, err
		}
	}
	return got, nil
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
// this process, the raw client's included: 132 when it was set (136 under
// the race detector), 182 with the library answering the client's close.
const maxLifecycleAllocs = 142

// A connection's life (upgrade, greeting, the client's close) costs the
// server two writes, the 101 response with the greeting and the close
// reply, and a bounded number of allocations: the client's close is
// answered without the library's read path, which formats errors and
// starts two timers.
func TestLifecycleCost(t *testing.T) {
	// The bench's settings: one address opens every connection.
	srv := start(t, func(c *config.Config) { c.SourceConnectRate, c.SourceMaxConnections = 0, 0 })
	addr := strings.TrimPrefix(srv.HTTP, "http://")
	buf := make([]byte, 4096)
	for range 20 { // first use of every path
		rawLifecycle(t, addr, buf)
	}
	const cycles = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	writes := writeCalls(t)
	for range cycles {
		rawLifecycle(t, addr, buf)
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
