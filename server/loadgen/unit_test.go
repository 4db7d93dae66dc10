package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProcSample(t *testing.T) {
	const status = "Name:\tsrv\nVmPeak:\t  9999 kB\nVmRSS:\t   51234 kB\nThreads:\t4\n"
	tests := []struct {
		name     string
		status   string
		stat     string
		wantRSS  int64
		wantUser time.Duration
		wantSys  time.Duration
		wantErr  string
	}{
		{"plain", status, "42 (wsserver) S 1 42 42 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 4 0 100 0 0", 51234, 2500 * time.Millisecond, 1300 * time.Millisecond, ""},
		{"name with spaces and parens", status, "42 (a b) (c)) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 4 0 100 0 0", 51234, 70 * time.Millisecond, 30 * time.Millisecond, ""},
		{"all system", status, "42 (w) S 1 42 42 0 -1 4194560 100 0 0 0 0 12 0 0 20 0 4 0 100 0 0", 51234, 0, 120 * time.Millisecond, ""},
		{"no VmRSS", "Name:\tkthread\n", "42 (k) S 1 42 42 0 -1 0 0 0 0 0 1 1 0 0", 0, 0, 0, "no VmRSS line"},
		{"short stat", status, "42 (wsserver) S 1 42", 0, 0, 0, "fields after the name"},
		{"bad utime", status, "42 (w) S 1 42 42 0 -1 4194560 100 0 0 0 x 130 0 0 20 0 4 0 100 0 0", 0, 0, 0, "cpu field"},
		{"bad stime", status, "42 (w) S 1 42 42 0 -1 4194560 100 0 0 0 250 -x 0 0 20 0 4 0 100 0 0", 0, 0, 0, "cpu field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "42")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "status"), []byte(tt.status), 0o644)
			os.WriteFile(filepath.Join(dir, "stat"), []byte(tt.stat), 0o644)
			s, err := procReader{root: root, pid: 42}.sample()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.RSSKiB != tt.wantRSS || s.UserCPU != tt.wantUser || s.SysCPU != tt.wantSys || s.CPUTime != tt.wantUser+tt.wantSys {
				t.Errorf("got rss %d cpu %v = user %v + sys %v, want %d, %v + %v", s.RSSKiB, s.CPUTime, s.UserCPU, s.SysCPU, tt.wantRSS, tt.wantUser, tt.wantSys)
			}
		})
	}
}

func TestServerUsagePerUnit(t *testing.T) {
	at := time.Unix(1000, 0)
	before := ProcSample{At: at, RSSKiB: 1000, CPUTime: 1 * time.Second, UserCPU: 600 * time.Millisecond, SysCPU: 400 * time.Millisecond}
	after := ProcSample{At: at.Add(10 * time.Second), RSSKiB: 3000, CPUTime: 4 * time.Second, UserCPU: 1600 * time.Millisecond, SysCPU: 2400 * time.Millisecond}
	u := newServerUsage(7, before, after)
	if u.CPUSeconds != 3 || u.UserCPUSeconds != 1 || u.SysCPUSeconds != 2 || u.CPUPercent != 30 || u.RSSDeltaKiB != 2000 {
		t.Fatalf("usage %+v, want 3 s = 1 user + 2 sys, 30%%, +2000 KiB", u)
	}
	tests := []struct {
		name                string
		set                 func(u *ServerUsage)
		get                 func(u *ServerUsage) [3]float64
		wantTotal, wantUser float64
		wantSys             float64
	}{
		{"per delivery", func(u *ServerUsage) { u.perDelivery(1_000_000) },
			func(u *ServerUsage) [3]float64 {
				return [3]float64{u.CPUMicrosPerMsg, u.CPUUserMicrosPerMsg, u.CPUSysMicrosPerMsg}
			}, 3, 1, 2},
		{"per event", func(u *ServerUsage) { u.perEvent(1000) },
			func(u *ServerUsage) [3]float64 {
				return [3]float64{u.CPUMicrosPerEvent, u.CPUUserMicrosPerEvent, u.CPUSysMicrosPerEvent}
			}, 3000, 1000, 2000},
		{"per join or leave", func(u *ServerUsage) { u.perOp(3000) },
			func(u *ServerUsage) [3]float64 {
				return [3]float64{u.CPUMicrosPerOp, u.CPUUserMicrosPerOp, u.CPUSysMicrosPerOp}
			}, 1000, 1000.0 / 3, 2000.0 / 3},
		{"per connection lifecycle", func(u *ServerUsage) { u.perConn(100_000) },
			func(u *ServerUsage) [3]float64 {
				return [3]float64{u.CPUMicrosPerConn, u.CPUUserMicrosPerConn, u.CPUSysMicrosPerConn}
			}, 30, 10, 20},
		{"none counted", func(u *ServerUsage) { u.perConn(0) },
			func(u *ServerUsage) [3]float64 {
				return [3]float64{u.CPUMicrosPerConn, u.CPUUserMicrosPerConn, u.CPUSysMicrosPerConn}
			}, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newServerUsage(7, before, after)
			tt.set(u)
			got := tt.get(u)
			want := [3]float64{tt.wantTotal, tt.wantUser, tt.wantSys}
			for i := range got {
				if math.Abs(got[i]-want[i]) > 1e-9*math.Max(1, want[i]) {
					t.Errorf("total, user, sys = %v, want %v", got, want)
					break
				}
			}
		})
	}
}

func TestServerUsageOldResult(t *testing.T) {
	// A result written before user and system were recorded.
	var u ServerUsage
	if err := json.Unmarshal([]byte(`{"pid":1,"cpu_seconds":2.5,"cpu_percent":50,"cpu_us_per_msg":8.85}`), &u); err != nil {
		t.Fatal(err)
	}
	if u.HasSplit() || u.CPUMicrosPerMsg != 8.85 {
		t.Errorf("old result %+v: HasSplit %v, want false and its total kept", u, u.HasSplit())
	}
	if idle := (ServerUsage{}); !idle.HasSplit() {
		t.Error("a server that used no CPU has a split: zero and zero")
	}
}

func TestProcSampleOfThisProcess(t *testing.T) {
	s, err := procReader{root: "/proc", pid: os.Getpid()}.sample()
	if err != nil {
		t.Fatal(err)
	}
	if s.RSSKiB < 1024 {
		t.Errorf("RSS %d KiB, implausibly small for a Go test binary", s.RSSKiB)
	}
}

func TestDecodeFrame(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    delivery
		wantErr string
	}{
		{"probe", `{"message":{"src":"ab-pub","seq":7,"ts":1790000000123456789}}`, delivery{"ab-pub", 7, 1790000000123456789}, ""},
		{"probe with offset and padding", `{"offset":"9-1","message":{"src":"s","seq":1,"ts":5,"pad":"xx"}}`, delivery{"s", 1, 5}, ""},
		{"double from a JavaScript server", `{"message":{"src":"s","seq":1,"ts":1.79e18}}`, delivery{"s", 1, 1790000000000000000}, ""},
		{"someone else's message", `{"message":{"chat":"hi"}}`, delivery{}, "not a probe"},
		{"message that is not an object", `{"message":[1,2]}`, delivery{}, "not a probe"},
		{"greeting", `{"connection":"ok"}`, delivery{}, "not a probe"},
		{"error frame", `{"error":{"code":"invalid_json","detail":"x"}}`, delivery{}, "server error frame: invalid_json"},
		{"not JSON", `nope`, delivery{}, "decode frame"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeFrame([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestEncodeProbeRoundTrip(t *testing.T) {
	ts := time.Unix(0, 1790000000123456789)
	b := encodeProbe(nil, `we"ird`, 12, ts, "pp")
	var p probe
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if p != (probe{Src: `we"ird`, Seq: 12, TS: ts.UnixNano(), Pad: "pp"}) {
		t.Errorf("got %+v from %s", p, b)
	}
	d, err := decodeFrame(append(append([]byte(`{"message":`), b...), '}'))
	if err != nil || d.seq != 12 || d.ts != ts.UnixNano() {
		t.Errorf("decode: %+v %v", d, err)
	}
}

func TestServerErrorKind(t *testing.T) {
	for in, want := range map[string]string{
		"invalid_json":  "server_error_invalid_json",
		"Rate Limited!": "server_error_rate_limited_",
		"too-big/frame": "server_error_too_big_frame",
		"":              "server_error_",
	} {
		if got := (&serverError{code: in}).kind(); got != want {
			t.Errorf("kind(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClassifyDial(t *testing.T) {
	tests := []struct {
		name string
		err  error
		resp *http.Response
		want string
	}{
		{"status", errors.New("bad handshake"), &http.Response{StatusCode: 503}, "http_503"},
		{"forbidden", errors.New("bad handshake"), &http.Response{StatusCode: 403}, "http_403"},
		{"timeout", fmt.Errorf("dial: %w", context.DeadlineExceeded), nil, KindTimeoutConnect},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), nil, KindDialRefused},
		{"no descriptors", fmt.Errorf("dial: %w", syscall.EMFILE), nil, KindDialNoFD},
		{"no ports", fmt.Errorf("dial: %w", syscall.EADDRNOTAVAIL), nil, KindDialNoAddr},
		{"other", errors.New("tls: bad certificate"), nil, KindDialOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyDial(tt.err, tt.resp); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mode    Mode
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults churn", ModeChurn, func(*Config) {}, ""},
		{"defaults fanout", ModeFanout, func(*Config) {}, ""},
		{"wss url", ModeHold, func(c *Config) { c.URL = "wss://d111.cloudfront.net/wss" }, ""},
		{"unknown mode", "spray", func(*Config) {}, `mode "spray"`},
		{"http url", ModeHold, func(c *Config) { c.URL = "http://x/wss" }, "scheme must be ws or wss"},
		{"no host", ModeHold, func(c *Config) { c.URL = "ws:///wss" }, "no host"},
		{"zero duration", ModeChurn, func(c *Config) { c.Duration = 0 }, "-d (duration)"},
		{"zero workers", ModeChurn, func(c *Config) { c.Workers = 0 }, "-workers"},
		{"zero conns", ModeHold, func(c *Config) { c.Conns = 0 }, "-conns"},
		{"zero hold rate", ModeHold, func(c *Config) { c.Rate = 0 }, "-rate (connections"},
		{"zero publish rate", ModeFanout, func(c *Config) { c.Rate = 0 }, "-rate (messages"},
		{"negative payload", ModeThroughput, func(c *Config) { c.PayloadBytes = -1 }, "-payload"},
		{"negative pid", ModeThroughput, func(c *Config) { c.PID = -1 }, "-pid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig(tt.mode)
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestMain_CommandLine(t *testing.T) {
	url := startServer(t, &broadcastServer{})
	tests := []struct {
		name      string
		args      []string
		wantErr   string
		usage     bool
		checkOut  func(t *testing.T, out string)
		wantInErr string
	}{
		{name: "no mode", args: nil, wantErr: "no mode", usage: true},
		{name: "unknown mode", args: []string{"spray"}, wantErr: `unknown mode "spray"`, usage: true},
		{name: "bad flag", args: []string{"hold", "-conns", "x"}, wantErr: "invalid value", usage: true},
		{name: "bad url", args: []string{"churn", "http://x/"}, wantErr: "scheme must be ws or wss", usage: true},
		{name: "two urls", args: []string{"churn", url, url}, wantErr: "one URL expected", usage: true},
		{name: "bad progress", args: []string{"churn", "-progress", "fancy", url}, wantErr: "-progress", usage: true},
		{
			name: "json after the url", args: []string{"fanout", url, "-conns", "3", "-rate", "50", "-d", "300ms", "-json", "-progress", "lines", "-progress-interval", "100ms"},
			checkOut: func(t *testing.T, out string) {
				var r Result
				if err := json.Unmarshal([]byte(out), &r); err != nil {
					t.Fatalf("output is not a Result: %v\n%s", err, out)
				}
				if r.Mode != ModeFanout || r.Params.Conns != 3 || r.Delivered != r.Expected || r.Expected == 0 {
					t.Errorf("result %+v", r)
				}
			},
			wantInErr: "fanout ",
		},
		{
			name: "text summary", args: []string{"hold", "-conns", "4", "-d", "100ms", "-settle", "0s", "-progress", "none", url},
			checkOut: func(t *testing.T, out string) {
				for _, want := range []string{"hold " + url + ": completed", "held             4 at start, 4 at end", "errors           none"} {
					if !strings.Contains(out, want) {
						t.Errorf("summary lacks %q:\n%s", want, out)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := Main(context.Background(), tt.args, &out, &errOut)
			if tt.wantErr != "" {
				var ue UsageError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errors.As(err, &ue) != tt.usage {
					t.Fatalf("err %v, want usage error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Main: %v\nstderr: %s", err, errOut.String())
			}
			tt.checkOut(t, out.String())
			if tt.wantInErr != "" && !strings.Contains(errOut.String(), tt.wantInErr) {
				t.Errorf("stderr lacks progress %q:\n%s", tt.wantInErr, errOut.String())
			}
		})
	}
	var errOut bytes.Buffer
	if err := Main(context.Background(), []string{"churn", "-h"}, &bytes.Buffer{}, &errOut); !errors.Is(err, flag.ErrHelp) || !strings.Contains(errOut.String(), "-workers") {
		t.Errorf("churn -h: %v\n%s", err, errOut.String())
	}
}

func TestProgressDisplays(t *testing.T) {
	tests := []struct {
		name  string
		start func(w *bytes.Buffer, m *Meter) func()
	}{
		{"bar", func(w *bytes.Buffer, m *Meter) func() { return TerminalProgress(w, ModeHold, m) }},
		{"lines", func(w *bytes.Buffer, m *Meter) func() { return PlainProgress(w, ModeHold, m, 50*time.Millisecond) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w bytes.Buffer
			m := &Meter{}
			m.setPhase("ramp", time.Second)
			m.Open.Store(1234)
			m.Connects.Store(1234)
			stop := tt.start(&w, m)
			time.Sleep(700 * time.Millisecond)
			stop()
			out := w.String()
			for _, want := range []string{"hold", "ramp", "open 1234"} {
				if !strings.Contains(out, want) {
					t.Errorf("display lacks %q:\n%q", want, out)
				}
			}
		})
	}
}

func TestFastProbeAgreesWithJSON(t *testing.T) {
	tests := []struct {
		in     string
		fastOK bool
	}{
		{`{"message":{"src":"ab-pub","seq":7,"ts":1790000000123456789}}`, true},
		{`{"offset":"3-1","message":{"src":"ab-t1","seq":0,"ts":5,"pad":"xxx"}}`, true},
		{`{"message":{"src":"ab-pub","seq":7,"ts":1790000000123456800},"offset":"9"}`, true},
		{`{"message":{"src":"a\"b","seq":7,"ts":1}}`, false},     // escaped source
		{`{"message":{"src":"ab","seq":7,"ts":1.79e18}}`, false}, // a double in exponent form
		{`{"message":{"src":"ab","seq":-1,"ts":1}}`, false},      // negative
		{`{"message":{"src":"ab","ts":1,"seq":7}}`, false},       // other key order
		{`{"message": {"src":"ab","seq":7,"ts":1}}`, false},      // spaces
		{`{"message":{"src":"ab","seq":99999999999999999999,"ts":1}}`, false},
		{`{"x":"\"message\":{\"src\":\"ab\",\"seq\":1,\"ts\":1}"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			fast, ok := fastProbe([]byte(tt.in))
			if ok != tt.fastOK {
				t.Fatalf("fast path ok = %v, want %v", ok, tt.fastOK)
			}
			if !ok {
				return
			}
			slow, err := decodeFrameJSON([]byte(tt.in))
			if err != nil || slow != fast {
				t.Errorf("fast %+v, json %+v (%v)", fast, slow, err)
			}
		})
	}
}

// FuzzFastProbe checks that whatever the fast path accepts, encoding/json
// reads the same way.
func FuzzFastProbe(f *testing.F) {
	f.Add([]byte(`{"message":{"src":"ab-pub","seq":7,"ts":1790000000123456789}}`))
	f.Add([]byte(`{"offset":"3-1","message":{"src":"ab-t1","seq":0,"ts":5,"pad":"xxx"}}`))
	f.Add([]byte(`{"error":{"code":"invalid_json"}}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		fast, ok := fastProbe(msg)
		if !ok {
			return
		}
		slow, err := decodeFrameJSON(msg)
		if err != nil || slow != fast {
			t.Fatalf("%q: fast %+v, json %+v (%v)", msg, fast, slow, err)
		}
	})
}
