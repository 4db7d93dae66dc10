// Package hub orders broadcast messages and hands them to every connection.
//
// A message enters once, through the Log, which encodes its frame and keeps
// it under its offset. Each connection then reads the log from its own
// cursor, so the publisher never waits for, or even visits, any client:
// fan-out cost on the publishing path is O(1), a slow client only falls
// behind its own cursor, and every client sees the same messages in the same
// order. The log is a bounded ring, which doubles as the history a
// reconnecting client resumes from.
package hub

import (
	"context"
	"encoding/json"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsfargate/websocket-service/server/protocol"
)

// Entry is one broadcast as every client receives it.
type Entry struct {
	Offset uint64
	// Wire is the encoded JSON frame with its WebSocket header in front:
	// the exact bytes every client is sent, framed once for all of them.
	// It is shared by all readers and must not be modified.
	Wire []byte
	// At is when the entry was appended, for delivery latency.
	At time.Time
	// Skip names the one connection (by its protocol id, a Pusher
	// socket_id) that must not be sent this entry, or is empty.
	Skip string
}

// Frame is the encoded JSON frame: Wire without its WebSocket header.
func (e *Entry) Frame() []byte { return e.Wire[protocol.TextHeaderLen(e.Wire):] }

// Log is a bounded ring of broadcast frames in increasing offset order.
// Offsets need not be consecutive (a broker's may have gaps), only
// increasing. It is safe for concurrent use.
type Log struct {
	mu     sync.RWMutex
	ring   []Entry
	oldest int       // ring index of the oldest entry
	n      int       // entries in the ring
	last   uint64    // offset of the newest entry, or floor while empty
	floor  uint64    // entries at or below floor may be gone; above it none are
	parked []*Waiter // readers waiting for the next entry, without a goroutine
	spare  []*Waiter // a drained parked slice, kept to reuse its array
	now    func() time.Time
	added  atomic.Uint64
	// capacity is what the ring may grow to; it starts small, because a
	// log per channel must cost little while the channel is quiet.
	capacity int
	// frame appends the frame of payload at offset to dst.
	frame func(dst, payload []byte, offset uint64) []byte
}

// recentScan is how many of the newest entries Read looks at one by one
// before it searches.
const recentScan = 4

// gatherReaders is how many parked readers make it worth yielding before
// waking them, so that concurrent appends reach them together: the yield
// delays this append's delivery, and what it saves, a write per reader for
// each entry gathered, grows with the readers. A Pusher channel of a few
// subscribers, appended to by an API request with other channels to go,
// is better served at once (its delivery p99 doubled with the yield).
const gatherReaders = 32

// firstRing is the ring's size before it first grows.
const firstRing = 8

// Waiter is a reader that has caught up and parked: it holds no goroutine
// while it waits, and the log calls its wake function once when the next
// entry arrives, from the appending goroutine. An idle connection so costs
// no stack at all. The wake function must not block: it may try a
// non-blocking write and must hand anything that could wait to a goroutine
// of its own.
type Waiter struct {
	wake func()
	slot int // index in Log.parked; -1 when not parked
}

// NewWaiter returns a waiter that calls wake.
func NewWaiter(wake func()) *Waiter { return &Waiter{wake: wake, slot: -1} }

// NewLog returns a log that keeps the last capacity entries. floor is the
// highest offset whose loss the log cannot rule out: a reader that has seen
// floor (or anything later) can continue without a gap; one that stopped
// before it cannot.
func NewLog(capacity int, floor uint64) *Log {
	return newLog(capacity, firstRing, floor, func(dst, payload []byte, offset uint64) []byte {
		return protocol.AppendBroadcast(dst, payload, offset)
	})
}

// NewFrameLog returns a log of frames that its publisher encodes itself
// (AppendFrame): a Pusher channel's events. Offsets start at 1.
func NewFrameLog(capacity int) *Log {
	// Its ring starts empty: a channel's log that lets go of delivered
	// entries (Forget) rarely holds more than one.
	return newLog(capacity, 0, 0, func(dst, frame []byte, _ uint64) []byte { return append(dst, frame...) })
}

func newLog(capacity, first int, floor uint64, frame func(dst, payload []byte, offset uint64) []byte) *Log {
	capacity = max(capacity, 1)
	return &Log{
		ring:     make([]Entry, min(capacity, first)),
		capacity: capacity,
		last:     floor,
		floor:    floor,
		now:      time.Now,
		frame:    frame,
	}
}

// StartOffset derives the floor of a fresh in-memory log from the clock:
// milliseconds since the epoch shifted left 20 bits, the layout the Redis
// broker gives stream IDs. A new process so starts above every offset an earlier
// one handed out (at under a million messages per millisecond), and a client
// resuming from an earlier process's offset is told that history is gone
// instead of being given a gap.
func StartOffset(now time.Time) uint64 {
	return uint64(now.UnixMilli()) << 20
}

// Append adds a broadcast of payload, which must be valid JSON, at the next
// offset, and returns that offset. It is the publisher for a single process.
func (l *Log) Append(payload json.RawMessage) uint64 {
	l.mu.Lock()
	off := l.last + 1
	l.wake(l.insert(off, payload, ""))
	return off
}

// AppendFrame adds frame, already encoded, at the next offset, to be
// written to every reader but the connection that skip names (if any). It
// returns the offset.
func (l *Log) AppendFrame(frame []byte, skip string) uint64 {
	l.mu.Lock()
	off := l.last + 1
	l.wake(l.insert(off, frame, skip))
	return off
}

// AppendAt adds a broadcast of payload at offset, as ordered by a broker. An
// offset at or below the newest one is a redelivery and is ignored; AppendAt
// reports whether the entry was added.
func (l *Log) AppendAt(offset uint64, payload json.RawMessage) bool {
	l.mu.Lock()
	if offset <= l.last {
		l.mu.Unlock()
		return false
	}
	l.wake(l.insert(offset, payload, ""))
	return true
}

// insert stores the entry under l.mu and takes the parked readers, which
// the caller wakes with wake.
func (l *Log) insert(off uint64, payload []byte, skip string) []*Waiter {
	buf := l.frame(make([]byte, protocol.MaxHeader, protocol.MaxHeader+len(payload)+48), payload, off)
	start := protocol.PutTextHeader(buf, len(buf)-protocol.MaxHeader)
	e := Entry{Offset: off, Wire: buf[start:], At: l.now(), Skip: skip}
	if l.n == len(l.ring) && l.n < l.capacity {
		l.grow()
	}
	if l.n == len(l.ring) {
		// Overwrite the oldest: from now on a reader behind it has lost it.
		l.floor = l.ring[l.oldest].Offset
		l.ring[l.oldest] = e
		l.oldest = (l.oldest + 1) % len(l.ring)
	} else {
		l.ring[(l.oldest+l.n)%len(l.ring)] = e
		l.n++
	}
	l.last = off
	l.added.Add(1)
	parked := l.parked
	for _, w := range parked {
		w.slot = -1
	}
	l.parked, l.spare = l.spare, nil
	return parked
}

// grow doubles the ring, up to capacity, with its entries in order from
// index 0.
func (l *Log) grow() {
	ring := make([]Entry, min(max(2*len(l.ring), 1), l.capacity))
	for i := range l.n {
		ring[i] = l.ring[(l.oldest+i)%len(l.ring)]
	}
	l.ring, l.oldest = ring, 0
}

// wake unlocks l.mu and wakes every reader that was parked, outside the
// lock, since waking readers read the log and park again.
func (l *Log) wake(parked []*Waiter) {
	l.mu.Unlock()
	if len(parked) >= gatherReaders {
		// Let the goroutines that have entries ready to append go first:
		// they find no reader parked and only append. Each reader then
		// writes all those entries in one system call rather than one
		// call for each.
		runtime.Gosched()
	}
	for _, w := range parked {
		w.wake()
	}
	clear(parked)
	l.mu.Lock()
	if l.spare == nil {
		l.spare = parked[:0]
	}
	l.mu.Unlock()
}

// Park registers w for a wake-up by the next entry, unless entries after
// offset after are already pending (or after is not a usable cursor); it
// reports whether w was parked. A reader that was not parked must read on.
func (l *Log) Park(after uint64, w *Waiter) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if after != l.last {
		return false
	}
	if w.slot < 0 {
		w.slot = len(l.parked)
		l.parked = append(l.parked, w)
	}
	return true
}

// Unpark removes w, for a reader that goes away while parked.
func (l *Log) Unpark(w *Waiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.slot < 0 {
		return
	}
	end := l.parked[len(l.parked)-1]
	l.parked[w.slot], end.slot = end, w.slot
	l.parked[len(l.parked)-1] = nil
	l.parked = l.parked[:len(l.parked)-1]
	w.slot = -1
}

// Forget drops the entries every reader has passed, when all readers of
// the log (there are readers of them) are parked at its newest entry: a
// log that serves only live readers, such as a Pusher channel's, so holds
// frames only while someone is behind. It reports whether it dropped them.
func (l *Log) Forget(readers int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.parked) != readers || l.n == 0 {
		return false
	}
	for i := range l.n {
		l.ring[(l.oldest+i)%len(l.ring)] = Entry{}
	}
	l.n, l.oldest, l.floor = 0, 0, l.last
	return true
}

// Parked returns how many readers are parked, for tests and metrics.
func (l *Log) Parked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.parked)
}

// Publish appends payload, which makes the log a Publisher on its own for a
// single process, where there is no broker between the sender and the log.
func (l *Log) Publish(_ context.Context, payload json.RawMessage) error {
	l.Append(payload)
	return nil
}

// Head returns the offset of the newest entry: a new client starts after it.
func (l *Log) Head() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.last
}

// Appended returns how many entries were ever added, for rates.
func (l *Log) Appended() uint64 { return l.added.Load() }

// ReadResult says what a Read found.
type ReadResult int

const (
	// Ready means entries were returned, or none are pending.
	Ready ReadResult = iota
	// Gone means entries after the cursor were dropped: the reader fell
	// further behind than the log's capacity, or its cursor predates the
	// history this log holds, and it cannot continue without a gap.
	Gone
	// Unknown means the cursor lies beyond the newest entry: it was not
	// handed out by this log.
	Unknown
)

// Read appends to dst the entries after offset after, at most
// cap(dst)-len(dst) of them, and returns the extended slice and how many
// entries are pending after it in all, which tells a reader how far behind
// it is.
func (l *Log) Read(after uint64, dst []Entry) ([]Entry, int, ReadResult) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	switch {
	case after > l.last:
		return dst, 0, Unknown
	case after == l.last:
		return dst, 0, Ready
	case after < l.floor:
		return dst, 0, Gone
	}
	at := func(i int) *Entry { return &l.ring[(l.oldest+i)%len(l.ring)] }
	// A reader that keeps up is one or a few entries behind: look back
	// from the newest entry before searching the whole ring.
	first := l.n
	for first > 0 && l.n-first < recentScan && at(first-1).Offset > after {
		first--
	}
	if first > 0 && at(first-1).Offset > after {
		first = sort.Search(first, func(i int) bool { return at(i).Offset > after })
	}
	for i := first; i < l.n && len(dst) < cap(dst); i++ {
		dst = append(dst, *at(i))
	}
	return dst, l.n - first, Ready
}
