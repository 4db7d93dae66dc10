package transport

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/wsfargate/websocket-service/server/contract"
	"github.com/wsfargate/websocket-service/server/hub"
	"github.com/wsfargate/websocket-service/server/protocol"
)

// statusNoFrame is recorded when a connection ends without a close frame
// from either side (peer vanished, ping or write timed out). It is the code
// RFC 6455 reserves for exactly that and never sent on the wire.
const statusNoFrame = websocket.StatusAbnormalClosure

// batchSize bounds how many broadcasts a writer takes from the log per
// wake-up; the array lives on the writer's stack.
const batchSize = 16

// client is one WebSocket connection. One goroutine reads. Writing needs no
// goroutine of its own while the client keeps up: when a broadcast arrives
// the log wakes the parked client, which writes what is pending with one
// non-blocking writev and parks again (wake). Only a client whose socket
// cannot take it all at once gets a writer goroutine (writeLoop), which
// blocks, with the write timeout, until it has caught up and parks.
type client struct {
	srv    *Server
	conn   *websocket.Conn // reads, control frames and closes
	raw    *rawConn        // data frames, pre-framed
	over   atomic.Bool     // set once the read loop has ended
	cursor uint64          // offset of the last broadcast written; owned by the writer
	waiter *hub.Waiter
	opened time.Time
	logger *slog.Logger

	// closeCode is the code the server closed with, 0 until it decides to.
	closeCode   atomic.Int32
	closeReason atomic.Pointer[string]
	received    atomic.Int64
	sent        atomic.Int64
}

// serve runs the connection until either side ends it.
func (c *client) serve(resume bool) {
	c.logger.Info("connection opened", "resume", resume)

	hello, failed := protocol.Hello(), ""
	if resume {
		hello, failed = c.resume()
	}
	if err := c.write(hello); err != nil {
		c.finish(err)
		return
	}
	if failed != "" {
		_ = c.write(protocol.EncodeError(protocol.CodeRecoveryFailed, failed))
	}

	go c.writeLoop()
	err := c.readLoop()
	c.over.Store(true)
	c.srv.log.Unpark(c.waiter)
	c.finish(err)
}

// resume checks a resuming client's offset against the history. When the
// history reaches back to it, the greeting says how many messages will be
// replayed before live ones. When it does not, the client starts from the
// live head and is told so with a recovery_failed frame after the greeting,
// never handed a silent gap; failed is that frame's detail.
func (c *client) resume() (hello []byte, failed string) {
	s := c.srv
	_, behind, res := s.log.Read(c.cursor, nil) // no entries, just the count
	switch res {
	case hub.Ready:
		s.metrics.ResumedMessages.Add(float64(behind))
		return protocol.HelloResumed(behind), ""
	case hub.Unknown:
		failed = "the offset was not issued by this server's history; messages since it cannot be recovered, continuing with live messages"
	default:
		failed = "the offset is older than the server's history; messages since it cannot be recovered, continuing with live messages"
	}
	s.metrics.FailedRecoveries.Inc()
	c.cursor = s.log.Head()
	return protocol.Hello(), failed
}

// write sends one JSON message to this client alone.
func (c *client) write(msg []byte) error {
	return c.raw.writeFrames(c.srv.cfg.WriteTimeout, protocol.TextFrame(msg))
}

// close ends the connection with a close frame, recording why. Only the
// first decision counts.
func (c *client) close(code websocket.StatusCode, reason string) {
	if c.closeCode.CompareAndSwap(0, int32(code)) {
		c.closeReason.Store(&reason)
	}
	_ = c.conn.Close(code, reason)
}

// drop ends the connection without a close frame, for peers that can no
// longer receive one.
func (c *client) drop(reason string) {
	if c.closeCode.CompareAndSwap(0, int32(statusNoFrame)) {
		c.closeReason.Store(&reason)
	}
	_ = c.conn.CloseNow()
}

// readLoop reads until the connection ends. Nothing on a connection takes a
// cancellable context: closing the connection is what stops every read,
// write and ping, and a cancellable parent would cost each idle connection
// a context, a channel and a children map.
func (c *client) readLoop() error {
	ctx := context.Background()
	s := c.srv
	var limiter *rate.Limiter
	if s.cfg.RateLimit > 0 {
		limiter = rate.NewLimiter(rate.Limit(s.cfg.RateLimit), s.cfg.RateBurst)
	}
	strikes := 0
	for {
		typ, data, err := c.conn.Read(ctx)
		if err != nil {
			if errors.Is(err, websocket.ErrMessageTooBig) {
				s.metrics.InvalidMessages.WithLabelValues("too_big").Inc()
				// The library has already sent the 1009 close frame.
				if c.closeCode.CompareAndSwap(0, int32(websocket.StatusMessageTooBig)) {
					reason := "message larger than MAX_MESSAGE_BYTES"
					c.closeReason.Store(&reason)
				}
			}
			return err
		}
		if typ != websocket.MessageText {
			s.metrics.InvalidMessages.WithLabelValues("binary").Inc()
			c.close(websocket.StatusUnsupportedData, protocol.ReasonBinary)
			return nil
		}
		if limiter != nil && !limiter.Allow() {
			s.metrics.InvalidMessages.WithLabelValues("rate_limited").Inc()
			// A client that keeps sending into an empty bucket for a whole
			// burst's worth of messages is not slowing down: close it.
			if strikes++; strikes > s.cfg.RateBurst {
				c.close(websocket.StatusPolicyViolation, protocol.ReasonRateLimited)
				return nil
			}
			if err := c.write(protocol.EncodeError(protocol.CodeRateLimited, "message dropped: over the per-connection rate limit; slow down")); err != nil {
				return err
			}
			continue
		}
		strikes = 0
		payload, err := protocol.ParseMessage(data)
		if err != nil {
			s.metrics.InvalidMessages.WithLabelValues("invalid_json").Inc()
			if err := c.write(protocol.EncodeError(protocol.CodeInvalidJSON, err.Error())); err != nil {
				return err
			}
			continue
		}
		if err := s.pub.Publish(ctx, payload); err != nil {
			c.logger.Warn("publish failed", "err", err)
			if err := c.write(protocol.EncodeError(protocol.CodeUnavailable, "message not accepted: "+err.Error())); err != nil {
				return err
			}
			continue
		}
		c.received.Add(1)
		s.metrics.MessagesIn.Inc()
	}
}

// wake runs on the publishing goroutine for a parked client, so it never
// blocks: the common case, a client that keeps up, costs one non-blocking
// writev; anything else goes to a writer goroutine.
func (c *client) wake() {
	if c.over.Load() {
		return
	}
	s := c.srv
	var buf [batchSize]hub.Entry
	batch, behind, res := s.log.Read(c.cursor, buf[:0])
	if res != hub.Ready || behind > s.cfg.SendQueue || behind != len(batch) || len(batch) == 0 {
		go c.writeLoop() // eviction, a backlog longer than a batch, or a race
		return
	}
	var wire [batchSize][]byte
	for i := range batch {
		wire[i] = batch[i].Wire
	}
	written, done := c.raw.tryWrite(wire[:len(batch)])
	if !done {
		rest := unwritten(wire[:len(batch)], written)
		last := batch[len(batch)-1]
		go c.finishThenLoop(rest, last, len(batch))
		return
	}
	c.delivered(batch[len(batch)-1], len(batch), batch[0].At)
	if !s.log.Park(c.cursor, c.waiter) {
		go c.writeLoop()
	}
}

// delivered advances the cursor past last after n frames were written.
func (c *client) delivered(last hub.Entry, n int, oldest time.Time) {
	c.cursor = last.Offset
	c.sent.Add(int64(n))
	c.srv.metrics.ObserveDelivery(n, oldest)
}

// finishThenLoop writes the rest of frames a non-blocking write left
// behind, then carries on as the writer.
func (c *client) finishThenLoop(rest [][]byte, last hub.Entry, n int) {
	if err := c.raw.writeFrames(c.srv.cfg.WriteTimeout, rest...); err != nil {
		c.writeFailed(err)
		return
	}
	c.delivered(last, n, last.At)
	c.writeLoop()
}

// unwritten returns what remains of frames after the first n bytes.
func unwritten(frames [][]byte, n int) [][]byte {
	var rest [][]byte
	for _, f := range frames {
		switch {
		case n >= len(f):
			n -= len(f)
		default:
			rest = append(rest, f[n:])
			n = 0
		}
	}
	return rest
}

// writeLoop writes what the log holds past the cursor, blocking as long as
// the write timeout allows, until it has caught up and parked, or the
// connection is over.
func (c *client) writeLoop() {
	s := c.srv
	var buf [batchSize]hub.Entry
	for !c.over.Load() {
		batch, behind, res := s.log.Read(c.cursor, buf[:0])
		switch {
		case res != hub.Ready || behind > s.cfg.SendQueue:
			s.metrics.Evictions.WithLabelValues("queue_full").Inc()
			c.close(websocket.StatusPolicyViolation, protocol.ReasonSlowConsumer)
			return
		case len(batch) == 0:
			if s.log.Park(c.cursor, c.waiter) {
				return
			}
			continue
		}
		if err := c.writeBatch(batch); err != nil {
			c.writeFailed(err)
			return
		}
		c.delivered(batch[len(batch)-1], len(batch), batch[0].At)
		clear(buf[:])
	}
}

// writeFailed ends a connection whose write failed; a timeout means a slow
// consumer.
func (c *client) writeFailed(err error) {
	if errors.Is(err, errTimeout) {
		c.srv.metrics.Evictions.WithLabelValues("write_timeout").Inc()
		c.drop("slow consumer: write timed out")
	}
}

// writeBatch writes the frames in one system call under one deadline, so
// that a client whose socket stays full for WRITE_TIMEOUT is evicted.
func (c *client) writeBatch(batch []hub.Entry) error {
	var wire [batchSize][]byte
	for i := range batch {
		wire[i] = batch[i].Wire
	}
	return c.raw.writeFrames(c.srv.cfg.WriteTimeout, wire[:len(batch)]...)
}

// rawConn serialises every write to one socket: the library's control and
// close frames, which reach it through the bufio.Writer handed over at the
// upgrade and are each flushed in one Write, and the data frames the server
// writes itself, already framed. Broadcast frames are framed once for all
// clients and go out without passing through the library's per-message
// writer: one syscall for everything pending, nothing done per client.
type rawConn struct {
	mu sync.Mutex
	nc net.Conn
	rc syscall.RawConn // for non-blocking writes; nil if nc has none

	// The non-blocking write's arguments and result, under mu: passing
	// them through fields lets one callback, bound once, serve every
	// write instead of a closure allocated per delivery.
	pending [][]byte
	written int
	attempt func(fd uintptr) bool
}

func newRawConn(nc net.Conn) *rawConn {
	r := &rawConn{nc: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		r.rc, _ = sc.SyscallConn()
	}
	r.attempt = r.writevOnce
	return r
}

// tryWrite writes as much of frames as the socket takes right now, without
// waiting for it, and reports how many bytes went and whether that was
// all. It does nothing when another write holds the socket.
func (r *rawConn) tryWrite(frames [][]byte) (int, bool) {
	if r.rc == nil || !r.mu.TryLock() {
		return 0, false
	}
	defer r.mu.Unlock()
	total := 0
	for _, f := range frames {
		total += len(f)
	}
	r.pending, r.written = frames, 0
	_ = r.rc.Write(r.attempt)
	r.pending = nil
	return r.written, r.written == total
}

// writevOnce is the RawConn callback: one gather write, and never a wait
// (returning false would block until the socket is writable).
func (r *rawConn) writevOnce(fd uintptr) bool {
	if n, err := writev(int(fd), r.pending); err == nil && n > 0 {
		r.written = n
	}
	return true
}

// Write is the library's path to the socket.
func (r *rawConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nc.Write(p)
}

// writeFrames writes complete frames, giving up after timeout. A write cut
// short leaves a partial frame on the wire, so the caller must then drop
// the connection; errTimeout says that is why.
func (r *rawConn) writeFrames(timeout time.Duration, frames ...[]byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.nc.SetWriteDeadline(time.Now().Add(timeout))
	bufs := net.Buffers(frames)
	_, err := bufs.WriteTo(r.nc)
	_ = r.nc.SetWriteDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errTimeout
	}
	return err
}

var errTimeout = errors.New("write timed out")

// keepalive pings once and drops the peer if no pong arrives in time.
func (c *client) keepalive() {
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.PingTimeout)
	defer cancel()
	if err := c.conn.Ping(ctx); err != nil && !c.over.Load() {
		c.drop("ping timeout: no pong within PING_TIMEOUT")
	}
}

// finish records how the connection ended.
func (c *client) finish(err error) {
	_ = c.conn.CloseNow()
	code := websocket.StatusCode(c.closeCode.Load())
	reason := ""
	if p := c.closeReason.Load(); p != nil {
		reason = *p
	}
	by := "server"
	if code == 0 {
		by = "client"
		code = websocket.CloseStatus(err)
		if code == -1 {
			code = statusNoFrame
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			reason = ce.Reason
		}
	}
	c.srv.metrics.ObserveClose(int(code))
	c.logger.Info(contract.LogConnectionClosed, contract.LogFieldCloseCode, int(code), "reason", reason, "by", by,
		"duration", time.Since(c.opened).Round(time.Millisecond).String(),
		"received", c.received.Load(), "delivered", c.sent.Load())
}
