package transport

import (
	"sync/atomic"
	"time"

	"github.com/wsfargate/websocket-service/server/hub"
)

// feed is one connection reading one log: the seed's room, or one Pusher
// channel. Its cursor is the offset of the last entry written to the
// connection. Between entries the feed is parked on the log and holds no
// goroutine; a new entry wakes it on the publishing goroutine, which writes
// what is pending with one non-blocking writev and parks it again. Only a
// feed whose socket cannot take it all at once gets a writer goroutine
// (writeLoop), which blocks, with the write timeout, until it has caught up
// and parks. Every feed of a connection writes through the same rawConn, so
// frames never interleave; each feed's own entries stay in log order.
type feed struct {
	c       *Conn
	log     *hub.Log
	cursor  uint64 // owned by whichever of wake and writeLoop runs
	waiter  *hub.Waiter
	stopped atomic.Bool // set by Stop: an unsubscribed feed writes nothing more
}

// wakeBatch bounds what a wake writes; a feed further behind is caught up
// by writeLoop.
const wakeBatch = 4

// Feed is a connection's subscription to one log, for protocol adapters.
type Feed = feed

// Follow returns a feed of log for c that starts after the log's newest
// entry. It delivers nothing until Start, so the adapter can first write
// frames that must come before the channel's events (a subscription's
// confirmation, a cached event).
func (c *Conn) Follow(log *hub.Log) *Feed {
	f := &feed{c: c, log: log, cursor: log.Head()}
	f.waiter = hub.NewWaiter(f.wake)
	return f
}

// Start delivers the log's entries after the feed's cursor, now and as they
// come.
func (f *feed) Start() {
	if !f.park() {
		go f.writeLoop()
	}
}

// park parks the feed for the next entry unless entries are pending, and
// reports whether it did. A feed stopped (or whose connection ended) while
// it was being woken must not stay parked: the log would count it as a
// reader that has caught up, and a Pusher channel would let go of entries
// that a reader still needs.
func (f *feed) park() bool {
	if !f.log.Park(f.cursor, f.waiter) {
		return false
	}
	if f.done() {
		f.log.Unpark(f.waiter)
	}
	return true
}

// Stop ends delivery; a write already under way may finish.
func (f *feed) Stop() {
	f.stopped.Store(true)
	f.log.Unpark(f.waiter)
}

func (f *feed) done() bool { return f.stopped.Load() || f.c.over.Load() }

// wake runs on the publishing goroutine for a parked feed, so it never
// blocks: the common case, a client that keeps up, costs one non-blocking
// writev; anything else goes to a writer goroutine.
func (f *feed) wake() {
	if f.done() {
		return
	}
	c, s := f.c, f.c.srv
	// A client that keeps up is an entry or two behind; these arrays are
	// zeroed on every wake, so they stay small.
	var buf [wakeBatch]hub.Entry
	batch, behind, res := f.log.Read(f.cursor, buf[:0])
	if res != hub.Ready || behind > s.cfg.SendQueue || behind != len(batch) || len(batch) == 0 {
		go f.writeLoop() // eviction, a backlog longer than a batch, or a race
		return
	}
	var wire [wakeBatch][]byte
	frames := c.frames(batch, wire[:0])
	if len(frames) == 0 { // every entry was the connection's own
		f.delivered(batch[len(batch)-1], 0, batch[0].At)
		if !f.park() {
			go f.writeLoop()
		}
		return
	}
	written, complete, held := c.raw.tryWrite(frames)
	switch {
	case held:
		rest := unwritten(frames, written)
		go f.finishThenLoop(rest, batch[len(batch)-1], len(frames))
		return
	case !complete:
		go f.writeLoop() // nothing went; the writer takes it from the log
		return
	}
	f.delivered(batch[len(batch)-1], len(frames), batch[0].At)
	if !f.park() {
		go f.writeLoop()
	}
}

// frames appends the wire bytes of the entries this connection receives:
// all of them, less those that name it in Skip (a Pusher event triggered
// with its socket_id, or its own client event).
func (c *Conn) frames(batch []hub.Entry, dst [][]byte) [][]byte {
	for i := range batch {
		if c.skip != "" && batch[i].Skip == c.skip {
			continue
		}
		dst = append(dst, batch[i].Wire)
	}
	return dst
}

// delivered advances the cursor past last after n frames were written.
func (f *feed) delivered(last hub.Entry, n int, oldest time.Time) {
	f.cursor = last.Offset
	if n > 0 {
		f.c.sent.Add(int64(n))
		f.c.srv.metrics.ObserveDelivery(n, oldest)
	}
}

// finishThenLoop writes the rest of frames a non-blocking write left
// behind, on the socket it kept locked, then carries on as the writer.
func (f *feed) finishThenLoop(rest [][]byte, last hub.Entry, n int) {
	if err := f.c.raw.writeRest(f.c.srv.cfg.WriteTimeout, rest, true); err != nil {
		f.c.writeFailed(err)
		return
	}
	f.delivered(last, n, last.At)
	f.writeLoop()
}

// writeLoop writes what the log holds past the cursor, blocking as long as
// the write timeout allows, until it has caught up and parked, or the feed
// or the connection is over.
func (f *feed) writeLoop() {
	c, s := f.c, f.c.srv
	var buf [batchSize]hub.Entry
	var wire [batchSize][]byte
	for !f.done() {
		batch, behind, res := f.log.Read(f.cursor, buf[:0])
		switch {
		case res != hub.Ready || behind > s.cfg.SendQueue:
			s.metrics.Evictions.WithLabelValues("queue_full").Inc()
			c.close(c.profile.SlowConsumer, c.profile.SlowConsumerReason)
			return
		case len(batch) == 0:
			if f.park() {
				return
			}
			continue
		}
		// One system call under one deadline, so that a client whose
		// socket stays full for WRITE_TIMEOUT is evicted.
		frames := c.frames(batch, wire[:0])
		if len(frames) > 0 {
			if err := c.raw.writeFrames(s.cfg.WriteTimeout, frames...); err != nil {
				c.writeFailed(err)
				return
			}
		}
		f.delivered(batch[len(batch)-1], len(frames), batch[0].At)
		clear(buf[:])
	}
}
