// Package hub orders broadcast messages and hands them to every connection.
//
// A message enters once, through Log.Append, which gives it an offset and
// encodes its frame. Each connection then reads the log from its own cursor,
// so the publisher never waits for, or even visits, any client: fan-out cost
// on the publishing path is O(1), a slow client only falls behind its own
// cursor, and every client sees the same messages in the same order. The log
// is a bounded ring, which doubles as the history a reconnecting client
// resumes from.
package hub

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/wsfargate/websocket-service/server/protocol"
)

// Entry is one broadcast as every client receives it.
type Entry struct {
	Offset uint64
	// Frame is the encoded frame. It is shared by all readers and must not
	// be modified.
	Frame []byte
	// At is when the entry was appended, for delivery latency.
	At time.Time
}

// Log is a bounded, ordered ring of broadcast frames. It is safe for
// concurrent use.
type Log struct {
	mu      sync.RWMutex
	ring    []Entry
	next    uint64 // offset the next Append gets
	first   uint64 // offset of the first entry ever appended by this Log
	changed chan struct{}
	now     func() time.Time
}

// NewLog returns a log that keeps the last capacity entries. Offsets start
// at start; callers pick a start above any offset a previous process handed
// out (see StartOffset), so that a client resuming from an old process's
// offset is told its history is gone instead of being given a gap.
func NewLog(capacity int, start uint64) *Log {
	if capacity < 1 {
		capacity = 1
	}
	return &Log{
		ring:    make([]Entry, capacity),
		next:    start,
		first:   start,
		changed: make(chan struct{}),
		now:     time.Now,
	}
}

// StartOffset derives a first offset from the clock: milliseconds since the
// epoch shifted left 20 bits, so one process may append about a million
// messages per millisecond of its lifetime before colliding with the next
// process's range, and offsets still fit in 63 bits until the year 6400.
func StartOffset(now time.Time) uint64 {
	return uint64(now.UnixMilli()) << 20
}

// Append adds a broadcast of payload, which must be valid JSON, and wakes
// every reader. It returns the offset given to the message.
func (l *Log) Append(payload json.RawMessage) uint64 {
	buf := make([]byte, 0, len(payload)+48)
	l.mu.Lock()
	off := l.next
	l.ring[off%uint64(len(l.ring))] = Entry{Offset: off, Frame: protocol.AppendBroadcast(buf, payload, off), At: l.now()}
	l.next++
	wake := l.changed
	l.changed = make(chan struct{})
	l.mu.Unlock()
	close(wake)
	return off
}

// Head returns the offset the next message will get. A new client starts
// reading there.
func (l *Log) Head() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.next
}

// ReadResult says what a Read found.
type ReadResult int

const (
	// Ready means entries were returned, or none are pending.
	Ready ReadResult = iota
	// Gone means the entries at the cursor were overwritten: the reader fell
	// further behind than the log's capacity and cannot continue without a
	// gap.
	Gone
	// Unknown means the cursor lies beyond the head, i.e. it was not handed
	// out by this log.
	Unknown
)

// Read appends to dst the entries from offset from onwards, at most
// cap(dst)-len(dst) of them, and returns the extended slice and how many
// entries are pending at from in all, which tells a reader how far behind it
// is. When nothing is pending it returns a channel that the next Append
// closes.
func (l *Log) Read(from uint64, dst []Entry) ([]Entry, uint64, ReadResult, <-chan struct{}) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	switch {
	case from > l.next:
		return dst, 0, Unknown, nil
	case from == l.next:
		return dst, 0, Ready, l.changed
	case l.next-from > uint64(len(l.ring)) || from < l.first:
		return dst, l.next - from, Gone, nil
	}
	for off := from; off < l.next && len(dst) < cap(dst); off++ {
		dst = append(dst, l.ring[off%uint64(len(l.ring))])
	}
	return dst, l.next - from, Ready, nil
}

// Publish appends payload. It makes the log a publisher for a single process,
// where there is no broker between the sender and the log.
func (l *Log) Publish(_ context.Context, payload json.RawMessage) error {
	l.Append(payload)
	return nil
}
