package transport

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net/http"
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

// Conn is one WebSocket connection, of either protocol. Reading takes no goroutine deep in
// the library while the client is quiet: await waits for the socket to be
// readable with a small stack and takes pings and pongs itself; anything
// else it reads, one message at a time, with the library (see read.go).
// Writing needs no goroutine of its own while the client keeps up: when a
// broadcast arrives the log wakes the parked client, which writes what is
// pending with one non-blocking writev and parks again (wake). Only a
// client whose socket cannot take it all at once gets a writer goroutine
// (writeLoop), which blocks, with the write timeout, until it has caught up
// and parks.
type Conn struct {
	srv    *Server
	conn   *websocket.Conn // messages, client pings, closes
	raw    *rawConn        // data frames, pre-framed, and pings
	over   atomic.Bool     // set once reading has ended
	room   feed            // the seed protocol's one room; unused by others
	opened time.Time

	// proto is the adapter of a protocol other than the seed's, nil for
	// the seed's; profile says how the machinery speaks it.
	proto   Protocol
	profile *Profile
	// Session is the adapter's per-connection state.
	Session any
	// skip is the connection's id in the protocol (a Pusher socket_id):
	// broadcasts that name it in Entry.Skip are not written to it.
	skip string

	// For log lines: a logger of its own per connection would cost every
	// idle connection a few hundred bytes.
	id      uint64
	remote  string
	forward string

	// release gives the connection's place back to its source's count.
	release func()

	// br is the library's buffered reader. Between messages await reads
	// it too, under gate; a close handshake, which reads it from another
	// goroutine, sets closing under gate first, and await never touches
	// it again.
	br      *bufio.Reader
	gate    sync.Mutex
	closing bool
	// peerClosed is set, under gate, when await took the client's close
	// frame and is answering it.
	peerClosed bool
	// pipelined is set when the client sent bytes right behind its
	// handshake: the library holds them outside br, so the first read
	// must be the library's.
	pipelined bool

	// awaitingPong is set when a ping goes out and cleared by any pong.
	awaitingPong atomic.Bool

	// polled says the connection parks on the server's poller when idle;
	// watching is set while it is parked there, and slot is its place in
	// the poller, under the poller's lock (see poller).
	polled   bool
	watching atomic.Bool
	slot     uint32

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
func (c *Conn) start(resume bool, r *http.Request) {
	if c.logs(slog.LevelInfo) {
		c.logAttrs(slog.LevelInfo, "connection opened", slog.String("protocol", c.profile.Name), slog.Bool("resume", resume))
	}
	if c.proto != nil {
		if err := c.proto.Open(c, r); err != nil {
			c.end(err)
			return
		}
	} else if err := c.greet(resume); err != nil {
		c.end(err)
		return
	}
	if !c.raw.canWait() {
		go c.readAll()
		return
	}
	c.polled = c.srv.poll != nil && c.srv.poll.add(c)
	switch {
	case c.pipelined:
		go c.read()
	case !c.polled || !c.park():
		// A new connection, its greeting sent, usually has nothing to
		// read yet and parks at once, without a goroutine; this is the
		// other case.
		go c.await()
	}
}

// greet sends the seed protocol's greeting and starts the room's feed.
func (c *Conn) greet(resume bool) error {
	hello, failed := protocol.HelloFrame(), ""
	if resume {
		var msg []byte
		msg, failed = c.resume()
		hello = protocol.TextFrame(msg)
	}
	if err := c.raw.writeFrames(c.srv.cfg.WriteTimeout, hello); err != nil {
		return err
	}
	if failed != "" {
		_ = c.write(protocol.EncodeError(protocol.CodeRecoveryFailed, failed))
	}
	c.room.Start() // a resume's replay, or broadcasts since the upgrade
	return nil
}

// end tears the connection down once reading is over; it runs exactly once.
func (c *Conn) end(err error) {
	c.over.Store(true)
	if c.proto != nil {
		c.proto.Closed(c)
	} else {
		c.srv.log.Unpark(c.room.waiter)
	}
	c.finish(err)
	c.srv.remove(c)
	c.srv.open.Add(-1)
}

// log writes one line about this connection.
func (c *Conn) log(level slog.Level, msg string, args ...any) {
	l := c.srv.logger
	if !l.Enabled(context.Background(), level) {
		return
	}
	args = append(args, "conn", c.id, "remote", c.remote, "forwarded_for", c.forward)
	l.Log(context.Background(), level, msg, args...)
}

// logs reports whether lines at level are written, so that the two lines
// every connection writes cost nothing, not even their arguments, when
// they are not.
func (c *Conn) logs(level slog.Level) bool {
	return c.srv.logger.Enabled(context.Background(), level)
}

// logAttrs is log for the lines every connection writes: typed attributes
// need no boxing into interfaces.
func (c *Conn) logAttrs(level slog.Level, msg string, attrs ...slog.Attr) {
	attrs = append(attrs, slog.Uint64("conn", c.id), slog.String("remote", c.remote), slog.String("forwarded_for", c.forward))
	c.srv.logger.LogAttrs(context.Background(), level, msg, attrs...)
}

// resume checks a resuming client's offset against the history. When the
// history reaches back to it, the greeting says how many messages will be
// replayed before live ones. When it does not, the client starts from the
// live head and is told so with a recovery_failed frame after the greeting,
// never handed a silent gap; failed is that frame's detail.
func (c *Conn) resume() (hello []byte, failed string) {
	s := c.srv
	_, behind, res := s.log.Read(c.room.cursor, nil) // no entries, just the count
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
	c.room.cursor = s.log.Head()
	return protocol.Hello(), failed
}

// write sends one JSON message to this client alone.
func (c *Conn) write(msg []byte) error {
	return c.raw.writeFrames(c.srv.cfg.WriteTimeout, protocol.TextFrame(msg))
}

// Send writes one text message to this client alone, blocking up to the
// write timeout; a client that cannot take it in that time is evicted.
func (c *Conn) Send(msg []byte) error {
	err := c.write(msg)
	if err != nil {
		c.writeFailed(err)
	}
	return err
}

// Close ends the connection with a close frame. It waits for the peer's
// reply (bounded by the library), so adapters call it from the reading
// goroutine or a goroutine of their own.
func (c *Conn) Close(code websocket.StatusCode, reason string) { c.close(code, reason) }

// SetID names the connection in the protocol (a Pusher socket_id), so that
// broadcasts whose Entry.Skip names it pass it by. Set it before the first
// Follow.
func (c *Conn) SetID(id string) { c.skip = id }

// Ponged records an answer to the keepalive given in the protocol's own
// frames (pusher:pong).
func (c *Conn) Ponged() { c.awaitingPong.Store(false) }

// Remote returns the client's address, for log lines.
func (c *Conn) Remote() string { return c.remote }

// Log writes one line about this connection, with its id and address.
func (c *Conn) Log(level slog.Level, msg string, args ...any) { c.log(level, msg, args...) }

// close ends the connection with a close frame, recording why. Only the
// first decision counts.
func (c *Conn) close(code websocket.StatusCode, reason string) {
	// The library reads the peer's reply itself; await must keep off br.
	c.gate.Lock()
	c.closing = true
	peer := c.peerClosed
	c.gate.Unlock()
	if peer {
		return // the client closed first; await is answering it
	}
	if c.closeCode.CompareAndSwap(0, int32(code)) {
		c.closeReason.Store(&reason)
	}
	_ = c.conn.Close(code, reason)
}

// drop ends the connection without a close frame, for peers that can no
// longer receive one.
func (c *Conn) drop(reason string) {
	if c.closeCode.CompareAndSwap(0, int32(statusNoFrame)) {
		c.closeReason.Store(&reason)
	}
	_ = c.conn.CloseNow()
}

// writeFailed ends a connection whose write failed; a timeout means a slow
// consumer.
func (c *Conn) writeFailed(err error) {
	if errors.Is(err, errTimeout) {
		c.srv.metrics.Evictions.WithLabelValues("write_timeout").Inc()
		c.drop("slow consumer: write timed out")
	}
}

// ping sends a ping without waiting for the socket. The pong is not waited
// for either: Server.Run checks awaitingPong PING_TIMEOUT later.
func (c *Conn) ping() {
	if c.over.Load() {
		return
	}
	c.awaitingPong.Store(true)
	c.writeSoon(c.profile.Ping)
}

// writeSoon writes frames without waiting for the socket: what it cannot
// take now a goroutine writes, waiting as long as the write timeout
// allows.
func (c *Conn) writeSoon(frames [][]byte) {
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
func (c *Conn) finish(err error) {
	_ = c.conn.CloseNow()
	code := websocket.StatusCode(c.closeCode.Load())
	reason := ""
	if p := c.closeReason.Load(); p != nil {
		reason = *p
	}
	by := "server"
	if code == 0 {
		by = "client"
		code, reason = statusNoFrame, ""
		// A close answered by await comes as it is; only the library's
		// errors need unwrapping, which costs allocations.
		ce, ok := err.(websocket.CloseError)
		if !ok {
			ok = errors.As(err, &ce)
		}
		if ok {
			code, reason = ce.Code, ce.Reason
		}
	}
	c.srv.metrics.ObserveClose(int(code))
	if !c.logs(slog.LevelInfo) {
		return
	}
	c.logAttrs(slog.LevelInfo, contract.LogConnectionClosed, slog.Int(contract.LogFieldCloseCode, int(code)),
		slog.String("reason", reason), slog.String("by", by),
		slog.String("duration", time.Since(c.opened).Round(time.Millisecond).String()),
		slog.Int64("received", c.received.Load()), slog.Int64("delivered", c.sent.Load()))
}
