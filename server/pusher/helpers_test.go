package pusher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/hub"
	"github.com/wsfargate/websocket-service/server/metrics"
	"github.com/wsfargate/websocket-service/server/pusher"
	"github.com/wsfargate/websocket-service/server/pusher/auth"
	"github.com/wsfargate/websocket-service/server/transport"
)

const (
	appID     = "42"
	appKey    = "testkey"
	appSecret = "0123456789abcdef0123456789abcdef"
)

// testApp is a transport.Server with a Pusher app on a loopback listener.
type testApp struct {
	*transport.Server
	App     *pusher.App
	HTTP    string // http://127.0.0.1:port
	WS      string // ws://127.0.0.1:port/app/testkey?protocol=7
	Metrics *metrics.Metrics
	Config  *config.Config
}

// startApp runs a server with a Pusher app, client events on, and the
// given settings on top.
func startApp(t testing.TB, env map[string]string) *testApp {
	t.Helper()
	return startAppWith(t, env, nil)
}

// startAppWith is startApp with the app's parts from parts (nil: a single
// process's); parts may start what they need on ctx.
func startAppWith(t testing.TB, env map[string]string, parts func(ctx context.Context, opts *pusher.Options) func(*pusher.App)) *testApp {
	t.Helper()
	vars := map[string]string{
		"PUSHER_APP_ID": appID, "PUSHER_APP_KEY": appKey, "PUSHER_APP_SECRET": appSecret,
		"PUSHER_CLIENT_EVENTS": "true",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	log := hub.NewLog(cfg.HistorySize, hub.StartOffset(time.Now()))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := transport.New(cfg, log, log, m, logger)
	t.Cleanup(srv.Close)
	hooks := pusher.Webhooks(cfg, logger, m.Registry)
	ctx, cancel := context.WithCancel(context.Background())
	opts := pusher.Options{Registry: m.Registry, Webhooks: hooks}
	started := func(*pusher.App) {}
	if parts != nil {
		started = parts(ctx, &opts)
	}
	app := pusher.New(cfg, srv, logger, opts)
	started(app)
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	app.Routes(mux)
	hs := httptest.NewServer(mux)
	go srv.Run(ctx)
	if hooks != nil {
		go func() { _ = hooks.Run(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		hs.CloseClientConnections()
		hs.Close()
	})
	return &testApp{
		Server: srv, App: app, HTTP: hs.URL, Metrics: m, Config: cfg,
		WS: "ws" + strings.TrimPrefix(hs.URL, "http") + "/app/" + appKey + "?protocol=7&client=go-test&version=1",
	}
}

func testContext(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// frame is a server frame as a client sees it. Data is decoded once more
// when the server sent it as a JSON string, as pusher-js does.
type frame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	UserID  string          `json:"user_id"`
}

// data returns the frame's data, unwrapped from a JSON string if it is one.
func (f frame) data() json.RawMessage {
	var s string
	if json.Unmarshal(f.Data, &s) == nil {
		return json.RawMessage(s)
	}
	return f.Data
}

// client is one Pusher connection.
type client struct {
	t        testing.TB
	conn     *websocket.Conn
	SocketID string
	frames   chan frame
	closed   chan websocket.StatusCode
}

// dial connects and waits for connection_established.
func (a *testApp) dial(t testing.TB) *client {
	t.Helper()
	c := dialURL(t, a.WS)
	f := c.next("pusher:connection_established")
	var est struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}
	if err := json.Unmarshal(f.data(), &est); err != nil {
		t.Fatalf("connection_established data %s: %v", f.Data, err)
	}
	c.SocketID = est.SocketID
	return c
}

// dialURL connects to u and reads its frames in the background.
func dialURL(t testing.TB, u string) *client {
	t.Helper()
	conn, _, err := websocket.Dial(testContext(t, 5*time.Second), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: conn, frames: make(chan frame, 1024), closed: make(chan websocket.StatusCode, 1)}
	t.Cleanup(func() { _ = conn.CloseNow() })
	go func() {
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				c.closed <- websocket.CloseStatus(err)
				close(c.frames)
				return
			}
			var f frame
			if err := json.Unmarshal(b, &f); err != nil {
				t.Errorf("server sent a frame that is not JSON: %q", b)
			}
			c.frames <- f
		}
	}()
	return c
}

// send writes a frame.
func (c *client) send(v any) {
	c.t.Helper()
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := c.conn.Write(testContext(c.t, 5*time.Second), websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next frame, which must be event.
func (c *client) next(event string) frame {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatalf("connection closed while waiting for %s", event)
		}
		if f.Event != event {
			c.t.Fatalf("got %s %s on %q, want %s", f.Event, f.Data, f.Channel, event)
		}
		return f
	case <-time.After(5 * time.Second):
		c.t.Fatalf("no %s within 5s", event)
	}
	return frame{}
}

// until returns the next frame that is event, passing over others.
func (c *client) until(event string) frame {
	c.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatalf("connection closed while waiting for %s", event)
			}
			if f.Event == event {
				return f
			}
		case <-deadline:
			c.t.Fatalf("no %s within 5s", event)
		}
	}
}

// quiet asserts that no frame arrives for a while.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if ok {
			c.t.Fatalf("unexpected %s %s on %q", f.Event, f.Data, f.Channel)
		}
	case <-time.After(d):
	}
}

// closedWith waits for the server to close the connection with code.
func (c *client) closedWith(code websocket.StatusCode) {
	c.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case <-c.frames: // frames before the close, e.g. a pusher:error
		case got := <-c.closed:
			if got != code {
				c.t.Fatalf("closed with %d, want %d", got, code)
			}
			return
		case <-deadline:
			c.t.Fatalf("not closed within 5s, want %d", code)
		}
	}
}

// subscribe subscribes to channel, signing as the app's backend would,
// with channelData for presence channels.
func (c *client) subscribe(channel, channelData string) {
	c.t.Helper()
	data := map[string]string{"channel": channel}
	if !strings.HasPrefix(channel, "presence-") {
		channelData = ""
	}
	if strings.HasPrefix(channel, "private-") || strings.HasPrefix(channel, "presence-") {
		data["auth"] = appKey + ":" + auth.SignChannel(appSecret, c.SocketID, channel, channelData)
	}
	if channelData != "" {
		data["channel_data"] = channelData
	}
	c.send(map[string]any{"event": "pusher:subscribe", "data": data})
}

// api makes a signed HTTP API request and decodes the JSON answer.
func (a *testApp) api(t testing.TB, method, path string, query url.Values, body any, secret string) (int, map[string]any) {
	t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	full := "/apps/" + appID + path
	q := auth.SignRequest(method, full, query, raw, appKey, secret, time.Now())
	return a.rawAPI(t, method, full+"?"+q.Encode(), raw)
}

func (a *testApp) rawAPI(t testing.TB, method, pathAndQuery string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, a.HTTP+pathAndQuery, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %v", method, pathAndQuery, err)
	}
	return resp.StatusCode, out
}

// trigger publishes an event through the HTTP API and checks it was taken.
func (a *testApp) trigger(t testing.TB, channel, event, data string, extra map[string]any) {
	t.Helper()
	body := map[string]any{"name": event, "channel": channel, "data": data}
	for k, v := range extra {
		body[k] = v
	}
	if code, out := a.api(t, "POST", "/events", nil, body, appSecret); code != 200 {
		t.Fatalf("trigger: %d %v", code, out)
	}
}

func presenceData(id string, info any) string {
	b, _ := json.Marshal(map[string]any{"user_id": id, "user_info": info})
	return string(b)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return string(b)
}
