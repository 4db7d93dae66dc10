package transport_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc/test/bufconn"

	"github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/hub"
	"github.com/wsfargate/websocket-service/server/metrics"
	"github.com/wsfargate/websocket-service/server/transport"
)

// BenchmarkBroadcast publishes through one client to n in-process clients
// over in-memory connections (no file descriptors, so 10k fit under the
// nofile limit) and reports the cost per delivered message. The figures
// include the in-process clients' own reads, so they overstate the server.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) { benchmarkBroadcast(b, n) })
	}
}

func benchmarkBroadcast(b *testing.B, n int) {
	cfg := defaultConfig(b)
	cfg.RateLimit = 0
	cfg.MaxConnections = n + 1
	cfg.SourceMaxConnections, cfg.SourceConnectRate = 0, 0 // every client dials from one address
	cfg.SendQueue = 1024
	srv, ln := startInMemory(b, cfg)
	ctx := testContext(b, 10*time.Minute)
	dialer := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return ln.DialContext(ctx) },
	}}

	var delivered atomic.Int64
	var wg sync.WaitGroup
	clients := make([]*websocket.Conn, n)
	for i := range clients {
		c, _, err := websocket.Dial(ctx, "ws://bench/wss", &websocket.DialOptions{HTTPClient: dialer})
		if err != nil {
			b.Fatalf("dial %d: %v", i, err)
		}
		clients[i] = c
		if _, _, err := c.Read(ctx); err != nil { // greeting
			b.Fatal(err)
		}
		wg.Go(func() {
			buf := make([]byte, 256)
			for {
				_, r, err := c.Reader(ctx)
				if err != nil {
					return
				}
				for {
					if _, err := r.Read(buf); err == io.EOF {
						break
					} else if err != nil {
						return
					}
				}
				delivered.Add(1)
			}
		})
	}
	for srv.Connections() < int64(n) {
		time.Sleep(time.Millisecond)
	}
	pub := clients[0]
	msg := []byte(`{"type":"tick","price":101.25,"symbol":"AMZN"}`)
	const window = 32 // broadcasts in flight, well under SEND_QUEUE
	delivered.Store(0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := range b.N {
		for delivered.Load() < int64(i-window)*int64(n) {
			runtime.Gosched()
		}
		if err := pub.Write(ctx, websocket.MessageText, msg); err != nil {
			b.Fatal(err)
		}
	}
	for delivered.Load() < int64(b.N)*int64(n) {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	deliveries := float64(b.N) * float64(n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/deliveries, "allocs/delivery")
	for _, c := range clients {
		c.CloseNow()
	}
	wg.Wait()
}

func startInMemory(b *testing.B, cfg *config.Config) (*transport.Server, *bufconn.Listener) {
	m := metrics.New()
	log := hub.NewLog(max(cfg.HistorySize, cfg.SendQueue+1), hub.StartOffset(time.Now()))
	srv := transport.New(cfg, log, log, m, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.Cleanup(srv.Close)
	ln := bufconn.Listen(16 << 10)
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	b.Cleanup(func() { hs.Close() })
	return srv, ln
}

// BenchmarkLoopbackWrite is the floor under every delivery: one write of a
// broadcast-sized frame to a loopback TCP socket whose reader drains it on
// another core, round-robin over as many sockets as a fan-out has clients.
// A server that writes each delivery with its own system call cannot spend
// less per delivery than this on the same machine.
func BenchmarkLoopbackWrite(b *testing.B) {
	for _, n := range []int{500, 5_000} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) { benchmarkLoopbackWrite(b, n) })
	}
}

func benchmarkLoopbackWrite(b *testing.B, conns int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	servers := make([]net.Conn, conns)
	var wg sync.WaitGroup
	for i := range servers {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
		if servers[i], err = ln.Accept(); err != nil {
			b.Fatal(err)
		}
	}
	frame := make([]byte, 90) // a typical broadcast frame, header included
	i := 0
	for b.Loop() {
		if _, err := servers[i%conns].Write(frame); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.StopTimer()
	for _, c := range servers {
		c.Close()
	}
	wg.Wait()
}
