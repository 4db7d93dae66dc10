package transport

import (
	"context"
	"errors"
	"log/slog"
	"net"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/wsfargate/websocket-service/server/protocol"
)

// errClosedByServer ends reading after the server closed the connection
// itself; finish reports the code the server chose.
var errClosedByServer = errors.New("closed by the server")

// What scan found at the head of the client's input.
type head int

const (
	headEmpty      head = iota // nothing buffered
	headMessage                // a frame for the library, or an error for it to report
	headClosing                // a close handshake owns the input
	headPeerClosed             // the client sent a close frame, to be answered
)

// await takes the client's next frames. Pings, pongs and the client's
// close, the only frames an idle client sends, are taken here; for
// anything else this goroutine becomes the reader of one message, and a
// new await takes over after it. When nothing is left to read, the
// connection parks on the poller and the goroutine ends: an idle
// connection holds none (see poller). Where there is no poller, the
// goroutine waits here instead, in a few small frames, so that its stack
// stays at the 2 KiB minimum.
func (c *Conn) await() {
	fill := false
	for {
		switch h, reply, said := c.scan(fill); h {
		case headClosing:
			c.end(net.ErrClosed)
			return
		case headPeerClosed:
			c.answerClose(reply)
			c.end(said)
			return
		case headMessage:
			c.read()
			return
		}
		if c.polled {
			if c.park() {
				return
			}
		} else if err := c.raw.waitReadable(); err != nil {
			c.end(err) // the socket was closed under us
			return
		}
		fill = true
	}
}

// park hands the connection to the poller, which starts a new await when
// input arrives, and reports whether the caller must stop reading: false
// means input is already waiting, or the socket was closed, and the
// caller is still the reader.
func (c *Conn) park() bool {
	c.watching.Store(true)
	// Under gate: a parker that has just lost the connection to a new
	// reader may still be peeking, and the probe's result is one field.
	c.gate.Lock()
	ready, err := c.raw.peek()
	c.gate.Unlock()
	if err == nil && !ready {
		return true
	}
	// Whoever takes watching back is the reader: the poller or a close
	// may have been quicker.
	return !c.watching.CompareAndSwap(true, false)
}

// scan takes the complete pings and pongs at the head of the buffered
// input and reports what follows; for a client's close it returns the
// reply to send and what the client said. It never blocks: it reads the
// socket only when fill says the socket is readable, and then reads what
// is there.
func (c *Conn) scan(fill bool) (head, []byte, websocket.CloseError) {
	c.gate.Lock()
	defer c.gate.Unlock()
	if c.closing {
		return headClosing, nil, websocket.CloseError{}
	}
	if fill && c.br.Buffered() == 0 {
		if _, err := c.br.Peek(1); err != nil {
			return headMessage, nil, websocket.CloseError{} // the library reads it again and reports it
		}
	}
	for {
		n := c.br.Buffered()
		if n == 0 {
			return headEmpty, nil, websocket.CloseError{}
		}
		h, _ := c.br.Peek(min(n, 2))
		op, size := protocol.ClientControl(h)
		if size == 0 || size > n {
			// Not a control frame, or one not all here yet: the library
			// reads it, blocking as long as it takes.
			return headMessage, nil, websocket.CloseError{}
		}
		frame, _ := c.br.Peek(size)
		switch op {
		case protocol.OpPing:
			c.writeSoon([][]byte{protocol.PongFor(frame)})
		case protocol.OpPong:
			c.awaitingPong.Store(false)
		case protocol.OpClose:
			// Answered here, the close costs no library read: that read
			// would grow this small stack and format errors on the way.
			reply, code, reason, ok := protocol.CloseReply(frame)
			if !ok {
				return headMessage, nil, websocket.CloseError{} // the library answers with 1002
			}
			_, _ = c.br.Discard(size)
			c.closing, c.peerClosed = true, true
			return headPeerClosed, reply, websocket.CloseError{Code: websocket.StatusCode(code), Reason: reason}
		}
		_, _ = c.br.Discard(size)
	}
}

// answerClose sends the reply to the client's close frame.
func (c *Conn) answerClose(reply []byte) {
	if err := c.sendControl(reply); err != nil {
		c.writeFailed(err)
	}
}

// sendControl writes one control frame: at once when the socket takes it,
// as it nearly always does, or else waiting up to the write timeout.
func (c *Conn) sendControl(frame []byte) error {
	frames := [][]byte{frame}
	written, complete, held := c.raw.tryWrite(frames)
	if complete {
		return nil
	}
	return c.raw.writeRest(c.srv.cfg.WriteTimeout, unwritten(frames, written), held)
}

// read reads one message with the library and acts on it, then parks the
// connection or goes back to await on a new goroutine, whose stack starts
// small again.
func (c *Conn) read() {
	if err := c.handle(); err != nil {
		c.end(err)
		return
	}
	if c.polled && c.drained() && c.park() {
		return
	}
	go c.await()
}

// drained reports whether nothing is buffered for await to take.
func (c *Conn) drained() bool {
	c.gate.Lock()
	defer c.gate.Unlock()
	return !c.closing && c.br.Buffered() == 0
}

// readAll reads with the library until the connection ends, for a socket
// whose readiness await cannot watch.
func (c *Conn) readAll() {
	for {
		if err := c.handle(); err != nil {
			c.end(err)
			return
		}
	}
}

// handle reads one message and acts on it. Nothing on a connection takes a
// cancellable context: closing the connection is what stops every read,
// write and ping, and a cancellable parent would cost each idle connection
// a context, a channel and a children map. A non-nil error ends the
// connection.
func (c *Conn) handle() error {
	ctx := context.Background()
	s := c.srv
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
		return errClosedByServer
	}
	if s.cfg.RateLimit > 0 {
		if c.limiter == nil {
			c.limiter = rate.NewLimiter(rate.Limit(s.cfg.RateLimit), s.cfg.RateBurst)
		}
		if !c.limiter.Allow() {
			s.metrics.InvalidMessages.WithLabelValues("rate_limited").Inc()
			// A client that keeps sending into an empty bucket for a whole
			// burst's worth of messages is not slowing down: close it.
			if c.strikes++; c.strikes > s.cfg.RateBurst {
				c.close(c.profile.RateLimited, c.profile.RateLimitedReason)
				return errClosedByServer
			}
			return c.write(c.profile.RateLimitedFrame)
		}
		c.strikes = 0
	}
	c.received.Add(1)
	if c.proto != nil {
		return c.proto.Message(c, data)
	}
	payload, err := protocol.ParseMessage(data)
	if err != nil {
		s.metrics.InvalidMessages.WithLabelValues("invalid_json").Inc()
		return c.write(protocol.EncodeError(protocol.CodeInvalidJSON, err.Error()))
	}
	if err := s.pub.Publish(ctx, payload); err != nil {
		c.log(slog.LevelWarn, "publish failed", "err", err)
		return c.write(protocol.EncodeError(protocol.CodeUnavailable, "message not accepted: "+err.Error()))
	}
	s.metrics.MessagesIn.Inc()
	return nil
}
