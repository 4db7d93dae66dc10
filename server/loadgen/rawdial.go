package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// rawDialer is churn's WebSocket client: just enough of RFC 6455 to open a
// connection, check the upgrade and the greeting, and close again. Going
// through net/http and coder/websocket cost the generator more CPU per
// cycle than the server it measured (an HTTP transport with its reader and
// writer goroutines, header maps, bufio buffers, context timers), so churn
// measured the generator. Here the upgrade request, the expected
// Sec-WebSocket-Accept and the close frame are built once per run, and
// each worker reads into a buffer it keeps across cycles.
//
// Failures are *dialError with the kinds the coder/websocket path reports:
// http_<status> for a refused upgrade, timeout_connect before the upgrade
// answer and timeout_hello after it, dial_* for the TCP and TLS dial,
// conn_lost and close_<code> while waiting for the greeting, protocol for a
// bad first frame. An upgrade answer that is 101 but not a valid WebSocket
// handshake (a wrong Sec-WebSocket-Accept, say) is protocol as well.
type rawDialer struct {
	addr    string      // host:port to dial, a name resolved on every dial
	tls     *tls.Config // nil for ws://
	request []byte      // the upgrade request
	accept  []byte      // the Sec-WebSocket-Accept the server must send
	close   []byte      // a masked close frame with status 1000
	timeout time.Duration
	// readLimit caps a frame's payload, as SetReadLimit does for the other
	// modes.
	readLimit int
}

// websocketGUID is the magic string of RFC 6455 section 1.3.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func newRawDialer(cfg Config) (*rawDialer, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", cfg.URL, err)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "wss" {
			port = "443"
		}
	}
	d := &rawDialer{
		addr:      net.JoinHostPort(u.Hostname(), port),
		timeout:   cfg.DialTimeout,
		readLimit: int(readLimit(cfg)),
	}
	if u.Scheme == "wss" {
		// No session cache: every cycle pays a full TLS handshake, as it did
		// through net/http.
		d.tls = &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}}
	}

	// One random key per run is enough: the key only proves that the server
	// speaks WebSocket, it is not a secret.
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("websocket key: %w", err)
	}
	key := base64.StdEncoding.EncodeToString(nonce[:])
	sum := sha1.Sum([]byte(key + websocketGUID))
	d.accept = []byte(base64.StdEncoding.EncodeToString(sum[:]))

	var req bytes.Buffer
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\n", u.RequestURI())
	fmt.Fprintf(&req, "Host: %s\r\n", u.Host)
	req.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\n")
	fmt.Fprintf(&req, "Sec-WebSocket-Key: %s\r\n", key)
	req.WriteString("Sec-WebSocket-Version: 13\r\n")
	if cfg.Origin != "" {
		fmt.Fprintf(&req, "Origin: %s\r\n", cfg.Origin)
	}
	req.WriteString("\r\n")
	d.request = req.Bytes()

	// A client must mask every frame. One random mask per run keeps the
	// frame constant; the mask is there to foil intermediaries that
	// mistake frames for HTTP, which do not matter to a load generator.
	var mask [4]byte
	if _, err := rand.Read(mask[:]); err != nil {
		return nil, fmt.Errorf("websocket mask: %w", err)
	}
	d.close = maskedFrame(opClose, []byte{byte(websocket.StatusNormalClosure >> 8), byte(websocket.StatusNormalClosure & 0xff)}, mask)
	return d, nil
}

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

// maskedFrame appends a final client frame of op with a payload of at most
// 125 bytes (a control frame) to nil.
func maskedFrame(op byte, payload []byte, mask [4]byte) []byte {
	f := make([]byte, 0, 6+len(payload))
	f = append(f, 0x80|op, 0x80|byte(len(payload)))
	f = append(f, mask[:]...)
	for i, b := range payload {
		f = append(f, b^mask[i%4])
	}
	return f
}

// protocolError is a violation of RFC 6455 or of the upgrade.
func protocolError(format string, args ...any) error {
	return &dialError{kind: KindProtocol, err: fmt.Errorf(format, args...)}
}

// rawWorker is the state of one churn loop, kept across its cycles.
type rawWorker struct {
	d    *rawDialer
	ctx  context.Context
	stop func() bool // ends the watch on ctx

	mu   sync.Mutex
	conn net.Conn // the TCP connection of the current cycle, for the watch

	tc   net.Conn // the connection of the current cycle (TLS over conn for wss)
	buf  []byte   // bytes read, unread ones in buf[r:w]
	r, w int
	msg  []byte // a fragmented message put together
	out  []byte // a pong
}

// newWorker returns a worker whose cycles end when ctx is done. Its stop
// must be called when the loop ends.
func (d *rawDialer) newWorker(ctx context.Context) *rawWorker {
	w := &rawWorker{d: d, ctx: ctx, buf: make([]byte, 4096)}
	// One watch per worker, not one per cycle: a done ctx makes the
	// current connection's reads and writes fail at once.
	w.stop = context.AfterFunc(ctx, func() {
		w.mu.Lock()
		if w.conn != nil {
			w.conn.SetDeadline(time.Unix(1, 0))
		}
		w.mu.Unlock()
	})
	return w
}

// connect dials, upgrades and reads the greeting, all within the dial
// timeout, and returns how long that took. The connection stays open until
// closeConn. Errors are *dialError; a done ctx is returned as ctx.Err(), as
// dialer.connect does.
func (w *rawWorker) connect() (time.Duration, error) {
	start := time.Now()
	if err := w.connectAt(start); err != nil {
		w.drop()
		if stop := w.stopped(); stop != nil {
			return 0, stop
		}
		return 0, err
	}
	return time.Since(start), nil
}

// stopped returns ctx's error once it is done or past its deadline. The
// dial sets the socket's deadline from ctx's, and the poller may time out a
// moment before ctx's own timer marks it done; that timeout is the end of
// the run, not a failure.
func (w *rawWorker) stopped() error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if dl, ok := w.ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

func (w *rawWorker) connectAt(start time.Time) error {
	d := w.d
	deadline := start.Add(d.timeout)
	// No keep-alive: a churn connection lives for milliseconds, and
	// enabling it costs four setsockopt calls per dial. (Dialer.DialTCP
	// would skip the parsing of addr, but it binds the socket before the
	// connect, even to a zero local address: a bind call per dial, and
	// ephemeral ports taken the slow way, not shared between servers.)
	nd := net.Dialer{Deadline: deadline, KeepAlive: -1}
	conn, err := nd.DialContext(w.ctx, "tcp", d.addr)
	if err != nil {
		return &dialError{kind: classifyDial(err, nil), err: err}
	}
	conn.SetDeadline(deadline)
	w.mu.Lock()
	w.conn = conn
	w.mu.Unlock()
	if err := w.ctx.Err(); err != nil {
		return err // the watch may have run before conn was set
	}
	w.tc = conn
	if d.tls != nil {
		tc := tls.Client(conn, d.tls)
		w.tc = tc
		if err := tc.Handshake(); err != nil {
			return &dialError{kind: classifyDial(err, nil), err: fmt.Errorf("tls: %w", err)}
		}
	}
	if _, err := w.tc.Write(d.request); err != nil {
		return &dialError{kind: classifyDial(err, nil), err: fmt.Errorf("write upgrade: %w", err)}
	}
	w.r, w.w = 0, 0
	if err := w.readUpgrade(); err != nil {
		return err
	}
	msg, err := w.readMessage()
	if err != nil {
		return err
	}
	if !isGreetingFast(msg) {
		return protocolError("first frame is not the greeting: %.80q", msg)
	}
	return nil
}

// isGreetingFast is isGreeting, without a decode for the exact greeting
// both servers send.
func isGreetingFast(msg []byte) bool {
	return string(msg) == `{"connection":"ok"}` || isGreeting(msg)
}

// closeConn sends a normal close, waits up to the dial timeout for the
// server's close frame or the end of the connection, and closes it. Like
// closeGracefully, it reports nothing: the cycle has already counted.
func (w *rawWorker) closeConn() {
	w.tc.SetDeadline(time.Now().Add(w.d.timeout))
	if _, err := w.tc.Write(w.d.close); err == nil {
		for {
			_, op, _, err := w.readFrame()
			if err != nil || op == opClose {
				break
			}
		}
	}
	w.drop()
}

// drop closes the current connection, if any.
func (w *rawWorker) drop() {
	w.mu.Lock()
	conn := w.conn
	w.conn = nil
	w.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
	w.tc = nil
}

// readUpgrade reads the answer to the upgrade request up to the blank line
// that ends its head; bytes after it stay in buf for readFrame.
func (w *rawWorker) readUpgrade() error {
	statusChecked := false
	scanned := 0
	for {
		if !statusChecked {
			if i := bytes.Index(w.buf[:w.w], []byte("\r\n")); i >= 0 {
				if err := checkStatusLine(w.buf[:i]); err != nil {
					return err
				}
				statusChecked = true
			}
		}
		if statusChecked {
			from := max(scanned-3, 0)
			if i := bytes.Index(w.buf[from:w.w], []byte("\r\n\r\n")); i >= 0 {
				end := from + i + 4
				w.r = end
				return w.checkHeaders(w.buf[:end])
			}
			scanned = w.w
		}
		if w.w == len(w.buf) {
			return protocolError("upgrade response head longer than %d bytes", len(w.buf))
		}
		n, err := w.tc.Read(w.buf[w.w:])
		w.w += n
		if err != nil && n == 0 {
			return &dialError{kind: classifyDial(err, nil), err: fmt.Errorf("read upgrade response: %w", err)}
		}
	}
}

// checkStatusLine wants "HTTP/1.x 101 ...". Another status is
// http_<status>, as net/http reports it to coder/websocket.
func checkStatusLine(line []byte) error {
	rest, ok := bytes.CutPrefix(line, []byte("HTTP/1."))
	if !ok || len(rest) < 5 || rest[1] != ' ' || len(rest) > 5 && rest[5] != ' ' {
		return &dialError{kind: KindDialOther, err: fmt.Errorf("malformed HTTP status line %.80q", line)}
	}
	code, err := strconv.Atoi(string(rest[2:5]))
	if err != nil || code < 100 {
		return &dialError{kind: KindDialOther, err: fmt.Errorf("malformed HTTP status line %.80q", line)}
	}
	if code != 101 {
		return &dialError{kind: KindHTTPStatus(code), err: fmt.Errorf("upgrade refused: %.80q", line)}
	}
	return nil
}

// checkHeaders checks the handshake headers of a 101 answer, as
// coder/websocket does: Upgrade websocket, Connection upgrade and the
// Sec-WebSocket-Accept of the key.
func (w *rawWorker) checkHeaders(head []byte) error {
	var upgrade, connection, accept bool
	_, lines, _ := bytes.Cut(head, []byte("\r\n"))
	for len(lines) > 0 {
		var line []byte
		line, lines, _ = bytes.Cut(lines, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Upgrade")):
			upgrade = upgrade || hasToken(value, "websocket")
		case bytes.EqualFold(name, []byte("Connection")):
			connection = connection || hasToken(value, "upgrade")
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Accept")):
			if !bytes.Equal(value, w.d.accept) {
				return protocolError("Sec-WebSocket-Accept %.40q, want %q", value, w.d.accept)
			}
			accept = true
		}
	}
	switch {
	case !upgrade:
		return protocolError("101 without Upgrade: websocket")
	case !connection:
		return protocolError("101 without Connection: upgrade")
	case !accept:
		return protocolError("101 without Sec-WebSocket-Accept")
	}
	return nil
}

// hasToken reports whether the comma-separated list v holds tok, ignoring
// case.
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var t []byte
		t, v, _ = bytes.Cut(v, []byte(","))
		if bytes.EqualFold(bytes.TrimSpace(t), []byte(tok)) {
			return true
		}
	}
	return false
}

// readMessage returns the first data message, answering pings on the way;
// it must be text. The slice is valid until the next read.
func (w *rawWorker) readMessage() ([]byte, error) {
	var (
		typ   byte
		inMsg bool
	)
	for {
		fin, op, p, err := w.readFrame()
		if err != nil {
			return nil, err
		}
		switch op {
		case opPing:
			var mask [4]byte // a zero mask: the pong is as constant as the close
			w.out = append(w.out[:0], 0x80|opPong, 0x80|byte(len(p)))
			w.out = append(append(w.out, mask[:]...), p...)
			if _, err := w.tc.Write(w.out); err != nil {
				return nil, &dialError{kind: classifyRead(err), err: err}
			}
		case opPong:
		case opClose:
			if len(p) < 2 {
				if len(p) == 1 {
					return nil, protocolError("close frame with a 1-byte payload")
				}
				return nil, &dialError{kind: KindClose(websocket.StatusNoStatusRcvd), err: errors.New("closed before the greeting")}
			}
			code := websocket.StatusCode(binary.BigEndian.Uint16(p))
			return nil, &dialError{kind: KindClose(code), err: fmt.Errorf("closed before the greeting: %d %.80q", code, p[2:])}
		case opText, opBinary:
			if inMsg {
				return nil, protocolError("new message inside a fragmented one")
			}
			if fin {
				if op != opText {
					return nil, protocolError("first message is binary")
				}
				return p, nil
			}
			typ, inMsg = op, true
			w.msg = append(w.msg[:0], p...)
		case opContinuation:
			if !inMsg {
				return nil, protocolError("continuation frame outside a message")
			}
			if len(w.msg)+len(p) > w.d.readLimit {
				return nil, protocolError("first message longer than %d bytes", w.d.readLimit)
			}
			w.msg = append(w.msg, p...)
			if fin {
				if typ != opText {
					return nil, protocolError("first message is binary")
				}
				return w.msg, nil
			}
		default:
			return nil, protocolError("reserved opcode %#x", op)
		}
	}
}

// readFrame reads one server frame. The payload is valid until the next
// read.
func (w *rawWorker) readFrame() (fin bool, op byte, payload []byte, err error) {
	if err := w.fill(2); err != nil {
		return false, 0, nil, err
	}
	b0, b1 := w.buf[w.r], w.buf[w.r+1]
	fin, op = b0&0x80 != 0, b0&0x0f
	if b0&0x70 != 0 {
		return false, 0, nil, protocolError("reserved bits set in frame header %#x", b0)
	}
	if b1&0x80 != 0 {
		return false, 0, nil, protocolError("masked frame from the server")
	}
	hdr, n := 2, uint64(b1&0x7f)
	switch n {
	case 126:
		if err := w.fill(4); err != nil {
			return false, 0, nil, err
		}
		hdr, n = 4, uint64(binary.BigEndian.Uint16(w.buf[w.r+2:]))
	case 127:
		if err := w.fill(10); err != nil {
			return false, 0, nil, err
		}
		hdr, n = 10, binary.BigEndian.Uint64(w.buf[w.r+2:])
	}
	if op >= opClose && (!fin || n > 125) {
		return false, 0, nil, protocolError("control frame %#x fragmented or longer than 125 bytes", op)
	}
	if n > uint64(w.d.readLimit) {
		return false, 0, nil, protocolError("frame of %d bytes, limit %d", n, w.d.readLimit)
	}
	size := hdr + int(n)
	if err := w.fill(size); err != nil {
		return false, 0, nil, err
	}
	payload = w.buf[w.r+hdr : w.r+size]
	w.r += size
	return fin, op, payload, nil
}

// fill reads until buf holds n unread bytes, moving them to its start or
// growing it when they would not fit. Read errors are *dialError.
func (w *rawWorker) fill(n int) error {
	if w.w-w.r >= n {
		return nil
	}
	if len(w.buf)-w.r < n {
		if len(w.buf) < n {
			nb := make([]byte, max(n, 2*len(w.buf)))
			w.w = copy(nb, w.buf[w.r:w.w])
			w.buf = nb
		} else {
			w.w = copy(w.buf, w.buf[w.r:w.w])
		}
		w.r = 0
	}
	for w.w-w.r < n {
		m, err := w.tc.Read(w.buf[w.w:])
		w.w += m
		if err != nil && w.w-w.r < n {
			if errors.Is(err, io.EOF) && w.w > w.r {
				err = io.ErrUnexpectedEOF
			}
			return &dialError{kind: classifyRead(err), err: err}
		}
	}
	return nil
}
