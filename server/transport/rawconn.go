package transport

import (
	"errors"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
)

// rawConn serialises every write to one socket: the library's control and
// close frames, which reach it through the bufio.Writer handed over at the
// upgrade and are each flushed in one Write, and the frames the server
// writes itself, already framed. Broadcast frames are framed once for all
// clients and go out without passing through the library's per-message
// writer: one syscall for everything pending, nothing done per client.
type rawConn struct {
	mu sync.Mutex
	nc net.Conn
	rc syscall.RawConn // for non-blocking writes and readiness; nil if nc has none

	// head is the handshake's 101 response until the first write, which
	// carries it in the same system call (see leanHijack).
	head []byte

	// The non-blocking write's arguments and result, under mu: passing
	// them through fields lets one callback, bound once, serve every
	// write instead of a closure allocated per delivery. One frame, the
	// usual case, goes in one; several are copied into many, because the
	// caller's slice of them lives on its stack and must stay there.
	one     []byte
	many    [][]byte
	written int
	attempt func(fd uintptr) bool
	ready   func(fd uintptr) bool // for waitReadable, made on first use
	// probe sets readyNow for peek; callers serialise peeks.
	probe    func(fd uintptr)
	readyNow bool
}

func newRawConn(nc net.Conn) *rawConn {
	r := &rawConn{nc: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		r.rc, _ = sc.SyscallConn()
	}
	r.attempt = r.writeOnce
	r.probe = func(fd uintptr) { r.readyNow = readable(int(fd)) }
	return r
}

// tryWrite writes as much of frames as the socket takes right now, without
// waiting for it. It reports how many bytes went and whether that was all.
// When some but not all went, held is true: the socket stays locked,
// because a frame cut short must be finished before anything else is
// written, and the caller must pass the rest to writeRest. When nothing
// went (another write holds the socket, or it is full) nothing is held.
func (r *rawConn) tryWrite(frames [][]byte) (written int, complete, held bool) {
	if r.rc == nil || !r.mu.TryLock() {
		return 0, false, false
	}
	if r.head != nil {
		// Only before the greeting: writeRest sends the response first.
		r.mu.Unlock()
		return 0, false, false
	}
	total := 0
	for _, f := range frames {
		total += len(f)
	}
	if len(frames) == 1 {
		written = r.writeNow(frames[0], nil)
	} else {
		written = r.writeNow(nil, slices.Clone(frames))
	}
	if written > 0 && written < total {
		return written, false, true
	}
	r.mu.Unlock()
	return written, written == total, false
}

// writeNow makes one non-blocking write, under mu, of one frame or of
// many, and returns how many bytes went.
func (r *rawConn) writeNow(one []byte, many [][]byte) int {
	r.one, r.many, r.written = one, many, 0
	_ = r.rc.Write(r.attempt)
	r.one, r.many = nil, nil
	return r.written
}

// writeOnce is the RawConn callback: one write, and never a wait
// (returning false would block until the socket is writable).
func (r *rawConn) writeOnce(fd uintptr) bool {
	var n int
	var err error
	if r.many != nil {
		n, err = writev(int(fd), r.many)
	} else {
		n, err = write(int(fd), r.one)
	}
	if err == nil && n > 0 {
		r.written = n
	}
	return true
}

// Write is the library's path to the socket.
func (r *rawConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.head == nil {
		return r.nc.Write(p)
	}
	// A close before any greeting (a full or draining server).
	bufs := net.Buffers{r.head, p}
	n, err := bufs.WriteTo(r.nc)
	n -= int64(len(r.head))
	r.head = nil
	return max(int(n), 0), err
}

// writeFrames writes complete frames, giving up after timeout. A write cut
// short leaves a partial frame on the wire, so the caller must then drop
// the connection; errTimeout says that is why.
func (r *rawConn) writeFrames(timeout time.Duration, frames ...[]byte) error {
	return r.writeRest(timeout, frames, false)
}

// writeRest is writeFrames for what tryWrite left; held says whether
// tryWrite kept the socket locked.
func (r *rawConn) writeRest(timeout time.Duration, frames [][]byte, held bool) error {
	if !held {
		r.mu.Lock()
	}
	defer r.mu.Unlock()
	if r.head != nil {
		frames = append([][]byte{r.head}, frames...)
		r.head = nil
	}
	if r.rc != nil {
		// Most writes go at once; only the rest needs the deadline, and
		// setting one costs two timer updates.
		frames = unwritten(frames, r.writeNow(nil, frames))
		if len(frames) == 0 {
			return nil
		}
	}
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

// canWait reports whether waitReadable works here: the connection is a
// plain socket and the platform can look at it without reading.
func (r *rawConn) canWait() bool { return r.rc != nil && canPeek }

// waitReadable blocks until a read would return at once, without reading.
// Its stack is a handful of small runtime frames, which is the point: an
// idle connection's goroutine waits here rather than deep in the library.
// Only for connections that canWait.
func (r *rawConn) waitReadable() error {
	if r.ready == nil {
		r.ready = func(fd uintptr) bool { return readable(int(fd)) }
	}
	return r.rc.Read(r.ready)
}

// peek reports whether a read would return at once, without waiting. Only
// for connections that canWait.
func (r *rawConn) peek() (bool, error) {
	err := r.rc.Control(r.probe)
	return r.readyNow, err
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
