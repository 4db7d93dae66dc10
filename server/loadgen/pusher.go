package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/wsfargate/websocket-service/server/pusher/auth"
)

// The Pusher modes speak protocol 7 at /app/{key} and publish through the
// signed HTTP API, as an application's backend would with a Pusher SDK.
// What is measured is what the seed's modes measure: every event's data is
// the same {src,seq,ts} probe, so latency and loss are computed the same
// way on the same clock.

// maxTriggerChannels is the most channels one POST events may name.
const maxTriggerChannels = 100

// pusherEventName is the event name the generator triggers.
const pusherEventName = "lg"

// pusherURLs returns the WebSocket URL to dial and the HTTP API's base.
// URL may be the server's root (ws://host:port), in which case the path
// becomes /app/<key>?protocol=7, or an /app/<key> URL of its own, whose key
// must then be -key.
func (c Config) pusherURLs() (ws, api string, err error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return "", "", fmt.Errorf("url %q: %w", c.URL, err)
	}
	switch {
	case u.Path == "" || u.Path == "/":
		u.Path = "/app/" + c.AppKey
	case strings.HasPrefix(u.Path, "/app/"):
		if key := strings.TrimPrefix(u.Path, "/app/"); key != c.AppKey {
			return "", "", fmt.Errorf("url %q: the key in the path is not -key %q", c.URL, c.AppKey)
		}
	default:
		return "", "", fmt.Errorf("url %q: a Pusher mode wants the server's root (ws://host:port) or /app/<key>", c.URL)
	}
	q := u.Query()
	if q.Get("protocol") == "" {
		q.Set("protocol", "7")
	}
	if q.Get("client") == "" {
		q.Set("client", "loadgen")
		q.Set("version", "1")
	}
	u.RawQuery = q.Encode()
	ws = u.String()
	if c.APIURL != "" {
		a, err := url.Parse(c.APIURL)
		if err != nil || (a.Scheme != "http" && a.Scheme != "https") || a.Host == "" {
			return "", "", fmt.Errorf("-api-url %q: want http(s)://host[:port]", c.APIURL)
		}
		return ws, strings.TrimRight(c.APIURL, "/"), nil
	}
	scheme := "http"
	if u.Scheme == "wss" {
		scheme = "https"
	}
	return ws, scheme + "://" + u.Host, nil
}

// pusherGreeting reads pusher:connection_established and returns the
// socket id it carries.
func pusherGreeting(msg []byte) (string, bool) {
	var f struct {
		Event string `json:"event"`
		Data  string `json:"data"`
	}
	if json.Unmarshal(msg, &f) != nil || f.Event != "pusher:connection_established" {
		return "", false
	}
	var d struct {
		SocketID string `json:"socket_id"`
	}
	if json.Unmarshal([]byte(f.Data), &d) != nil || d.SocketID == "" {
		return "", false
	}
	return d.SocketID, true
}

// appendJSONString appends s as a JSON string. The generator's strings
// (channel names, user ids, its own JSON) are ASCII; control characters
// are escaped anyway so that the output is always valid JSON.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// appendSubscribe appends a pusher:subscribe; auth and channelData are
// left out when empty.
func appendSubscribe(dst []byte, channel, authSig, channelData string) []byte {
	dst = append(dst, `{"event":"pusher:subscribe","data":{"channel":`...)
	dst = appendJSONString(dst, channel)
	if authSig != "" {
		dst = append(dst, `,"auth":`...)
		dst = appendJSONString(dst, authSig)
	}
	if channelData != "" {
		dst = append(dst, `,"channel_data":`...)
		dst = appendJSONString(dst, channelData)
	}
	return append(dst, "}}"...)
}

// appendUnsubscribe appends a pusher:unsubscribe.
func appendUnsubscribe(dst []byte, channel string) []byte {
	dst = append(dst, `{"event":"pusher:unsubscribe","data":{"channel":`...)
	dst = appendJSONString(dst, channel)
	return append(dst, "}}"...)
}

// pusherPing is what a client sends to learn that the server has handled
// everything it sent before: the server answers in order.
var pusherPing = []byte(`{"event":"pusher:ping","data":{}}`)

// pusherFrame is a server frame's envelope, for the slow path.
type pusherFrame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

// pusherError is a pusher:error or pusher:subscription_error frame.
type pusherError struct{ kind string }

func (e *pusherError) Error() string { return "server sent " + e.kind }

// Error kinds of the Pusher modes.
const (
	KindPusherErrorPre       = "pusher_error"        // a pusher:error frame, "_<code>" appended when it has one
	KindSubscriptionErrorPre = "subscription_error_" // prefix: a pusher:subscription_error, with its status
	KindTimeoutSubscribe     = "timeout_subscribe"   // no subscription_succeeded in time
	KindTimeoutPong          = "timeout_pong"        // no pusher:pong in time
	KindWrongChannel         = "wrong_channel"       // an event for a channel the connection did not subscribe to
	KindAPIPre               = "api_"                // prefix: an HTTP API answer other than 200, with its status
	KindAPIFailed            = "api_failed"          // an HTTP API request without an answer
	KindPresenceMismatch     = "presence_mismatch"   // a presence channel whose members did not converge
)

// errorFrame returns the *pusherError of an error frame, nil for others.
func errorFrame(f *pusherFrame) error {
	switch f.Event {
	case "pusher:error":
		var d struct {
			Code int `json:"code"`
		}
		_ = json.Unmarshal(f.Data, &d)
		if d.Code == 0 {
			return &pusherError{KindPusherErrorPre}
		}
		return &pusherError{KindPusherErrorPre + "_" + strconv.Itoa(d.Code)}
	case "pusher:subscription_error":
		var d struct {
			Status int `json:"status"`
		}
		_ = json.Unmarshal(f.Data, &d)
		return &pusherError{KindSubscriptionErrorPre + strconv.Itoa(d.Status)}
	}
	return nil
}

// frameError returns the *pusherError of an error frame, or nil.
func frameError(msg []byte) *pusherError {
	if !bytes.Contains(msg, []byte(`"pusher:`)) || !bytes.Contains(msg, []byte("error")) {
		return nil
	}
	var f pusherFrame
	if json.Unmarshal(msg, &f) != nil {
		return &pusherError{KindProtocol}
	}
	var pe *pusherError
	if err := errorFrame(&f); errors.As(err, &pe) {
		return pe
	}
	return nil
}

// decodePusherEvent reads a channel event carrying one of the generator's
// probes and returns it with the event's channel, which may alias msg.
// Other frames return errNotProbe, error frames a *pusherError.
func decodePusherEvent(msg []byte) (delivery, []byte, error) {
	if d, ch, ok := fastPusherProbe(msg); ok {
		return d, ch, nil
	}
	d, ch, err := decodePusherEventJSON(msg)
	return d, []byte(ch), err
}

// decodePusherEventJSON is decodePusherEvent through encoding/json.
func decodePusherEventJSON(msg []byte) (delivery, string, error) {
	var f pusherFrame
	if err := json.Unmarshal(msg, &f); err != nil {
		return delivery{}, "", fmt.Errorf("decode frame: %w", err)
	}
	if err := errorFrame(&f); err != nil {
		return delivery{}, f.Channel, err
	}
	var s string
	if f.Channel == "" || json.Unmarshal(f.Data, &s) != nil {
		return delivery{}, f.Channel, errNotProbe
	}
	var p struct {
		Src string `json:"src"`
		Seq int64  `json:"seq"`
		TS  int64  `json:"ts"`
	}
	if err := json.Unmarshal([]byte(s), &p); err != nil || p.Src == "" {
		return delivery{}, f.Channel, errNotProbe
	}
	return delivery{src: p.Src, seq: p.Seq, ts: p.TS}, f.Channel, nil
}

// fastPusherProbe reads, without reflection, a channel event in the shape
// the server frames an HTTP API event:
//
//	{"event":"lg","channel":"c","data":"{\"src\":\"s\",\"seq\":1,\"ts\":2}"}
//
// (the data is a JSON string holding the probe, as Pusher sends API
// events). Anything else, or anything it is unsure of, returns ok false
// and takes the full decode. ch aliases msg.
func fastPusherProbe(msg []byte) (d delivery, ch []byte, ok bool) {
	p, ok := cutPrefix(msg, `{"event":"`)
	if !ok {
		return d, nil, false
	}
	var ev []byte
	if ev, p, ok = cutPlainString(p); !ok || bytes.HasPrefix(ev, []byte("pusher")) {
		return d, nil, false
	}
	if p, ok = cutPrefix(p, `,"channel":"`); !ok {
		return d, nil, false
	}
	if ch, p, ok = cutPlainString(p); !ok || len(ch) == 0 {
		return d, nil, false
	}
	if p, ok = cutPrefix(p, `,"data":"{\"src\":\"`); !ok {
		return d, nil, false
	}
	// The source ends at its escaped closing quote.
	i := bytes.IndexByte(p, '\\')
	if i <= 0 || !bytes.HasPrefix(p[i:], []byte(`\"`)) {
		return d, nil, false
	}
	src := p[:i]
	for _, c := range src {
		if c == '"' || c < 0x20 || c >= 0x7f {
			return d, nil, false
		}
	}
	p = p[i+2:]
	if p, ok = cutInt(p, `,\"seq\":`, &d.seq); !ok {
		return d, nil, false
	}
	if p, ok = cutInt(p, `,\"ts\":`, &d.ts); !ok {
		return d, nil, false
	}
	if q, ok := cutPrefix(p, `,\"pad\":\"`); ok {
		n := 0
		for n < len(q) && q[n] == 'x' {
			n++
		}
		if p, ok = cutPrefix(q[n:], `\"`); !ok {
			return d, nil, false
		}
	}
	if string(p) != `}"}` {
		return d, nil, false
	}
	d.src = string(src)
	return d, ch, true
}

// apiClient makes signed requests to the app's HTTP API over kept-alive
// connections.
type apiClient struct {
	base        string // http://host:port
	appID       string
	key, secret string
	hc          *http.Client
	timeout     time.Duration
}

func newAPIClient(cfg Config, base string, conns int) *apiClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext
	tr.MaxIdleConns = conns + 4
	tr.MaxIdleConnsPerHost = conns + 4
	tr.ForceAttemptHTTP2 = false
	return &apiClient{
		base: base, appID: cfg.AppID, key: cfg.AppKey, secret: cfg.AppSecret,
		hc: &http.Client{Transport: tr}, timeout: max(cfg.DialTimeout, 10*time.Second),
	}
}

// do sends one signed request to /apps/<id><path> and returns the status
// and the answer's body; err is a failure to get any answer.
func (a *apiClient) do(ctx context.Context, method, path string, query url.Values, body []byte) (int, []byte, error) {
	full := "/apps/" + a.appID + path
	q := auth.SignRequest(method, full, query, body, a.key, a.secret, time.Now())
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+full+"?"+q.Encode(), rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, b, nil
}

// apiKind names a failed API request for the error counts.
func apiKind(status int, err error) string {
	if err != nil || status == 0 {
		return KindAPIFailed
	}
	return KindAPIPre + strconv.Itoa(status)
}

// appendTrigger appends the body of POST events: the event on channels
// (one as "channel", several as "channels") with data as its string data.
func appendTrigger(dst []byte, channels []string, data []byte) []byte {
	dst = append(dst, `{"name":"`+pusherEventName+`",`...)
	if len(channels) == 1 {
		dst = append(dst, `"channel":`...)
		dst = appendJSONString(dst, channels[0])
	} else {
		dst = append(dst, `"channels":[`...)
		for i, ch := range channels {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, ch)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"data":`...)
	dst = appendJSONString(dst, string(data))
	return append(dst, '}')
}

// pconn is one open Pusher connection.
type pconn struct {
	c        *websocket.Conn
	socketID string
	rd       reader
	buf      []byte
}

// subscribe sends pusher:subscribe for channel (signed when auth is
// needed) and reads until the server confirms it, within timeout. It
// returns the frame that refused it as a *pusherError.
func (p *pconn) subscribe(ctx context.Context, timeout time.Duration, channel, authSig, channelData string) error {
	p.buf = appendSubscribe(p.buf[:0], channel, authSig, channelData)
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := p.c.Write(sctx, websocket.MessageText, p.buf); err != nil {
		return err
	}
	return p.awaitSubscribed(sctx, channel)
}

// awaitSubscribed reads until subscription_succeeded for channel, passing
// over other frames (member events, other channels' events).
func (p *pconn) awaitSubscribed(ctx context.Context, channel string) error {
	want := subscribedPrefix(channel)
	for {
		msg, err := p.rd.next(ctx)
		if err != nil {
			return err
		}
		if bytes.HasPrefix(msg, want) {
			return nil
		}
		if !bytes.Contains(msg, []byte(`"pusher:`)) {
			continue // an event or member notice
		}
		var f pusherFrame
		if json.Unmarshal(msg, &f) != nil {
			return &pusherError{KindProtocol}
		}
		if err := errorFrame(&f); err != nil {
			return err
		}
	}
}

// subscribedPrefix is how the server's subscription_succeeded for channel
// begins.
func subscribedPrefix(channel string) []byte {
	b := []byte(`{"event":"pusher_internal:subscription_succeeded","channel":`)
	return append(appendJSONString(b, channel), ',')
}

// subscribeKind names a failed subscribe for the error counts.
func subscribeKind(err error, ctxDone bool) string {
	var pe *pusherError
	switch {
	case errors.As(err, &pe):
		return pe.kind
	case errors.Is(err, context.DeadlineExceeded) || ctxDone:
		return KindTimeoutSubscribe
	}
	return classifyRead(err)
}
