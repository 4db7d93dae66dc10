package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wsfargate/websocket-service/server/pusher/auth"
	"github.com/wsfargate/websocket-service/server/pusher/wire"
)

// The Pusher demo's paths. PusherHandler answers every path under
// PusherPagePath and nothing else; the page shares StylePath with the
// broadcast page.
const (
	PusherPagePath    = "/demo/pusher"
	PusherScriptPath  = "/demo/pusher/app.js"
	PusherLibraryPath = "/demo/pusher/vendor/pusher.min.js"
	PusherLicencePath = "/demo/pusher/vendor/LICENCE"
	// PusherBannerPath is the licence banner pusher.min.js points to, at
	// the name it gives, beside it.
	PusherBannerPath  = "/demo/pusher/vendor/pusher.min.js.LICENSE.txt"
	PusherConfigPath  = "/demo/pusher/config"
	PusherAuthPath    = "/demo/pusher/auth"
	PusherTriggerPath = "/demo/pusher/trigger"
)

// PusherJSVersion is the pusher-js release embedded as
// static/vendor/pusher.min.js, its dist/web/pusher.min.js taken unchanged
// from the npm package (static/vendor/README.md says how, and where its
// licence is).
const PusherJSVersion = "8.6.0"

// PusherJSSHA256 is the hex sha256 of the embedded pusher.min.js. A test
// checks the file against it and static/vendor/README.md, so none of the
// three can change alone.
const PusherJSSHA256 = "91640c608080a550d7a7407f943fa8429e9f6d7d567d0bb810f5f6e73b06972a"

// What the demo's signer and trigger accept. A real app's backend decides
// which user may join which channel; this demo has no users, so it signs
// for anyone, and only channels with these prefixes: an open signer for
// every private channel would let anyone into the app's real ones.
const (
	// DemoPresencePrefix starts the presence channels the demo signs for.
	DemoPresencePrefix = "presence-demo-"
	// DemoPrivatePrefix starts the private channels the demo signs for.
	DemoPrivatePrefix = "private-demo-"
	// DemoTriggerPrefix starts the public channels the demo publishes to.
	DemoTriggerPrefix = "demo-"

	// MaxDisplayName is the longest display name, in characters.
	MaxDisplayName = 32
	// MaxTriggerData is the largest event data the demo publishes, in
	// bytes.
	MaxTriggerData = 1024
	// maxFormBytes bounds the request body of the auth and trigger
	// endpoints: the largest valid trigger (a 200-character event name,
	// a 200-byte channel and MaxTriggerData bytes, each escaped up to
	// three times over) fits.
	maxFormBytes = 8 << 10
	// publishTimeout bounds one trigger's publish.
	publishTimeout = 5 * time.Second
)

// PublishFunc publishes one event with data to a channel through the
// Pusher app, as its HTTP API's POST events does.
type PublishFunc func(ctx context.Context, channel, event, data string) error

// PusherOptions configure PusherHandler: the Pusher app's credentials, as
// PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET give them, and how
// to publish.
type PusherOptions struct {
	AppID, Key, Secret string
	// ClientEvents tells the page whether the app accepts client events
	// (PUSHER_CLIENT_EVENTS); the server enforces it, the page only
	// explains it.
	ClientEvents bool
	// Publish sends the page's triggered events; APIPublisher makes one
	// that goes through the app's own signed HTTP API.
	Publish PublishFunc
}

// PusherHandler serves the Pusher Channels demo: a page under
// PusherPagePath that connects with pusher-js (embedded, version
// PusherJSVersion) to the app's /app/{key}, and the small backend every
// Pusher app needs, scoped to demo channels:
//
//   - GET PusherConfigPath: the app key and the demo's limits, as JSON
//     (never the secret);
//   - POST PusherAuthPath: pusher-js's channel authorization endpoint. It
//     takes socket_id and channel_name, and for presence channels name
//     (the display name), as application/x-www-form-urlencoded, and
//     answers {"auth", "channel_data"} signed with the app secret, only for
//     channels named DemoPresencePrefix… or DemoPrivatePrefix… (403 for
//     any other);
//   - POST PusherTriggerPath: publishes an event (channel, event, data) to
//     a public channel named DemoTriggerPrefix… (403 for any other)
//     through opts.Publish.
//
// Mount it for "GET /demo/pusher", "GET /demo/pusher/" and
// "POST /demo/pusher/", beside Handler's "GET /demo" and "GET /demo/"; it
// answers 404 for any other path under /demo/pusher/. Every answer carries
// ContentSecurityPolicy. It panics if a credential or Publish is missing.
func PusherHandler(opts PusherOptions) http.Handler {
	switch {
	case opts.AppID == "" || opts.Key == "" || opts.Secret == "":
		panic("demo.PusherHandler: the app id, key and secret are required")
	case opts.Publish == nil:
		panic("demo.PusherHandler: Publish is nil")
	}
	config, err := json.Marshal(pusherConfig{
		Key:             opts.Key,
		ClientEvents:    opts.ClientEvents,
		AuthEndpoint:    PusherAuthPath,
		TriggerEndpoint: PusherTriggerPath,
		PresencePrefix:  DemoPresencePrefix,
		TriggerPrefix:   DemoTriggerPrefix,
		MaxName:         MaxDisplayName,
		MaxData:         MaxTriggerData,
		Library:         "pusher-js " + PusherJSVersion,
	})
	if err != nil {
		panic(err)
	}
	page := mustAsset("static/pusher.html", "text/html; charset=utf-8")
	mux := http.NewServeMux()
	mux.Handle("GET "+PusherPagePath, page)
	mux.Handle("GET "+PusherPagePath+"/{$}", page)
	mux.Handle("GET "+PusherScriptPath, mustAsset("static/pusher.js", "text/javascript; charset=utf-8"))
	mux.Handle("GET "+PusherLibraryPath, mustAsset("static/vendor/pusher.min.js", "text/javascript; charset=utf-8"))
	mux.Handle("GET "+PusherLicencePath, mustAsset("static/vendor/LICENCE", "text/plain; charset=utf-8"))
	mux.Handle("GET "+PusherBannerPath, mustAsset("static/vendor/pusher.min.js.LICENSE.txt", "text/plain; charset=utf-8"))
	mux.HandleFunc("GET "+PusherConfigPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(append(config, '\n'))
	})
	mux.Handle("POST "+PusherAuthPath, &authorizer{key: opts.Key, secret: opts.Secret})
	mux.Handle("POST "+PusherTriggerPath, &trigger{publish: opts.Publish})
	return withSecurityHeaders(mux)
}

// pusherConfig is what the page learns from PusherConfigPath.
type pusherConfig struct {
	Key             string `json:"key"`
	ClientEvents    bool   `json:"clientEvents"`
	AuthEndpoint    string `json:"authEndpoint"`
	TriggerEndpoint string `json:"triggerEndpoint"`
	PresencePrefix  string `json:"presencePrefix"`
	TriggerPrefix   string `json:"triggerPrefix"`
	MaxName         int    `json:"maxName"`
	MaxData         int    `json:"maxData"`
	Library         string `json:"library"`
}

// authorizer is the demo's channel authorization endpoint.
type authorizer struct{ key, secret string }

// ChannelAuthorization is the answer of the authorization endpoint, as
// pusher-js expects it.
type ChannelAuthorization struct {
	Auth        string `json:"auth"`
	ChannelData string `json:"channel_data,omitempty"`
}

// presenceMember is the channel_data of a presence subscription.
type presenceMember struct {
	UserID   string `json:"user_id"`
	UserInfo struct {
		Name string `json:"name"`
	} `json:"user_info"`
}

func (a *authorizer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	form, status, err := readForm(w, r)
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	socketID, err := single(form, "socket_id")
	if err == nil && !wire.ValidSocketID(socketID) {
		err = fmt.Errorf("socket_id %q is not a socket id (digits.digits)", clip(socketID))
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	channel, err := single(form, "channel_name")
	if err == nil {
		err = wire.ValidChannel(channel)
	}
	if err != nil {
		http.Error(w, "channel_name: "+err.Error(), http.StatusBadRequest)
		return
	}
	var out ChannelAuthorization
	switch {
	case demoChannel(channel, DemoPresencePrefix):
		name, err := single(form, "name")
		if err == nil {
			name, err = displayName(name)
		}
		if err != nil {
			http.Error(w, "name: "+err.Error(), http.StatusBadRequest)
			return
		}
		var m presenceMember
		m.UserID, m.UserInfo.Name = newUserID(), name
		data, err := json.Marshal(m)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out.ChannelData = string(data)
		out.Auth = a.key + ":" + auth.SignChannel(a.secret, socketID, channel, out.ChannelData)
	case demoChannel(channel, DemoPrivatePrefix):
		out.Auth = a.key + ":" + auth.SignChannel(a.secret, socketID, channel, "")
	default:
		http.Error(w, fmt.Sprintf("the demo signs only channels named %s… or %s…, not %q",
			DemoPresencePrefix, DemoPrivatePrefix, channel), http.StatusForbidden)
		return
	}
	writeJSON(w, out)
}

// trigger is the demo's publish endpoint.
type trigger struct{ publish PublishFunc }

func (t *trigger) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	form, status, err := readForm(w, r)
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	channel, err := single(form, "channel")
	if err == nil {
		err = wire.ValidChannel(channel)
	}
	if err != nil {
		http.Error(w, "channel: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !demoChannel(channel, DemoTriggerPrefix) {
		http.Error(w, fmt.Sprintf("the demo publishes only to channels named %s…, not %q", DemoTriggerPrefix, channel), http.StatusForbidden)
		return
	}
	event, err := single(form, "event")
	if err == nil {
		err = wire.ValidEvent(event)
	}
	if err == nil && (wire.IsReservedEvent(event) || wire.IsClientEvent(event)) {
		err = fmt.Errorf("%q is the protocol's or a client's; the API publishes other names", clip(event))
	}
	if err != nil {
		http.Error(w, "event: "+err.Error(), http.StatusBadRequest)
		return
	}
	data, err := single(form, "data")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(data) > MaxTriggerData {
		http.Error(w, fmt.Sprintf("data: %d bytes, over the demo's %d", len(data), MaxTriggerData), http.StatusRequestEntityTooLarge)
		return
	}
	if !utf8.ValidString(data) {
		http.Error(w, "data: not valid UTF-8", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), visitorKey{}, r), publishTimeout)
	defer cancel()
	if err := t.publish(ctx, channel, event, data); err != nil {
		status := http.StatusServiceUnavailable
		var pe *PublishError
		if errors.As(err, &pe) {
			switch pe.Status {
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
				status = pe.Status // the visitor's to fix or wait for
			default:
				status = http.StatusBadGateway
			}
			if pe.RetryAfter != "" {
				w.Header().Set("Retry-After", pe.RetryAfter)
			}
		}
		http.Error(w, "not published: "+err.Error(), status)
		return
	}
	writeJSON(w, struct{}{})
}

// readForm reads a bounded application/x-www-form-urlencoded body. It
// returns the status to answer with when it fails.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, int, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, http.StatusUnsupportedMediaType, errors.New("the body must be application/x-www-form-urlencoded")
	}
	if !sameOrigin(r) {
		return nil, http.StatusForbidden, errors.New("cross-origin request refused: the demo answers its own page only")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the body is over %d bytes", maxFormBytes)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("the body is not a form: %v", err)
	}
	return r.PostForm, 0, nil
}

// sameOrigin reports whether a browser sent the request from a page of
// this host: the Origin header, when there is one, names this Host, as the
// server's WebSocket origin check requires. Requests without it (curl, a
// backend) pass; the check keeps other sites from using their visitors'
// browsers, not people from calling the endpoint.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// single returns the one value of a form field, which must be given once.
func single(form url.Values, name string) (string, error) {
	switch vs := form[name]; len(vs) {
	case 0:
		return "", fmt.Errorf("%s is required", name)
	case 1:
		return vs[0], nil
	default:
		return "", fmt.Errorf("%s is given %d times", name, len(vs))
	}
}

// demoChannel reports whether channel is prefix followed by at least one
// character. The channel must be valid (wire.ValidChannel).
func demoChannel(channel, prefix string) bool {
	return len(channel) > len(prefix) && strings.HasPrefix(channel, prefix)
}

// displayName trims a display name and checks it: 1 to MaxDisplayName
// characters of valid UTF-8 without control or format characters (which
// could reorder the member list's text).
func displayName(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errors.New("not valid UTF-8")
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty")
	}
	if n := utf8.RuneCountInString(s); n > MaxDisplayName {
		return "", fmt.Errorf("%d characters, more than %d", n, MaxDisplayName)
	}
	for _, c := range s {
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) {
			return "", fmt.Errorf("has the control character %U", c)
		}
	}
	return s, nil
}

// newUserID makes the presence user id of one authorization. The demo has
// no accounts, so each join is a new member; a real app would use its
// user's id. 64 random bits keep ids apart across tasks.
func newUserID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "visitor-" + hex.EncodeToString(b[:])
}

// clip keeps echoed input short in error messages.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	for i := limit; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return "…"
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(body, '\n'))
}
