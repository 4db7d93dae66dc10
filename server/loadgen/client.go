package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// dialer opens connections to one URL and waits for the server's greeting.
type dialer struct {
	url       string
	opts      *websocket.DialOptions
	timeout   time.Duration
	readLimit int64
	// greet checks the first frame and returns the id it gives the
	// connection, if any (a Pusher socket id).
	greet func(msg []byte) (id string, ok bool)
}

func newDialer(cfg Config) *dialer {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Every dial is a fresh TCP (and TLS) connection: churn measures the full
	// cost of a connect, and a refused upgrade must not leave a pooled socket
	// behind that the next dial would reuse.
	tr.DisableKeepAlives = true
	tr.ForceAttemptHTTP2 = false
	tr.DialContext = (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext
	tr.TLSHandshakeTimeout = cfg.DialTimeout
	hdr := http.Header{}
	if cfg.Origin != "" {
		hdr.Set("Origin", cfg.Origin)
	}
	d := &dialer{
		url: cfg.URL,
		opts: &websocket.DialOptions{
			HTTPClient:      &http.Client{Transport: tr},
			HTTPHeader:      hdr,
			CompressionMode: websocket.CompressionDisabled,
		},
		timeout:   cfg.DialTimeout,
		readLimit: readLimit(cfg),
		greet:     func(msg []byte) (string, bool) { return "", isGreeting(msg) },
	}
	if cfg.Mode.IsPusher() {
		d.url, _, _ = cfg.pusherURLs() // checked by Validate
		d.greet = pusherGreeting
	}
	return d
}

// readLimit is the largest message a client accepts: room for a few
// padded probes, at least 64 KiB.
func readLimit(cfg Config) int64 {
	return max(64<<10, int64(4*cfg.PayloadBytes+4096))
}

// dialError is a failed connect with its kind for the error counts.
type dialError struct {
	kind string
	err  error
}

func (e *dialError) Error() string { return e.kind + ": " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// connect dials, upgrades and reads the greeting, all within the dial
// timeout. It returns the open connection, the id the greeting gave it
// (a Pusher socket id; "" for the seed's protocol) and how long that took.
// Errors are *dialError; a cancelled ctx is returned as ctx.Err() so
// callers can tell a stop from a failure.
func (d *dialer) connect(ctx context.Context) (*websocket.Conn, string, time.Duration, error) {
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	c, resp, err := websocket.Dial(dctx, d.url, d.opts)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", 0, ctx.Err()
		}
		return nil, "", 0, &dialError{kind: classifyDial(err, resp), err: err}
	}
	c.SetReadLimit(d.readLimit)
	typ, msg, err := c.Read(dctx)
	if err != nil {
		c.CloseNow()
		if ctx.Err() != nil {
			return nil, "", 0, ctx.Err()
		}
		kind := classifyRead(err)
		if errors.Is(err, context.DeadlineExceeded) || kind == KindConnLost && dctx.Err() != nil {
			kind = KindTimeoutHello
		}
		return nil, "", 0, &dialError{kind: kind, err: err}
	}
	id, ok := d.greet(msg)
	if typ != websocket.MessageText || !ok {
		c.Close(websocket.StatusProtocolError, "expected greeting")
		kind := KindProtocol
		if pe := frameError(msg); pe != nil {
			kind = pe.kind // a Pusher server refusing: a wrong key, say
		}
		return nil, "", 0, &dialError{kind: kind, err: fmt.Errorf("first frame is not the greeting: %.80q", msg)}
	}
	return c, id, time.Since(start), nil
}

// isGreeting reports whether msg is {"connection":"ok"}, allowing extra
// fields the server may add later.
func isGreeting(msg []byte) bool {
	var g struct {
		Connection string `json:"connection"`
	}
	return json.Unmarshal(msg, &g) == nil && g.Connection == "ok"
}

// probe is the JSON body of every message the generator publishes.
type probe struct {
	Src string `json:"src"`
	Seq int64  `json:"seq"`
	TS  int64  `json:"ts"` // send time, Unix nanoseconds
	Pad string `json:"pad,omitempty"`
}

// encodeProbe renders a probe without reflection; it runs once per send in
// the hot loop of throughput mode.
func encodeProbe(buf []byte, src string, seq int64, ts time.Time, pad string) []byte {
	buf = append(buf[:0], `{"src":`...)
	buf = strconv.AppendQuote(buf, src)
	buf = append(buf, `,"seq":`...)
	buf = strconv.AppendInt(buf, seq, 10)
	buf = append(buf, `,"ts":`...)
	buf = strconv.AppendInt(buf, ts.UnixNano(), 10)
	if pad != "" {
		buf = append(buf, `,"pad":`...)
		buf = strconv.AppendQuote(buf, pad)
	}
	return append(buf, '}')
}

// frame is what the server sends after the greeting. Unknown fields (an
// offset, for instance) are ignored.
type frame struct {
	Message json.RawMessage `json:"message"`
	Error   *struct {
		Code string `json:"code"`
	} `json:"error"`
}

// delivery is a decoded broadcast of one of the generator's probes.
type delivery struct {
	src string
	seq int64
	ts  int64
}

var errNotProbe = errors.New("not a probe")

// decodeFrame parses a server frame. It returns the probe it carries, or
// errNotProbe for a broadcast of someone else's message, or an error frame's
// code as a *serverError.
func decodeFrame(msg []byte) (delivery, error) {
	if d, ok := fastProbe(msg); ok {
		return d, nil
	}
	return decodeFrameJSON(msg)
}

// decodeFrameJSON is decodeFrame through encoding/json, for every shape.
func decodeFrameJSON(msg []byte) (delivery, error) {
	var f frame
	if err := json.Unmarshal(msg, &f); err != nil {
		return delivery{}, fmt.Errorf("decode frame: %w", err)
	}
	if f.Error != nil {
		return delivery{}, &serverError{code: f.Error.Code}
	}
	if len(f.Message) == 0 {
		return delivery{}, errNotProbe
	}
	var p struct {
		Src string      `json:"src"`
		Seq int64       `json:"seq"`
		TS  json.Number `json:"ts"`
	}
	if err := json.Unmarshal(f.Message, &p); err != nil || p.Src == "" {
		return delivery{}, errNotProbe
	}
	ts, err := p.TS.Int64()
	if err != nil {
		// A server that re-encodes numbers as IEEE doubles (JavaScript's
		// JSON) may print them in another form; a double is still within
		// a few hundred nanoseconds of the original.
		f, ferr := p.TS.Float64()
		if ferr != nil {
			return delivery{}, fmt.Errorf("decode ts %q: %w", p.TS, err)
		}
		ts = int64(f)
	}
	return delivery{src: p.Src, seq: p.Seq, ts: ts}, nil
}

// serverError is an {"error":{...}} frame from the server.
type serverError struct{ code string }

func (e *serverError) Error() string { return "server error frame: " + e.code }

func (e *serverError) kind() string {
	code := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, strings.ToLower(e.code))
	return KindServerErrorPre + code
}

// reader reads whole text messages into a reused buffer, so that a busy
// connection does not allocate a new slice per message.
type reader struct {
	c   *websocket.Conn
	buf bytes.Buffer
}

// next returns the next message; the slice is valid until the next call.
func (r *reader) next(ctx context.Context) ([]byte, error) {
	_, rd, err := r.c.Reader(ctx)
	if err != nil {
		return nil, err
	}
	r.buf.Reset()
	if _, err := r.buf.ReadFrom(rd); err != nil {
		return nil, err
	}
	return r.buf.Bytes(), nil
}

// closeGracefully sends a normal close and waits for the server's answer.
// coder/websocket bounds each half of the handshake at 5 s, so a stuck
// server delays the end of a run by at most 10 s.
func closeGracefully(c *websocket.Conn) {
	c.Close(websocket.StatusNormalClosure, "")
}

// containsTag reports whether msg holds tag; a false positive only costs a
// full decode.
func containsTag(msg, tag []byte) bool { return bytes.Contains(msg, tag) }

// fastProbe reads a broadcast probe without reflection when the frame has
// the shape the service's servers produce: an object of plain string fields
// (an offset, say) and a "message" holding the probe's fields in the order
// encodeProbe wrote them, without spaces. A server relaying the raw message
// and one re-serialising it (JavaScript's JSON.stringify keeps key order)
// both do. Anything else returns ok false and takes the full decode.
// Checking tens of thousands of deliveries a second on one core, the JSON
// decoder was a large share of the generator's CPU.
func fastProbe(msg []byte) (d delivery, ok bool) {
	p, ok := cutPrefix(msg, "{")
	if !ok {
		return d, false
	}
	// Plain fields before the message.
	for !bytes.HasPrefix(p, []byte(`"message":{"src":"`)) {
		if p, ok = cutPlainField(p); !ok {
			return d, false
		}
		if p, ok = cutPrefix(p, ","); !ok {
			return d, false
		}
	}
	p = p[len(`"message":{"src":"`):]
	var src []byte
	if src, p, ok = cutPlainString(p); !ok || len(src) == 0 {
		return d, false
	}
	if p, ok = cutInt(p, `,"seq":`, &d.seq); !ok {
		return d, false
	}
	if p, ok = cutInt(p, `,"ts":`, &d.ts); !ok {
		return d, false
	}
	if q, ok := cutPrefix(p, `,"pad":"`); ok {
		if _, p, ok = cutPlainString(q); !ok {
			return d, false
		}
	}
	if p, ok = cutPrefix(p, "}"); !ok {
		return d, false
	}
	// Plain fields after the message.
	for {
		if string(p) == "}" {
			d.src = string(src)
			return d, true
		}
		if p, ok = cutPrefix(p, ","); !ok {
			return d, false
		}
		if p, ok = cutPlainField(p); !ok {
			return d, false
		}
	}
}

func cutPrefix(b []byte, prefix string) ([]byte, bool) {
	if !bytes.HasPrefix(b, []byte(prefix)) {
		return nil, false
	}
	return b[len(prefix):], true
}

// cutPlainString reads the rest of a string whose opening quote is already
// consumed. It takes printable ASCII only, no escapes, so that its bytes are
// its value (encoding/json would rewrite invalid UTF-8, for one).
func cutPlainString(b []byte) (s, rest []byte, ok bool) {
	for i, c := range b {
		switch {
		case c == '"':
			return b[:i], b[i+1:], true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// cutPlainField reads "key":"value" with plain strings. Keys that
// encoding/json would map onto a frame field (case-insensitively) are
// refused, so that the fast path never disagrees with the full decode.
func cutPlainField(b []byte) ([]byte, bool) {
	b, ok := cutPrefix(b, `"`)
	if !ok {
		return nil, false
	}
	key, b, ok := cutPlainString(b)
	if !ok || bytes.EqualFold(key, []byte("message")) || bytes.EqualFold(key, []byte("error")) {
		return nil, false
	}
	if b, ok = cutPrefix(b, `:"`); !ok {
		return nil, false
	}
	_, b, ok = cutPlainString(b)
	return b, ok
}

// cutInt expects key and then a non-negative decimal integer at the start
// of b; it returns what follows.
func cutInt(b []byte, key string, v *int64) ([]byte, bool) {
	b, ok := cutPrefix(b, key)
	if !ok {
		return nil, false
	}
	n := 0
	var x int64
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		d := int64(b[n] - '0')
		if x > (math.MaxInt64-d)/10 || (n == 1 && x == 0) {
			return nil, false // overflow or a leading zero: let the full decoder judge
		}
		x = x*10 + d
		n++
	}
	if n == 0 {
		return nil, false
	}
	*v = x
	return b[n:], true
}
