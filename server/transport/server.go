// Package transport speaks WebSocket to clients: it upgrades requests,
// enforces the per-connection limits, feeds valid messages to the publisher
// and writes every broadcast in the log to every client. It also answers the
// load balancer's health checks and runs the drain on shutdown.
package transport

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/contract"
	"github.com/wsfargate/websocket-service/server/hub"
	"github.com/wsfargate/websocket-service/server/metrics"
	"github.com/wsfargate/websocket-service/server/protocol"
)

// Publisher takes a client's message for broadcast. A nil error means the
// message is accepted and will reach the log; an error means it never will.
type Publisher interface {
	Publish(ctx context.Context, payload json.RawMessage) error
}

// Server serves WebSocket clients and health checks.
type Server struct {
	cfg     *config.Config
	log     *hub.Log
	pub     Publisher
	metrics *metrics.Metrics
	logger  *slog.Logger
	sources *sourceGate // the per-source limits, applied before any WebSocket work
	poll    *poller     // tells idle connections they are readable; nil where there is none

	draining atomic.Bool
	nextID   atomic.Uint64
	open     atomic.Int64 // reserved slots: connections being upgraded or open

	mu      sync.Mutex
	clients map[*Conn]struct{}
	gone    chan struct{} // closed when the last client leaves while draining
}

// New returns a server that delivers the entries of log to its clients and
// hands their messages to pub.
func New(cfg *config.Config, log *hub.Log, pub Publisher, m *metrics.Metrics, logger *slog.Logger) *Server {
	poll, err := newPoller()
	if err != nil {
		logger.Info("no poller: each idle connection keeps a goroutine", "err", err)
	}
	return &Server{
		cfg:     cfg,
		log:     log,
		pub:     pub,
		metrics: m,
		logger:  logger,
		sources: newSourceGate(cfg, m, logger),
		poll:    poll,
		clients: make(map[*Conn]struct{}),
	}
}

// Close releases the poller. Connections still open are not read any
// more; call it once they are closed.
func (s *Server) Close() {
	if s.poll != nil {
		s.poll.close()
	}
}

// Handler routes the public listener: the seed's WebSocket endpoint (unless
// WSS_ENABLED is off) and the health checks. Anything else is 404.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	if s.cfg.WSSEnabled {
		mux.HandleFunc("GET "+contract.WebSocketPath, s.serveWebSocket)
	}
	mux.HandleFunc("GET "+contract.HealthPath, s.serveHealth)
	mux.HandleFunc("GET "+contract.RootPath+"{$}", s.serveHealth)
	return mux
}

// Connections returns the number of open WebSocket connections.
func (s *Server) Connections() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.clients))
}

// Run pings every client each PING_INTERVAL and, PING_TIMEOUT later, drops
// those that have not answered, until ctx ends. The pings are written from
// this goroutine without waiting on any socket, so a sweep costs no
// goroutine, timer or context per client.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	var pinged []*Conn
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		for c := range s.clients {
			pinged = append(pinged, c)
		}
		s.mu.Unlock()
		for _, c := range pinged {
			c.ping()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.PingTimeout):
		}
		for _, c := range pinged {
			if c.awaitingPong.Load() && !c.over.Load() {
				// Closing waits for a close handshake, for seconds; the
				// sweep must not.
				if c.profile.NoPong != 0 {
					go c.close(c.profile.NoPong, c.profile.NoPongReason)
				} else {
					go c.drop("ping timeout: no pong within PING_TIMEOUT")
				}
			}
		}
		clear(pinged) // let the clients that left be collected
		pinged = pinged[:0]
	}
}

func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("draining\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// refuse answers an upgrade the server will not take.
func (s *Server) refuse(w http.ResponseWriter, status int, reason, msg string) {
	s.metrics.Rejected.WithLabelValues(reason).Inc()
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	w.Header().Set("Connection", "close")
	http.Error(w, msg, status)
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		s.refuse(w, http.StatusServiceUnavailable, "draining", "server is shutting down; reconnect to reach another instance")
		return
	}
	cursor := s.log.Head()
	resume := false
	if v := sinceParam(r); v != "" {
		since, err := protocol.ParseOffset(v)
		if err != nil {
			s.refuse(w, http.StatusBadRequest, "bad_request", "since: "+err.Error())
			return
		}
		cursor, resume = since, true
		s.catchUp(since)
	}
	c := s.accept(w, r, nil, &seedProfile)
	if c == nil {
		return
	}
	c.room = feed{c: c, log: s.log, cursor: cursor}
	c.room.waiter = hub.NewWaiter(c.room.wake)
	c.start(resume, r)
}

// sinceParam returns the since query parameter, without parsing a query
// that is not there: most connections have none.
func sinceParam(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return r.URL.Query().Get("since")
}

// Upgrade takes the request's WebSocket for a protocol adapter and serves it
// with the same machinery as the seed's endpoint.
func (s *Server) Upgrade(w http.ResponseWriter, r *http.Request, p Protocol, profile *Profile) {
	if s.draining.Load() {
		s.refuse(w, http.StatusServiceUnavailable, "draining", "server is shutting down; reconnect to reach another instance")
		return
	}
	if c := s.accept(w, r, p, profile); c != nil {
		c.start(false, r)
	}
}

// accept upgrades the request within MAX_CONNECTIONS and registers the
// connection; it returns nil when the request was answered otherwise.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, p Protocol, profile *Profile) (c *Conn) {
	client, release, ok := s.sources.admit(w, r)
	if !ok {
		return nil
	}
	defer func() {
		if c == nil {
			release()
		}
	}()
	full := s.open.Add(1) > int64(s.cfg.MaxConnections)
	if full && profile.OverCapacity == 0 {
		s.open.Add(-1)
		s.refuse(w, http.StatusServiceUnavailable, "capacity", protocol.ReasonOverCapacity)
		return nil
	}
	c = &Conn{srv: s, proto: p, profile: profile, opened: time.Now(), remote: client, forward: r.Header.Get("X-Forwarded-For"), release: release}
	hj := &leanHijack{ResponseWriter: w, c: c}
	conn, err := websocket.Accept(hj, r, &websocket.AcceptOptions{
		OriginPatterns: s.cfg.AllowedOrigins,
		// Broadcast frames are encoded once and shared; per-connection
		// compression would re-encode each for every client.
		CompressionMode: websocket.CompressionDisabled,
		// Pongs that arrive while the library is reading a message.
		OnPongReceived: func(context.Context, []byte) { c.awaitingPong.Store(false) },
	})
	if err != nil {
		s.open.Add(-1)
		// Accept has already answered (403 for a foreign origin, 426 for a
		// plain GET).
		s.metrics.Rejected.WithLabelValues("handshake").Inc()
		s.logger.Debug("upgrade refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return nil
	}
	if full {
		s.open.Add(-1)
		s.metrics.Rejected.WithLabelValues("capacity").Inc()
		_ = conn.Close(profile.OverCapacity, protocol.ReasonOverCapacity)
		return nil
	}
	conn.SetReadLimit(s.cfg.MaxMessageBytes)
	c.conn, c.raw, c.br, c.pipelined = conn, hj.raw, hj.br, hj.pipelined
	c.id = s.nextID.Add(1)
	if !s.add(c) {
		// Draining began while this upgrade was in flight.
		s.open.Add(-1)
		_ = conn.Close(profile.Shutdown, profile.ShutdownReason)
		return nil
	}
	return c
}

// AdmitAPI applies the per-source HTTP API limit to r; when it refuses, it
// has answered 429 and the caller must not.
func (s *Server) AdmitAPI(w http.ResponseWriter, r *http.Request) bool {
	_, ok := s.sources.admitAPI(w, r)
	return ok
}

// resumeCatchUp bounds how long a resuming client whose offset is ahead of
// this task's log waits for the log to get there. Every task follows the
// same Redis stream, some a few milliseconds behind others, so a client
// that moves from a task ahead to one behind brings an offset this log has
// not reached yet; starting it from this log's head would hand it again
// what it already has.
const resumeCatchUp = 2 * time.Second

// catchUp waits, at most resumeCatchUp, until the log has reached offset.
// It runs before the upgrade, while the client is not yet pinged and
// nothing is expected of it.
func (s *Server) catchUp(offset uint64) {
	deadline := time.Now().Add(resumeCatchUp)
	for s.log.Head() < offset && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// leanHijack takes over the connection from net/http for coder/websocket,
// with three changes. The library gets small buffers instead of net/http's
// 4 KiB pair: frames are read header by header and written once per
// message, so that costs few syscalls and saves about 7 KiB on every idle
// connection. Its writes go through a rawConn, so that the server can
// write pre-framed broadcasts to the same socket without interleaving with
// the library's control frames. And the 101 response is not flushed at
// the hijack, in a system call of its own, but goes out with the greeting.
type leanHijack struct {
	http.ResponseWriter
	raw       *rawConn
	br        *bufio.Reader
	pipelined bool // the client sent bytes right behind its handshake
	switching bool // the library asked for the 101, held back until Hijack
	c         *Conn
}

// WriteHeader holds back the 101 the library asks for just before it
// hijacks; any other status is an answer of net/http's.
func (w *leanHijack) WriteHeader(code int) {
	if code == http.StatusSwitchingProtocols {
		w.switching = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// The library's buffers. The reader holds the head of a client's frames;
// a larger message bypasses it and is read straight into the message. The
// writer only ever takes control frames, at most 127 bytes each and each
// flushed at once, so every frame reaches rawConn in one Write: a frame
// split over two Writes could have a broadcast written into its middle.
const (
	readBuffer  = 256
	writeBuffer = 128
)

func (w *leanHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.br, w.pipelined = brw.Reader, brw.Reader.Buffered() > 0
	if !w.pipelined {
		// Bytes the client sent right behind its handshake are already in
		// the old buffer; only then does it have to stay.
		w.br = bufio.NewReaderSize(nc, readBuffer)
	}
	w.raw = newRawConn(nc)
	if w.switching {
		// Written into net/http's write buffer, which the connection no
		// longer uses, so that it costs no allocation.
		w.raw.head = switchingProtocols(brw.Writer.AvailableBuffer(), w.Header())
	}
	lib := nc
	if p := w.c.srv.poll; p != nil && w.raw.canWait() {
		lib = p.wrap(nc, w.c)
	}
	return lib, bufio.NewReadWriter(w.br, bufio.NewWriterSize(w.raw, writeBuffer)), nil
}

// switchingProtocols appends the 101 response with header to dst.
func switchingProtocols(dst []byte, header http.Header) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\n"...)
	for k, vs := range header {
		for _, v := range vs {
			dst = append(dst, k...)
			dst = append(dst, ": "...)
			dst = append(dst, v...)
			dst = append(dst, "\r\n"...)
		}
	}
	return append(dst, "\r\n"...)
}

func (s *Server) add(c *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.clients[c] = struct{}{}
	s.metrics.Connections.Set(float64(len(s.clients)))
	s.metrics.Accepted.Inc()
	return true
}

func (s *Server) remove(c *Conn) {
	if c.release != nil {
		c.release() // outside s.mu: the limiter has locks of its own
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.clients, c)
	s.metrics.Connections.Set(float64(len(s.clients)))
	if len(s.clients) == 0 && s.gone != nil {
		close(s.gone)
		s.gone = nil
	}
}

// Listen opens the public listener. Its connections get no TCP keepalive:
// the server pings every WebSocket itself (Run), within the load
// balancer's idle timeout, and the HTTP API's idle connections have
// net/http's IdleTimeout, so the four setsockopt calls that Go's default
// keepalive costs on every accepted connection would buy nothing.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(ctx, "tcp", addr)
}
