package demo_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsfargate/websocket-service/server/demo"
	"github.com/wsfargate/websocket-service/server/pusher/auth"
)

const socketID = "123.456"

// publishCall is one call of a fake PublishFunc.
type publishCall struct{ channel, event, data string }

type fakePublisher struct {
	mu    sync.Mutex
	calls []publishCall
	err   error
}

func (f *fakePublisher) publish(_ context.Context, channel, event, data string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, publishCall{channel, event, data})
	return f.err
}

func newPusherHandler(pub demo.PublishFunc) http.Handler {
	return demo.PusherHandler(demo.PusherOptions{
		AppID: testAppID, Key: testAppKey, Secret: testAppSecret, ClientEvents: true, Publish: pub,
	})
}

// post sends a form to h and returns the recorded answer.
func post(h http.Handler, path, contentType, body string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

const form = "application/x-www-form-urlencoded"

func TestPusherRoutes(t *testing.T) {
	site := startPusherSite(t, nil)
	tests := []struct {
		name, method, path string
		status             int
		contentType        string
		bodyHas            string
	}{
		{"page", "GET", "/demo/pusher", 200, "text/html; charset=utf-8", `<script src="/demo/pusher/vendor/pusher.min.js"></script>`},
		{"page with slash", "GET", "/demo/pusher/", 200, "text/html; charset=utf-8", "<h1>Pusher Channels</h1>"},
		{"page head", "HEAD", "/demo/pusher", 200, "text/html; charset=utf-8", ""},
		{"script", "GET", "/demo/pusher/app.js", 200, "text/javascript; charset=utf-8", "new window.Pusher("},
		{"library", "GET", "/demo/pusher/vendor/pusher.min.js", 200, "text/javascript; charset=utf-8", `const r="` + demo.PusherJSVersion + `"`},
		{"library banner", "GET", "/demo/pusher/vendor/pusher.min.js.LICENSE.txt", 200, "text/plain; charset=utf-8", "Pusher JavaScript Library v" + demo.PusherJSVersion},
		{"licence", "GET", "/demo/pusher/vendor/LICENCE", 200, "text/plain; charset=utf-8", "Copyright (c) 2020 Pusher, Ltd"},
		{"config", "GET", "/demo/pusher/config", 200, "application/json", `"key":"` + testAppKey + `"`},
		{"shared style", "GET", "/demo/app.css", 200, "text/css; charset=utf-8", "main.pusher"},
		{"broadcast page untouched", "GET", "/demo", 200, "text/html; charset=utf-8", "<h1>WebSocket broadcast</h1>"},
		{"source map is not served", "GET", "/demo/pusher/vendor/pusher.min.js.map", 404, "text/plain; charset=utf-8", "404"},
		{"vendor note is not served", "GET", "/demo/pusher/vendor/README.md", 404, "text/plain; charset=utf-8", "404"},
		{"unknown", "GET", "/demo/pusher/other", 404, "text/plain; charset=utf-8", "404"},
		{"auth is POST only", "GET", "/demo/pusher/auth", 405, "text/plain; charset=utf-8", ""},
		{"trigger is POST only", "GET", "/demo/pusher/trigger", 405, "text/plain; charset=utf-8", ""},
		{"page is GET only", "POST", "/demo/pusher/", 405, "text/plain; charset=utf-8", ""},
		{"Pusher API untouched", "GET", "/apps/" + testAppID + "/channels", 401, "application/json", "auth_signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := fetch(t, tc.method, site.URL+tc.path, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %s: status %d, want %d; body %.300q", tc.method, tc.path, resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
			if !strings.Contains(body, tc.bodyHas) {
				t.Errorf("body does not contain %q:\n%.300s", tc.bodyHas, body)
			}
			if strings.HasPrefix(tc.path, "/demo") && tc.status != 405 {
				if got := resp.Header.Get("Content-Security-Policy"); got != demo.ContentSecurityPolicy {
					t.Errorf("CSP %q, want %q", got, demo.ContentSecurityPolicy)
				}
			}
		})
	}
}

// The page learns the key, never the secret.
func TestPusherConfig(t *testing.T) {
	site := startPusherSite(t, map[string]string{"PUSHER_CLIENT_EVENTS": "false"})
	resp, body := fetch(t, "GET", site.URL+demo.PusherConfigPath, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if strings.Contains(body, testAppSecret) {
		t.Fatalf("the config holds the app secret: %s", body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"key": testAppKey, "clientEvents": false, "authEndpoint": demo.PusherAuthPath, "triggerEndpoint": demo.PusherTriggerPath,
		"presencePrefix": "presence-demo-", "triggerPrefix": "demo-", "maxName": float64(demo.MaxDisplayName),
		"maxData": float64(demo.MaxTriggerData), "library": "pusher-js " + demo.PusherJSVersion,
	}
	for k, v := range want {
		if cfg[k] != v {
			t.Errorf("%s = %v, want %v", k, cfg[k], v)
		}
	}
	if len(cfg) != len(want) {
		t.Errorf("config has %d fields, want %d: %s", len(cfg), len(want), body)
	}
}

func TestPusherAuthSigns(t *testing.T) {
	h := newPusherHandler((&fakePublisher{}).publish)
	t.Run("presence", func(t *testing.T) {
		const channel = "presence-demo-lobby"
		w := post(h, demo.PusherAuthPath, form+"; charset=UTF-8",
			url.Values{"socket_id": {socketID}, "channel_name": {channel}, "name": {"  Ana María  "}}.Encode(), nil)
		if w.Code != 200 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		var got demo.ChannelAuthorization
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if err := auth.VerifyChannel(testAppKey, testAppSecret, socketID, channel, got.ChannelData, got.Auth); err != nil {
			t.Fatalf("the handler's signature does not verify: %v (%+v)", err, got)
		}
		if err := auth.VerifyChannel(testAppKey, testAppSecret, "123.457", channel, got.ChannelData, got.Auth); err == nil {
			t.Error("the signature verifies for another socket")
		}
		var member struct {
			UserID   string            `json:"user_id"`
			UserInfo map[string]string `json:"user_info"`
		}
		if err := json.Unmarshal([]byte(got.ChannelData), &member); err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^visitor-[0-9a-f]{16}$`).MatchString(member.UserID) {
			t.Errorf("user_id %q", member.UserID)
		}
		if member.UserInfo["name"] != "Ana María" || len(member.UserInfo) != 1 {
			t.Errorf("user_info %v, want the trimmed name only", member.UserInfo)
		}
	})
	t.Run("each join is a new member", func(t *testing.T) {
		ids := map[string]bool{}
		for range 20 {
			w := post(h, demo.PusherAuthPath, form, "socket_id=1.2&channel_name=presence-demo-x&name=bo", nil)
			var got demo.ChannelAuthorization
			_ = json.Unmarshal(w.Body.Bytes(), &got)
			ids[got.ChannelData] = true
		}
		if len(ids) != 20 {
			t.Errorf("%d distinct members in 20 authorizations", len(ids))
		}
	})
	t.Run("private", func(t *testing.T) {
		const channel = "private-demo-notes"
		w := post(h, demo.PusherAuthPath, form, "socket_id="+socketID+"&channel_name="+channel, nil)
		if w.Code != 200 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		var got map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if _, ok := got["channel_data"]; ok || len(got) != 1 {
			t.Errorf("answer %v, want auth only", got)
		}
		if err := auth.VerifyChannel(testAppKey, testAppSecret, socketID, channel, "", got["auth"]); err != nil {
			t.Fatalf("the handler's signature does not verify: %v", err)
		}
	})
}

func TestPusherAuthRefuses(t *testing.T) {
	h := newPusherHandler((&fakePublisher{}).publish)
	ok := url.Values{"socket_id": {socketID}, "channel_name": {"presence-demo-lobby"}, "name": {"ana"}}
	with := func(k string, v ...string) string {
		q := url.Values{}
		for kk, vv := range ok {
			q[kk] = vv
		}
		if v == nil {
			delete(q, k)
		} else {
			q[k] = v
		}
		return q.Encode()
	}
	tests := []struct {
		name        string
		contentType string
		body        string
		header      http.Header
		status      int
		says        string
	}{
		// Channels the demo does not sign for.
		{"another presence channel", form, with("channel_name", "presence-lobby"), nil, 403, "signs only channels named presence-demo-"},
		{"another private channel", form, with("channel_name", "private-orders"), nil, 403, "signs only"},
		{"encrypted demo channel", form, with("channel_name", "private-encrypted-demo-x"), nil, 403, "signs only"},
		{"presence cache channel", form, with("channel_name", "presence-cache-demo-x"), nil, 403, "signs only"},
		{"the bare presence prefix", form, with("channel_name", "presence-demo-"), nil, 403, "signs only"},
		{"the bare private prefix", form, with("channel_name", "private-demo-"), nil, 403, "signs only"},
		{"prefix without the dash", form, with("channel_name", "private-demox"), nil, 403, "signs only"},
		{"public channel", form, with("channel_name", "demo-news"), nil, 403, "signs only"},
		{"letter case", form, with("channel_name", "Presence-demo-x"), nil, 403, "signs only"},
		{"cross-origin page", form, with(""), http.Header{"Origin": {"https://evil.example"}}, 403, "cross-origin"},

		// Bad input.
		{"no socket_id", form, with("socket_id"), nil, 400, "socket_id is required"},
		{"socket_id not digits", form, with("socket_id", "abc.def"), nil, 400, "not a socket id"},
		{"socket_id three parts", form, with("socket_id", "1.2.3"), nil, 400, "not a socket id"},
		{"socket_id twice", form, with("socket_id", "1.2", "1.3"), nil, 400, "given 2 times"},
		{"no channel_name", form, with("channel_name"), nil, 400, "channel_name is required"},
		{"channel with a space", form, with("channel_name", "presence-demo-a b"), nil, 400, "invalid name"},
		{"channel with a colon", form, with("channel_name", "presence-demo-a:b"), nil, 400, "invalid name"},
		{"channel too long", form, with("channel_name", "presence-demo-"+strings.Repeat("x", 200)), nil, 400, "more than 200"},
		{"presence without a name", form, with("name"), nil, 400, "name is required"},
		{"blank name", form, with("name", "   "), nil, 400, "name: empty"},
		{"name too long", form, with("name", strings.Repeat("é", 33)), nil, 400, "33 characters"},
		{"name with a newline", form, with("name", "a\nb"), nil, 400, "control character"},
		{"name with a bidi override", form, with("name", "a\u202eb"), nil, 400, "control character"},
		{"name not UTF-8", form, with("name", "a\xffb"), nil, 400, "UTF-8"},
		{"JSON body", "application/json", `{"socket_id":"1.2","channel_name":"presence-demo-x"}`, nil, 415, "x-www-form-urlencoded"},
		{"no content type", "", with(""), nil, 415, "x-www-form-urlencoded"},
		{"body too large", form, with("name", strings.Repeat("a", 9000)), nil, 413, "over 8192 bytes"},
		{"not a form", form, "socket_id=%zz", nil, 400, "not a form"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := post(h, demo.PusherAuthPath, tc.contentType, tc.body, tc.header)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if !strings.Contains(w.Body.String(), tc.says) {
				t.Errorf("answer %q does not say %q", w.Body, tc.says)
			}
			if strings.Contains(w.Body.String(), testAppKey+":") {
				t.Errorf("a refusal carries an auth: %s", w.Body)
			}
		})
	}
	t.Run("same-origin page", func(t *testing.T) {
		r := httptest.NewRequest("POST", "http://demo.example"+demo.PusherAuthPath, strings.NewReader(with("")))
		r.Header.Set("Content-Type", form)
		r.Header.Set("Origin", "https://DEMO.example")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			t.Errorf("status %d: %s", w.Code, w.Body)
		}
	})
}

func TestPusherTrigger(t *testing.T) {
	ok := url.Values{"channel": {"demo-news"}, "event": {"news"}, "data": {`{"text":"hi"}`}}
	with := func(k string, v ...string) string {
		q := url.Values{}
		for kk, vv := range ok {
			q[kk] = vv
		}
		if v == nil {
			delete(q, k)
		} else {
			q[k] = v
		}
		return q.Encode()
	}
	t.Run("publishes", func(t *testing.T) {
		pub := &fakePublisher{}
		w := post(newPusherHandler(pub.publish), demo.PusherTriggerPath, form, with(""), nil)
		if w.Code != 200 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		want := publishCall{"demo-news", "news", `{"text":"hi"}`}
		if len(pub.calls) != 1 || pub.calls[0] != want {
			t.Errorf("published %v, want %v", pub.calls, want)
		}
	})
	tests := []struct {
		name   string
		body   string
		status int
		says   string
	}{
		{"presence channel", with("channel", "presence-demo-lobby"), 403, "publishes only to channels named demo-"},
		{"private channel", with("channel", "private-demo-x"), 403, "publishes only"},
		{"another public channel", with("channel", "news"), 403, "publishes only"},
		{"the bare prefix", with("channel", "demo-"), 403, "publishes only"},
		{"no channel", with("channel"), 400, "channel is required"},
		{"invalid channel", with("channel", "demo-a/b"), 400, "invalid name"},
		{"server-to-user channel", with("channel", "#server-to-user-1"), 400, "invalid name"},
		{"no event", with("event"), 400, "event is required"},
		{"empty event", with("event", ""), 400, "event name is empty"},
		{"reserved event", with("event", "pusher:subscribe"), 400, "protocol's"},
		{"internal event", with("event", "pusher_internal:member_added"), 400, "protocol's"},
		{"client event", with("event", "client-x"), 400, "client's"},
		{"event too long", with("event", strings.Repeat("e", 201)), 400, "more than 200"},
		{"no data", with("data"), 400, "data is required"},
		{"data twice", with("data", "a", "b"), 400, "given 2 times"},
		{"data too large", with("data", strings.Repeat("x", demo.MaxTriggerData+1)), 413, "over the demo's 1024"},
		{"data not UTF-8", with("data", "\xff"), 400, "UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{}
			w := post(newPusherHandler(pub.publish), demo.PusherTriggerPath, form, tc.body, nil)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if !strings.Contains(w.Body.String(), tc.says) {
				t.Errorf("answer %q does not say %q", w.Body, tc.says)
			}
			if len(pub.calls) != 0 {
				t.Errorf("published %v", pub.calls)
			}
		})
	}
	t.Run("largest data", func(t *testing.T) {
		pub := &fakePublisher{}
		w := post(newPusherHandler(pub.publish), demo.PusherTriggerPath, form, with("data", strings.Repeat("é", demo.MaxTriggerData/2)), nil)
		if w.Code != 200 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
	failures := []struct {
		name       string
		err        error
		status     int
		retryAfter string
	}{
		{"publish fails", errors.New("broker down"), 503, ""},
		{"API limits the visitor", &demo.PublishError{Status: 429, Message: "too many requests", RetryAfter: "3"}, 429, "3"},
		{"API refuses the data", &demo.PublishError{Status: 413, Message: "too big"}, 413, ""},
		{"API refuses the demo's signature", &demo.PublishError{Status: 401, Message: "invalid signature"}, 502, ""},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{err: tc.err}
			w := post(newPusherHandler(pub.publish), demo.PusherTriggerPath, form, with(""), nil)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if got := w.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			if !strings.Contains(w.Body.String(), "not published") {
				t.Errorf("answer %q", w.Body)
			}
		})
	}
}

// APIPublisher's requests are signed as the HTTP API checks them, carry the
// visitor's address, and a refusal comes back as a PublishError.
func TestAPIPublisher(t *testing.T) {
	var got *http.Request
	var body []byte
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		body, _ = io.ReadAll(r.Body)
		if err := auth.VerifyRequest(r.Method, r.URL.Path, r.URL.Query(), body, testAppKey, testAppSecret, time.Now()); err != nil {
			w.WriteHeader(401)
			_, _ = io.WriteString(w, `{"error":"`+err.Error()+`"}`)
			return
		}
		if string(body) != "" && strings.Contains(string(body), `"limited"`) {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(429)
			_, _ = io.WriteString(w, `{"error":"too many requests from your address; retry later"}`)
			return
		}
		_, _ = io.WriteString(w, "{}\n")
	})
	publish := demo.APIPublisher(api, testAppID, testAppKey, testAppSecret)

	if err := publish(context.Background(), "demo-news", "news", `{"text":"hi"}`); err != nil {
		t.Fatal(err)
	}
	if got.Method != "POST" || got.URL.Path != "/apps/"+testAppID+"/events" {
		t.Errorf("request %s %s", got.Method, got.URL.Path)
	}
	var ev map[string]string
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"name": "news", "channel": "demo-news", "data": `{"text":"hi"}`}; len(ev) != 3 || ev["name"] != want["name"] || ev["channel"] != want["channel"] || ev["data"] != want["data"] {
		t.Errorf("body %s", body)
	}

	// For a visitor's trigger, the API sees the visitor.
	h := newPusherHandler(publish)
	r := httptest.NewRequest("POST", demo.PusherTriggerPath, strings.NewReader("channel=demo-a&event=e&data=x"))
	r.Header.Set("Content-Type", form)
	r.RemoteAddr = "203.0.113.7:4321"
	r.Header.Set("CloudFront-Viewer-Address", "198.51.100.9:1234")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("trigger: %d %s", w.Code, w.Body)
	}
	if got.RemoteAddr != "203.0.113.7:4321" || got.Header.Get("CloudFront-Viewer-Address") != "198.51.100.9:1234" {
		t.Errorf("API saw %s / %q, want the visitor's addresses", got.RemoteAddr, got.Header.Get("CloudFront-Viewer-Address"))
	}

	err := publish(context.Background(), "demo-news", "news", "limited")
	var pe *demo.PublishError
	if !errors.As(err, &pe) || pe.Status != 429 || pe.RetryAfter != "2" || pe.Message != "too many requests from your address; retry later" {
		t.Errorf("error %#v, want a PublishError 429 with its message and Retry-After", err)
	}
	wrong := demo.APIPublisher(api, testAppID, testAppKey, "not-the-secret")
	if err := wrong(context.Background(), "demo-news", "news", "x"); !errors.As(err, &pe) || pe.Status != 401 || !strings.Contains(pe.Message, "invalid signature") {
		t.Errorf("error %v, want a 401 PublishError", err)
	}
}

func TestPusherHandlerPanics(t *testing.T) {
	pub := (&fakePublisher{}).publish
	for name, opts := range map[string]demo.PusherOptions{
		"no secret":  {AppID: "a", Key: "k", Publish: pub},
		"no key":     {AppID: "a", Secret: "s", Publish: pub},
		"no app id":  {Key: "k", Secret: "s", Publish: pub},
		"no publish": {AppID: "a", Key: "k", Secret: "s"},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			demo.PusherHandler(opts)
		})
	}
}

// The embedded pusher-js is the pinned release, byte for byte, and the
// note beside it names the same version and digest.
func TestVendoredPusherJS(t *testing.T) {
	site := startPusherSite(t, nil)
	_, lib := fetch(t, "GET", site.URL+demo.PusherLibraryPath, nil)
	sum := sha256.Sum256([]byte(lib))
	digest := hex.EncodeToString(sum[:])
	const pinned = demo.PusherJSSHA256
	if digest != pinned {
		t.Errorf("pusher.min.js has sha256 %s, want %s (update static/vendor/README.md and pusher.go with the file)", digest, pinned)
	}
	if !strings.HasPrefix(lib, "/*! For license information please see pusher.min.js.LICENSE.txt */\n") {
		t.Errorf("pusher.min.js does not start with its pointer to the licence banner: %.80q", lib)
	}
	_, banner := fetch(t, "GET", site.URL+demo.PusherBannerPath, nil)
	if !strings.Contains(banner, "Pusher JavaScript Library v"+demo.PusherJSVersion+"\n") || !strings.Contains(banner, "MIT licence") {
		t.Errorf("the licence banner does not name v%s and the MIT licence: %q", demo.PusherJSVersion, banner)
	}
	// The page's CSP has no 'unsafe-eval'.
	for _, s := range []string{"eval(", "new Function", "Function("} {
		if strings.Contains(lib, s) {
			t.Errorf("pusher.min.js contains %q, which the CSP would block", s)
		}
	}
	note, err := os.ReadFile("static/vendor/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"pusher-js@" + demo.PusherJSVersion, pinned, "pusher-js-" + demo.PusherJSVersion + ".tgz"} {
		if !strings.Contains(string(note), s) {
			t.Errorf("static/vendor/README.md does not mention %s", s)
		}
	}
	for _, f := range []string{"static/vendor/LICENCE", "static/vendor/pusher.min.js.LICENSE.txt"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "Pusher") {
			t.Errorf("%s does not name Pusher", f)
		}
	}
}

// The CSP forbids inline script and style on this page too.
func TestPusherPageHasNoInlineCode(t *testing.T) {
	site := startPusherSite(t, nil)
	_, page := fetch(t, "GET", site.URL+demo.PusherPagePath, nil)
	forbidden := []*regexp.Regexp{
		regexp.MustCompile(`<script[^>]*>[^<]`),
		regexp.MustCompile(`<style[\s>]`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`),
		regexp.MustCompile(`javascript:`),
		regexp.MustCompile(`(?:src|href)="(?:https?:)?//`),
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1) {
		if !strings.Contains(tag, ` src="/demo/pusher/`) {
			t.Errorf("script tag %s does not load a /demo/pusher/ asset", tag)
		}
	}
	for _, re := range forbidden {
		if loc := re.FindStringIndex(page); loc != nil {
			t.Errorf("page has %s: %q", re, page[loc[0]:min(loc[1]+40, len(page))])
		}
	}
}

// The whole path without a browser: a Pusher client joins a presence
// channel with the demo's signature, and an event triggered through the
// demo reaches a public channel's subscriber by way of the HTTP API.
func TestPusherDemoAgainstTheApp(t *testing.T) {
	site := startPusherSite(t, nil)
	c := dialPusher(t, site.URL)

	authBody := url.Values{"socket_id": {c.socketID}, "channel_name": {"presence-demo-room"}, "name": {"ana"}}.Encode()
	resp, err := http.Post(site.URL+demo.PusherAuthPath, form, strings.NewReader(authBody))
	if err != nil {
		t.Fatal(err)
	}
	var a demo.ChannelAuthorization
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"channel": "presence-demo-room", "auth": a.Auth, "channel_data": a.ChannelData,
	}})
	f := c.next()
	if f.Event != "pusher_internal:subscription_succeeded" || f.Channel != "presence-demo-room" {
		t.Fatalf("presence subscription: %+v", f)
	}
	if !strings.Contains(f.Data, `{"name":"ana"}`) {
		t.Errorf("members %s do not hold ana", f.Data)
	}

	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": "demo-news"}})
	if f := c.next(); f.Event != "pusher_internal:subscription_succeeded" || f.Channel != "demo-news" {
		t.Fatalf("public subscription: %+v", f)
	}
	resp, err = http.Post(site.URL+demo.PusherTriggerPath, form, strings.NewReader("channel=demo-news&event=news&data=%7B%22text%22%3A%22hi%22%7D"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("trigger: %s %s", resp.Status, b)
	}
	f = c.next()
	if f.Event != "news" || f.Channel != "demo-news" || f.Data != `{"text":"hi"}` {
		t.Errorf("event %+v, want news on demo-news with the data", f)
	}
}

// pusherClient is a bare Pusher protocol client.
type pusherClient struct {
	t        testing.TB
	conn     *websocket.Conn
	socketID string
}

type pusherFrame struct {
	Event   string `json:"event"`
	Channel string `json:"channel"`
	Data    string `json:"data"`
}

func dialPusher(t testing.TB, base string) *pusherClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(base, "http") + "/app/" + testAppKey + "?protocol=7&client=go-test&version=1"
	conn, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	c := &pusherClient{t: t, conn: conn}
	f := c.next()
	var est struct {
		SocketID string `json:"socket_id"`
	}
	if f.Event != "pusher:connection_established" || json.Unmarshal([]byte(f.Data), &est) != nil {
		t.Fatalf("greeting %+v", f)
	}
	c.socketID = est.SocketID
	return c
}

func (c *pusherClient) send(v any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next frame that is not a ping.
func (c *pusherClient) next() pusherFrame {
	c.t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, b, err := c.conn.Read(ctx)
		cancel()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		var raw struct {
			Event   string          `json:"event"`
			Channel string          `json:"channel"`
			Data    json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(b, &raw); err != nil {
			c.t.Fatalf("frame %s: %v", b, err)
		}
		if raw.Event == "pusher:ping" {
			continue
		}
		f := pusherFrame{Event: raw.Event, Channel: raw.Channel}
		if err := json.Unmarshal(raw.Data, &f.Data); err != nil {
			f.Data = string(raw.Data)
		}
		return f
	}
}
