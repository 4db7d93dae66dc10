package loadgen

import (
	"context"
	"math"
	"net"
	"os"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestModes(t *testing.T) {
	tests := []struct {
		name   string
		server *broadcastServer
		cfg    func(url string) Config
		check  func(t *testing.T, r *Result)
	}{
		{
			name:   "churn against a healthy server",
			server: &broadcastServer{},
			cfg: func(url string) Config {
				c := testConfig(ModeChurn, url)
				c.Workers = 4
				c.PID = os.Getpid() // the test server runs in this process
				return c
			},
			check: func(t *testing.T, r *Result) {
				if r.Connects == 0 || r.ConnectsPerSec <= 0 {
					t.Errorf("connects %d at %.1f/s, want some", r.Connects, r.ConnectsPerSec)
				}
				wantNoErrors(t, r)
				if r.ConnectLatency == nil || r.ConnectLatency.Count != r.Connects {
					t.Errorf("connect latency %+v, want %d samples", r.ConnectLatency, r.Connects)
				}
				s := r.Server
				if s == nil || s.CPUMicrosPerConn <= 0 || math.Abs(s.CPUMicrosPerConn-s.CPUSeconds*1e6/float64(r.Connects)) > 1e-6 {
					t.Fatalf("server usage %+v, want CPU per connection lifecycle: cpu over %d connects", s, r.Connects)
				}
				if sum := s.CPUUserMicrosPerConn + s.CPUSysMicrosPerConn; math.Abs(sum-s.CPUMicrosPerConn) > 1e-6 {
					t.Errorf("user %.3f + sys %.3f µs per connection, want the total %.3f", s.CPUUserMicrosPerConn, s.CPUSysMicrosPerConn, s.CPUMicrosPerConn)
				}
				if r.Kernel != nil {
					t.Errorf("churn read the kernel's socket counters: %+v", r.Kernel)
				}
			},
		},
		{
			name:   "churn against a server at capacity counts the HTTP status",
			server: &broadcastServer{reject: 503},
			cfg: func(url string) Config {
				c := testConfig(ModeChurn, url)
				c.Workers = 2
				return c
			},
			check: func(t *testing.T, r *Result) {
				if r.Connects != 0 {
					t.Errorf("connects %d, want 0", r.Connects)
				}
				if r.Errors["http_503"] == 0 || r.Errors["http_503"] != r.ErrorTotal {
					t.Errorf("errors %v, want only http_503", r.Errors)
				}
			},
		},
		{
			name:   "hold counts a policy close under its code",
			server: &broadcastServer{closeWith: websocket.StatusPolicyViolation},
			cfg: func(url string) Config {
				c := testConfig(ModeHold, url)
				c.Conns, c.Rate = 5, 1000
				return c
			},
			check: func(t *testing.T, r *Result) {
				if r.Connects != 5 {
					t.Errorf("connects %d, want 5", r.Connects)
				}
				if r.Errors["close_1008"] != 5 || r.ErrorTotal != 5 {
					t.Errorf("errors %v, want close_1008: 5", r.Errors)
				}
				if r.HeldAtEnd != 0 {
					t.Errorf("held at end %d, want 0", r.HeldAtEnd)
				}
			},
		},
		{
			name:   "hold keeps every connection and samples the server",
			server: &broadcastServer{},
			cfg: func(url string) Config {
				c := testConfig(ModeHold, url)
				c.Conns, c.Rate = 50, 500
				c.PID = os.Getpid() // the test server runs in this process
				return c
			},
			check: func(t *testing.T, r *Result) {
				if r.Held != 50 || r.HeldAtEnd != 50 {
					t.Errorf("held %d at start, %d at end, want 50 and 50", r.Held, r.HeldAtEnd)
				}
				wantNoErrors(t, r)
				if r.Server == nil || r.Server.Before.RSSKiB <= 0 || r.Server.After.RSSKiB <= 0 {
					t.Fatalf("server usage %+v, want RSS samples", r.Server)
				}
				if r.Server.KiBPerConn != float64(r.Server.RSSDeltaKiB)/50 {
					t.Errorf("KiB per conn %.2f, want delta %d / 50", r.Server.KiBPerConn, r.Server.RSSDeltaKiB)
				}
				// Host-wide counters, so only what other work on the host
				// cannot make wrong: they were read, and count both ends.
				k := r.Kernel
				if k == nil || !k.HasSockstat() || k.Before.Sockstat == nil || k.After.Sockstat == nil || !k.BothEnds {
					t.Fatalf("kernel sockets %+v, want both sockstat samples of a server on this host", k)
				}
				if h := k.TCPMemKiBPerConnHalf; h == nil || *h != k.TCPMemKiBPerConn/2 {
					t.Errorf("server's half %v of %.3f KiB", opt(h), k.TCPMemKiBPerConn)
				}
			},
		},
		{
			name:   "fanout delivers every message once, in order",
			server: &broadcastServer{},
			cfg: func(url string) Config {
				c := testConfig(ModeFanout, url)
				c.Conns, c.Rate = 20, 100
				c.PID = os.Getpid()
				return c
			},
			check: func(t *testing.T, r *Result) {
				if r.Sent < 30 {
					t.Errorf("sent %d, want about 70", r.Sent)
				}
				if r.Expected != r.Sent*20 || r.Delivered != r.Expected || r.Lost != 0 || r.DeliveredRatio != 1 {
					t.Errorf("sent %d expected %d delivered %d lost %d ratio %f, want all of sent x 20",
						r.Sent, r.Expected, r.Delivered, r.Lost, r.DeliveredRatio)
				}
				if r.OutOfOrder != 0 {
					t.Errorf("out of order %d, want 0", r.OutOfOrder)
				}
				if r.Latency == nil || r.Latency.Count != r.Delivered || r.Latency.P50Us <= 0 || r.Latency.MaxUs > 2_000_000 {
					t.Errorf("latency %+v, want one sample per delivery, under 2s", r.Latency)
				}
				wantNoErrors(t, r)
				if r.Generator == nil || r.Generator.CPUSeconds <= 0 {
					t.Errorf("generator usage %+v, want some CPU for 1400 deliveries", r.Generator)
				}
				if r.Server == nil || r.Server.After.CPUTime < r.Server.Before.CPUTime {
					t.Errorf("server usage %+v, want CPU samples in order", r.Server)
				}
			},
		},
		{
			name:   "throughput clients get their own messages back",
			server: &broadcastServer{},
			cfg: func(url string) Config {
				c := testConfig(ModeThroughput, url)
				c.Conns = 5
				return c
			},
			check: func(t *testing.T, r *Result) {
				if r.Sent == 0 || r.RoundTripsPerSec <= 0 {
					t.Errorf("round trips %d (%.0f/s), want some", r.Sent, r.RoundTripsPerSec)
				}
				// Each message reaches all five clients; the last round may
				// straddle the deadline.
				if r.Delivered < 4*r.Sent || r.Delivered > 5*r.Sent+25 {
					t.Errorf("delivered %d for %d round trips, want about 5 per round trip", r.Delivered, r.Sent)
				}
				if r.Latency == nil || r.Latency.Count != r.Sent {
					t.Errorf("latency %+v, want %d samples", r.Latency, r.Sent)
				}
				wantNoErrors(t, r)
			},
		},
		{
			name:   "a wrong greeting is a protocol error",
			server: &broadcastServer{greeting: `{"hello":1}`},
			cfg: func(url string) Config {
				c := testConfig(ModeHold, url)
				c.Conns = 3
				return c
			},
			check: func(t *testing.T, r *Result) {
				if r.Connects != 0 || r.Errors[KindProtocol] != 3 {
					t.Errorf("connects %d errors %v, want 0 and protocol: 3", r.Connects, r.Errors)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := startServer(t, tt.server)
			tt.check(t, runTest(t, tt.cfg(url)))
		})
	}
}

func TestRefusedDialIsCounted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg := testConfig(ModeChurn, "ws://"+addr+"/wss")
	cfg.Workers = 1
	cfg.Duration = 200 * time.Millisecond
	r := runTest(t, cfg)
	if r.Errors[KindDialRefused] == 0 || r.Connects != 0 {
		t.Errorf("errors %v connects %d, want dial_refused and no connects", r.Errors, r.Connects)
	}
}

func TestInterruptedRunStillReports(t *testing.T) {
	url := startServer(t, &broadcastServer{})
	cfg := testConfig(ModeHold, url)
	cfg.Conns, cfg.Duration = 10, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	m := &Meter{}
	go func() {
		for m.Open.Load() < 10 {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // into the hold phase
		cancel()
	}()
	start := time.Now()
	r, err := Run(ctx, cfg, m)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("interrupted run took %v", took)
	}
	if !r.Interrupted || r.Held != 10 || r.ErrorTotal != 0 {
		t.Errorf("interrupted %v held %d errors %v, want true, 10, none", r.Interrupted, r.Held, r.Errors)
	}
	if open := m.Open.Load(); open != 0 {
		t.Errorf("%d connections still open after the run", open)
	}
}

func wantNoErrors(t *testing.T, r *Result) {
	t.Helper()
	if r.ErrorTotal != 0 {
		t.Errorf("errors %v, want none", r.Errors)
	}
}
