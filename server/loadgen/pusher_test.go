package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/app"
	"github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/internal/testredis"
)

const testSecret = "a-test-secret-of-enough-length"

// startPusherServer runs the real server (server/app) in this process with
// a Pusher app, the per-source limits off as bench/run.sh has them, and
// env on top, until the test ends. It returns the server's root URL,
// ws://127.0.0.1:port.
func startPusherServer(t *testing.T, env map[string]string) string {
	t.Helper()
	vars := map[string]string{
		"ADDR": "127.0.0.1:0", "ADMIN_ADDR": "", "LOG_LEVEL": "warn", "EMF_INTERVAL": "0", "STOP_POLL_INTERVAL": "0",
		"DRAIN_DELAY": "0s", "DRAIN_SPREAD": "0s", "RATE_LIMIT": "0",
		"SOURCE_MAX_CONNECTIONS": "0", "SOURCE_CONNECT_RATE": "0", "SOURCE_API_RATE": "0",
		"PUSHER_APP_ID": "lg", "PUSHER_APP_KEY": "lg-key", "PUSHER_APP_SECRET": testSecret,
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := &listenLog{addr: make(chan string, 1)}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	stop, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(stop, cfg, logger, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Errorf("server did not stop within 15s")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	var addr string
	select {
	case addr = <-logs.addr:
	case err := <-done:
		t.Fatalf("server stopped at start: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not listen within 30s\n%s", logs.String())
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health did not answer 200 within 10s: %v", err)
		}
	}
	return "ws://" + addr
}

// listenLog keeps the server's JSON log and passes on the address of its
// "listening" line.
type listenLog struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr chan string
}

func (l *listenLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" && line.Addr != "" {
			select {
			case l.addr <- line.Addr:
			default:
			}
		}
	}
	return len(p), nil
}

func (l *listenLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// pusherConfig is a short run of mode against the test app at url.
func pusherConfig(mode Mode, url string) Config {
	c := testConfig(mode, url)
	c.AppID, c.AppKey, c.AppSecret = "lg", "lg-key", testSecret
	return c
}

func TestPusherModes(t *testing.T) {
	url := startPusherServer(t, nil)
	tests := []struct {
		name  string
		cfg   func() Config
		check func(t *testing.T, r *Result)
	}{
		{
			name: "pusher-fanout delivers every event once, in order",
			cfg: func() Config {
				c := pusherConfig(ModePusherFanout, url)
				c.Conns, c.Rate = 20, 50
				c.PID = os.Getpid() // the server runs in this process
				return c
			},
			check: func(t *testing.T, r *Result) {
				if r.Sent < 20 || r.APIRequests != r.Sent || r.Subscribed != 20 {
					t.Errorf("sent %d in %d requests, %d subscribed; want about 35 events, one a request, 20 subscribers", r.Sent, r.APIRequests, r.Subscribed)
				}
				wantAllDelivered(t, r, r.Sent*20)
				if r.Server == nil || r.Server.CPUMicrosPerMsg <= 0 {
					t.Errorf("server usage %+v, want CPU per delivery", r.Server)
				}
				if r.APILatency == nil || r.APILatency.Count != r.APIRequests || r.SubscribeLatency == nil || r.SubscribeLatency.Count != 20 {
					t.Errorf("API latency %+v, subscribe latency %+v, want one sample per request and subscriber", r.APILatency, r.SubscribeLatency)
				}
			},
		},
		{
			name: "pusher-channels spreads subscribers and batches channels in requests",
			cfg: func() Config {
				c := pusherConfig(ModePusherChannels, url)
				c.Conns, c.Channels, c.Rate, c.Batch, c.Publishers = 60, 12, 240, 5, 2
				return c
			},
			check: func(t *testing.T, r *Result) {
				// Groups of 5, 5 and 2 channels, 5 subscribers each.
				if r.Subscribed != 60 || r.Sent == 0 || r.APIRequests == 0 || r.Sent > 5*r.APIRequests || r.Sent < 4*r.APIRequests {
					t.Errorf("subscribed %d, %d events in %d requests; want 60 and 4 events a request on average", r.Subscribed, r.Sent, r.APIRequests)
				}
				wantAllDelivered(t, r, r.Sent*5)
				if r.EventsPerSec <= 0 || r.Params.Channels != 12 || r.Params.Batch != 5 {
					t.Errorf("events/s %.0f, params %+v", r.EventsPerSec, r.Params)
				}
			},
		},
		{
			name: "pusher-presence joins and leaves, and members converge",
			cfg: func() Config {
				c := pusherConfig(ModePusherPresence, url)
				c.Conns, c.Channels = 12, 4
				c.PID = os.Getpid()
				return c
			},
			check: func(t *testing.T, r *Result) {
				noSpuriousEviction(t, r)
				if r.Joins == 0 || r.Leaves != r.Joins || r.JoinsLeavesPerSec <= 0 {
					t.Errorf("joins %d leaves %d (%.0f/s), want as many leaves as joins", r.Joins, r.Leaves, r.JoinsLeavesPerSec)
				}
				if r.Subscribed != 4 || r.MemberEventsExpected != r.Joins+r.Leaves || r.MemberEvents != r.MemberEventsExpected || r.Unconverged != 0 {
					t.Errorf("observers %d, member events %d of %d, unconverged %d; want 4, all, 0",
						r.Subscribed, r.MemberEvents, r.MemberEventsExpected, r.Unconverged)
				}
				if r.SubscribeLatency == nil || r.SubscribeLatency.Count != r.Joins || r.Latency == nil || r.Latency.Count != r.Joins {
					t.Errorf("join latency %+v, member_added latency %+v, want one sample per join", r.SubscribeLatency, r.Latency)
				}
				if r.Server == nil || r.Server.CPUMicrosPerOp <= 0 {
					t.Errorf("server usage %+v, want CPU per join or leave", r.Server)
				}
				wantNoErrors(t, r)
			},
		},
		{
			name: "pusher-presence at a paced rate",
			cfg: func() Config {
				c := pusherConfig(ModePusherPresence, url)
				c.Conns, c.Channels, c.Rate = 6, 2, 100
				return c
			},
			check: func(t *testing.T, r *Result) {
				noSpuriousEviction(t, r)
				// 0.7 s at 100 joins/s, plus the limiter's small burst.
				if r.Joins < 30 || r.Joins > 90 || r.Unconverged != 0 {
					t.Errorf("joins %d, unconverged %d; want about 70 and 0", r.Joins, r.Unconverged)
				}
				wantNoErrors(t, r)
			},
		},
		{
			name: "pusher-hold keeps subscribed connections and samples the server",
			cfg: func() Config {
				c := pusherConfig(ModePusherHold, url)
				c.Conns, c.Channels, c.Rate = 30, 7, 1000
				c.PID = os.Getpid()
				return c
			},
			check: func(t *testing.T, r *Result) {
				if r.Held != 30 || r.HeldAtEnd != 30 || r.Subscribed != 30 {
					t.Errorf("held %d at start (%d subscribed), %d at end, want 30", r.Held, r.Subscribed, r.HeldAtEnd)
				}
				if r.Server == nil || r.Server.KiBPerConn != float64(r.Server.RSSDeltaKiB)/30 {
					t.Errorf("server usage %+v, want KiB per connection", r.Server)
				}
				wantNoErrors(t, r)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, runTest(t, tt.cfg()))
		})
	}
}

// noSpuriousEviction fails a presence test when the server closed a
// subscriber with 4100 ("slow consumer") although the generator kept
// reading it. Under join/leave churn a stopped feed could stay parked on
// its channel's log; the channel then took every reader for caught up and
// let go of entries a new subscriber still needed, whose cursor fell below
// the log's floor: a few runs in ten failed so before transport's
// feed.park.
func noSpuriousEviction(t *testing.T, r *Result) {
	t.Helper()
	if n := r.Errors["close_4100"]; n > 0 {
		t.Fatalf("the server evicted %d subscriber(s) that kept reading (close_4100); errors %v", n, r.Errors)
	}
}

func wantAllDelivered(t *testing.T, r *Result, want int64) {
	t.Helper()
	if r.Expected != want || r.Delivered != want || r.Lost != 0 || r.OutOfOrder != 0 || r.DeliveredRatio != 1 {
		t.Errorf("expected %d delivered %d lost %d out of order %d ratio %f, want all %d in order",
			r.Expected, r.Delivered, r.Lost, r.OutOfOrder, r.DeliveredRatio, want)
	}
	if r.Latency == nil || r.Latency.Count != r.Delivered || r.Latency.MaxUs > 2_000_000 {
		t.Errorf("latency %+v, want one sample per delivery, under 2s", r.Latency)
	}
	wantNoErrors(t, r)
}

// The failures the Pusher modes must count rather than hide.
func TestPusherFailuresAreCounted(t *testing.T) {
	url := startPusherServer(t, map[string]string{"PUSHER_MAX_PRESENCE_MEMBERS": "3"})
	t.Run("a wrong secret: API requests refused with 401, nothing expected", func(t *testing.T) {
		c := pusherConfig(ModePusherFanout, url)
		c.Conns, c.Rate, c.AppSecret = 3, 20, "not-the-secret-at-all"
		c.Drain = 100 * time.Millisecond
		r := runTest(t, c)
		if r.Errors["api_401"] == 0 || r.Errors["api_401"] != r.ErrorTotal || r.Expected != 0 || r.Delivered != 0 {
			t.Errorf("errors %v expected %d delivered %d, want only api_401 and nothing expected", r.Errors, r.Expected, r.Delivered)
		}
	})
	t.Run("a wrong secret: presence subscriptions refused with 401", func(t *testing.T) {
		c := pusherConfig(ModePusherPresence, url)
		c.Conns, c.Channels, c.AppSecret = 2, 1, "not-the-secret-at-all"
		r := runTest(t, c)
		// The observer and both members; the final check reads the API
		// with the same wrong secret.
		if r.Errors["subscription_error_401"] != 3 || r.Joins != 0 {
			t.Errorf("errors %v joins %d, want subscription_error_401: 3 and no joins", r.Errors, r.Joins)
		}
	})
	t.Run("a full presence channel", func(t *testing.T) {
		c := pusherConfig(ModePusherPresence, url)
		c.Conns, c.Channels = 4, 1 // the observer and 4 members, 3 allowed at once
		r := runTest(t, c)
		if r.Errors["subscription_error_403"] == 0 || r.Joins == 0 {
			t.Errorf("errors %v joins %d, want some subscription_error_403 and some joins", r.Errors, r.Joins)
		}
	})
	t.Run("a wrong key is refused at the greeting", func(t *testing.T) {
		c := pusherConfig(ModePusherHold, url)
		c.Conns, c.AppKey = 3, "no-such-key"
		r := runTest(t, c)
		if r.Connects != 0 || r.Errors["pusher_error_4001"] != 3 {
			t.Errorf("connects %d errors %v, want 0 and pusher_error_4001: 3", r.Connects, r.Errors)
		}
	})
}

// The cross-task path: every event and join goes through Redis.
func TestPusherModesOverRedis(t *testing.T) {
	rs := testredis.Start(t, false)
	url := startPusherServer(t, map[string]string{"BROKER": "redis", "REDIS_URL": rs.URL})
	c := pusherConfig(ModePusherFanout, url)
	c.Conns, c.Rate = 10, 50
	r := runTest(t, c)
	wantAllDelivered(t, r, r.Sent*10)

	c = pusherConfig(ModePusherPresence, url)
	c.Conns, c.Channels = 6, 2
	r = runTest(t, c)
	noSpuriousEviction(t, r)
	if r.Joins == 0 || r.Leaves != r.Joins || r.MemberEvents != r.MemberEventsExpected || r.Unconverged != 0 {
		t.Errorf("joins %d leaves %d, member events %d of %d, unconverged %d", r.Joins, r.Leaves, r.MemberEvents, r.MemberEventsExpected, r.Unconverged)
	}
	wantNoErrors(t, r)
}

func TestPusherCommandLine(t *testing.T) {
	url := startPusherServer(t, nil)
	var out, errOut bytes.Buffer
	t.Setenv("PUSHER_APP_SECRET", testSecret)
	err := Main(context.Background(), []string{"pusher-fanout", url, "-app-id", "lg", "-key", "lg-key",
		"-conns", "3", "-rate", "50", "-d", "300ms", "-json", "-progress", "none"}, &out, &errOut)
	if err != nil {
		t.Fatalf("Main: %v\n%s", err, errOut.String())
	}
	var r Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("output is not a Result: %v\n%s", err, out.String())
	}
	if r.Mode != ModePusherFanout || r.Params.Conns != 3 || r.Expected == 0 || r.Delivered != r.Expected {
		t.Errorf("result %+v", r)
	}
	out.Reset()
	err = Main(context.Background(), []string{"pusher-hold", "-key", "lg-key", "-conns", "2", "-d", "100ms", "-settle", "0s", "-progress", "none", url}, &out, &errOut)
	if err != nil {
		t.Fatalf("Main: %v\n%s", err, errOut.String())
	}
	for _, want := range []string{"pusher-hold " + url + ": completed", "held             2 at start (2 subscribed), 2 at end", "errors           none"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	// The secret from the environment is never shown in the help.
	errOut.Reset()
	Main(context.Background(), []string{"pusher-presence", "-h"}, &out, &errOut)
	if strings.Contains(errOut.String(), testSecret) || !strings.Contains(errOut.String(), "-secret") {
		t.Errorf("help shows the secret or lacks -secret:\n%s", errOut.String())
	}
}

func TestPusherURLs(t *testing.T) {
	tests := []struct {
		url, api, wantWS, wantAPI, wantErr string
	}{
		{"ws://127.0.0.1:8080", "", "ws://127.0.0.1:8080/app/k?client=loadgen&protocol=7&version=1", "http://127.0.0.1:8080", ""},
		{"wss://h.example/", "", "wss://h.example/app/k?client=loadgen&protocol=7&version=1", "https://h.example", ""},
		{"wss://h.example/app/k?protocol=7&client=js", "https://api.example:8443/", "wss://h.example/app/k?client=js&protocol=7", "https://api.example:8443", ""},
		{"ws://h/app/other", "", "", "", "not -key"},
		{"ws://h/wss", "", "", "", "server's root"},
		{"ws://h", "ftp://x", "", "", "-api-url"},
	}
	for _, tt := range tests {
		c := DefaultConfig(ModePusherFanout)
		c.URL, c.APIURL, c.AppKey = tt.url, tt.api, "k"
		ws, api, err := c.pusherURLs()
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err %v, want %q", tt.url, err, tt.wantErr)
			}
			continue
		}
		if err != nil || ws != tt.wantWS || api != tt.wantAPI {
			t.Errorf("%s: got %q %q %v, want %q %q", tt.url, ws, api, err, tt.wantWS, tt.wantAPI)
		}
	}
}

func TestValidatePusher(t *testing.T) {
	tests := []struct {
		name    string
		mode    Mode
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults fanout", ModePusherFanout, func(*Config) {}, ""},
		{"defaults channels", ModePusherChannels, func(*Config) {}, ""},
		{"defaults presence", ModePusherPresence, func(*Config) {}, ""},
		{"hold needs no secret", ModePusherHold, func(c *Config) { c.AppSecret = "" }, ""},
		{"no key", ModePusherHold, func(c *Config) { c.AppKey = "" }, "-key"},
		{"no secret", ModePusherFanout, func(c *Config) { c.AppSecret = "" }, "-secret"},
		{"no channels", ModePusherChannels, func(c *Config) { c.Channels = 0 }, "-channels"},
		{"batch too large", ModePusherChannels, func(c *Config) { c.Batch = 101 }, "-batch"},
		{"no publishers", ModePusherChannels, func(c *Config) { c.Publishers = 0 }, "-publishers"},
		{"no rate", ModePusherFanout, func(c *Config) { c.Rate = 0 }, "-rate (events"},
		{"negative presence rate", ModePusherPresence, func(c *Config) { c.Rate = -1 }, "-rate (joins"},
		{"seed path", ModePusherFanout, func(c *Config) { c.URL = "ws://h/wss" }, "server's root"},
	}
	for _, tt := range tests {
		c := DefaultConfig(tt.mode)
		tt.mutate(&c)
		err := c.Validate()
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

// serverEvent frames a probe as the server frames an HTTP API event.
func serverEvent(channel string, probe []byte) []byte {
	b := append([]byte(`{"event":"lg","channel":`), appendJSONString(nil, channel)...)
	b = append(append(b, `,"data":`...), appendJSONString(nil, string(probe))...)
	return append(b, '}')
}

func TestFastPusherProbeAgreesWithJSON(t *testing.T) {
	now := time.Unix(0, 1790000000123456789)
	tests := []struct {
		in     string
		fastOK bool
	}{
		{string(serverEvent("lg-ab-0", encodeProbe(nil, "ab-pub", 7, now, ""))), true},
		{string(serverEvent("lg-ab-0", encodeProbe(nil, "ab-pub", 0, now, "xxxx"))), true},
		{`{"event":"lg","channel":"c","data":"{\"src\":\"a\\\"b\",\"seq\":1,\"ts\":1}"}`, false}, // escaped source
		{`{"event":"lg","channel":"c","data":"{\"src\":\"ab\",\"ts\":1,\"seq\":1}"}`, false},     // other key order
		{`{"event":"lg","channel":"c","data":"{\"src\":\"ab\",\"seq\":1,\"ts\":1}","user_id":"u"}`, false},
		{`{"event":"pusher:error","data":{"code":4301,"message":"x"}}`, false},
		{`{"event":"pusher_internal:member_added","channel":"presence-c","data":"{\"user_id\":\"u-1\"}"}`, false},
		{`{"event":"lg","channel":"c","data":{"src":"ab","seq":1,"ts":1}}`, false}, // an object, as a client event
	}
	for _, tt := range tests {
		fast, ch, ok := fastPusherProbe([]byte(tt.in))
		if ok != tt.fastOK {
			t.Errorf("%s: fast path ok = %v, want %v", tt.in, ok, tt.fastOK)
			continue
		}
		if !ok {
			continue
		}
		slow, slowCh, err := decodePusherEventJSON([]byte(tt.in))
		if err != nil || slow != fast || slowCh != string(ch) {
			t.Errorf("%s: fast %+v %s, json %+v %s (%v)", tt.in, fast, ch, slow, slowCh, err)
		}
	}
	d, ch, err := decodePusherEvent([]byte(`{"event":"pusher:subscription_error","channel":"c","data":{"type":"AuthError","error":"x","status":401}}`))
	var pe *pusherError
	if !errors.As(err, &pe) || pe.kind != "subscription_error_401" || string(ch) != "c" || d != (delivery{}) {
		t.Errorf("subscription_error: %v %q %+v, want subscription_error_401", err, ch, d)
	}
	if _, _, err := decodePusherEvent([]byte(`{"event":"pusher:ping","data":{}}`)); !errors.Is(err, errNotProbe) {
		t.Errorf("pusher:ping: %v, want errNotProbe", err)
	}
}

// FuzzFastPusherProbe checks that whatever the fast path accepts,
// encoding/json reads the same way.
func FuzzFastPusherProbe(f *testing.F) {
	f.Add(serverEvent("lg-ab-0", encodeProbe(nil, "ab-pub", 7, time.Now(), "")))
	f.Add(serverEvent("lg-ab-0", encodeProbe(nil, "ab-pub", 7, time.Now(), "xx")))
	f.Add([]byte(`{"event":"pusher:error","data":{"code":4301,"message":"x"}}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		fast, ch, ok := fastPusherProbe(msg)
		if !ok {
			return
		}
		slow, slowCh, err := decodePusherEventJSON(msg)
		if err != nil || slow != fast || slowCh != string(ch) {
			t.Fatalf("%q: fast %+v %q, json %+v %q (%v)", msg, fast, ch, slow, slowCh, err)
		}
	})
}

func TestParseMemberEvent(t *testing.T) {
	tests := []struct {
		in   string
		want memberEvent
		ok   bool
	}{
		{`{"event":"pusher_internal:member_added","channel":"presence-c","data":"{\"user_id\":\"u-1\",\"user_info\":{\"t\":123}}"}`, memberEvent{added: true, userID: []byte("u-1"), ts: 123}, true},
		{`{"event":"pusher_internal:member_added","channel":"presence-c","data":"{\"user_id\":\"obs-1\",\"user_info\":{}}"}`, memberEvent{added: true, userID: []byte("obs-1")}, true},
		{`{"event":"pusher_internal:member_removed","channel":"presence-c","data":"{\"user_id\":\"u-2\"}"}`, memberEvent{userID: []byte("u-2")}, true},
		{`{"event":"lg","channel":"presence-c","data":"x"}`, memberEvent{}, false},
	}
	for _, tt := range tests {
		got, ok := parseMemberEvent([]byte(tt.in))
		if ok != tt.ok || got.added != tt.want.added || string(got.userID) != string(tt.want.userID) || got.ts != tt.want.ts {
			t.Errorf("%s: got %+v %v, want %+v %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestPusherFramesAreJSON(t *testing.T) {
	probe := encodeProbe(nil, "ab-pub", 1, time.Now(), "")
	for _, b := range [][]byte{
		appendTrigger(nil, []string{"a"}, probe),
		appendTrigger(nil, []string{"a", "b"}, probe),
		appendSubscribe(nil, "presence-x", "k:sig", presenceData("u-1", `{"t":1}`)),
		appendSubscribe(nil, "x\"\x01", "", ""),
		appendUnsubscribe(nil, "x"),
	} {
		if !json.Valid(b) {
			t.Errorf("not JSON: %s", b)
		}
	}
	var body struct {
		Name     string
		Channels []string
		Data     string
	}
	if err := json.Unmarshal(appendTrigger(nil, []string{"a", "b"}, probe), &body); err != nil || body.Name != "lg" || len(body.Channels) != 2 || body.Data != string(probe) {
		t.Errorf("trigger body %+v (%v)", body, err)
	}
}
