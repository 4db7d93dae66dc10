package transport

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
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

// client is one WebSocket connection. Reading takes no goroutine deep in
// the library while the client is quiet: await waits for the socket to be
// readable with a small stack and takes pings and pongs itself; anything
// else it reads, one message at a time, with the library (see read.go).
// Writing needs no goroutine of its own while the client keeps up: when a
// broadcast arrives the log wakes the parked client, which writes what is
// pending with one non-blocking writev and parks again (wake). Only a
// client whose socket cannot take it all at once gets a writer goroutine
// (writeLoop), which blocks, with the write timeout, until it has caught up
// and parks.
type client struct {
	srv    *Server
	conn   *websocket.Conn // messages, client pings, closes
	raw    *rawConn        // data frames, pre-framed, and pings
	over   atomic.Bool     // set once reading has ended
	cursor uint64          // offset of the last broadcast written; owned by the writer
	waiter *hub.Waiter
	opened time.Time

	// For log lines: a logger of its own per connection would cost every
	// idle connection a few hundred bytes.
	id      uint64
	remote  string
	forward string

	// br is the library's buffered reader. Between messages await reads
	// it too, under gate; a close handshake, which reads it from another
	// goroutine, sets closing under gate first, and await never touches
	// it again.
	br      *bufio.Reader
	gate    sync.Mutex
	closing bool
	// pipelined is set when the client sent bytes right behind its
	// handshake: the library holds them outside br, so the first read
	// must be the library's.
	pipelined bool

	// awaitingPong is set when a ping goes out and cleared by any pong.
	awaitingPong atomic.Bool

	// The rate limit, owned by the reading goroutine of the moment.
	limiter *rate.Limiter
	strikes int

	// closeCode is the code the server closed with, 0 until it decides to.
	closeCode   atomic.Int32
	closeReason atomic.Pointer[string]
	received    atomic.Int64
	sent        atomic.Int64
}

// start greets the client and starts waiting for its messages. It runs on
// net/http's goroutine, which returns right after: that goroutine has grown
// its stack parsing the request, and the reader starts afresh.
func (c *client) start(resume bool) {
	c.log(slog.LevelInfo, "connection opened", "resume", resume)

	hello, failed := protocol.Hello(), ""
	if resume {
		hello, failed = c.resume()
	}
	if err := c.write(hello); err != nil {
		c.end(err)
		return
	}
	if failed != "" {
		_ = c.write(protocol.EncodeError(protocol.CodeRecoveryFailed, failed))
	}
	if !c.srv.log.Park(c.cursor, c.waiter) {
		go c.writeLoop() // a resume's replay, or broadcasts since the upgrade
	}
	switch {
	case !c.raw.canWait():
		go c.readAll()
	case c.pipelined:
		go c.read()
	default:
		go c.await()
	}
}

// end tears the connection down once reading is over; it runs exactly once.
func (c *client) end(err error) {
	c.over.Store(true)
	c.srv.log.Unpark(c.waiter)
	c.finish(err)
	c.srv.remove(c)
	c.srv.open.Add(-1)
}

// log writes one line about this connection.
func (c *client) log(level slog.Level, msg string, args ...any) {
	l := c.srv.logger
	if !l.Enabled(context.Background(), level) {
		return
	}
	args = append(args, "conn", c.id, "remote", c.remote, "forwarded_for", c.forward)
	l.Log(context.Background(), level, msg, args...)
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
	// The library reads the peer's reply itself; await must keep off br.
	c.gate.Lock()
	c.closing = true
	c.gate.Unlock()
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
	written, complete, held := c.raw.tryWrite(wire[:len(batch)])
	switch {
	case held:
		rest := unwritten(wire[:len(batch)], written)
		go c.finishThenLoop(rest, batch[len(batch)-1], len(batch))
		return
	case !complete:
		go c.writeLoop() // nothing went; the writer takes it from the log
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
// behind, on the socket it kept locked, then carries on as the writer.
func (c *client) finishThenLoop(rest [][]byte, last hub.Entry, n int) {
	if err := c.raw.writeRest(c.srv.cfg.WriteTimeout, rest, true); err != nil {
		c.writeFailed(err)
		return
	}
	c.delivered(last, n, last.At)
	c.writeLoop()
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

// ping sends a ping without waiting for the socket. The pong is not waited
// for either: Server.Run checks awaitingPong PING_TIMEOUT later. A socket
// that cannot take two bytes now gets them from a goroutine that waits as
// long as the write timeout allows.
func (c *client) ping() {
	if c.over.Load() {
		return
	}
	c.awaitingPong.Store(true)
	frames := c.srv.ping
	written, complete, held := c.raw.tryWrite(frames)
	if complete {
		return
	}
	rest := unwritten(frames, written)
	go func() {
		if err := c.raw.writeRest(c.srv.cfg.WriteTimeout, rest, held); err != nil {
			c.writeFailed(err)
		}
	}()
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
	c.log(slog.LevelInfo, contract.LogConnectionClosed, contract.LogFieldCloseCode, int(code), "reason", reason, "by", by,
		"duration", time.Since(c.opened).Round(time.Millisecond).String(),
		"received", c.received.Load(), "delivered", c.sent.Load())
}
