package transport

import (
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// poller tells idle connections that their socket is readable, so that an
// idle connection needs no goroutine at all: await parks the connection
// here and returns, and the poller starts a new await when input arrives.
//
// It is one epoll instance of our own. Each connection's descriptor is
// added once, edge-triggered, with the connection's slot and the slot's
// generation as the event's data; the descriptor is never duplicated, so
// it costs nothing against the open-files limit. The epoll descriptor sits
// in the runtime's netpoller itself, so the poller's goroutine is parked
// like any socket reader, holding no thread.
//
// Teardown is what must be right: a descriptor number reused by a new
// connection must never deliver the old one's events. Three rules see to
// it:
//   - every epoll_ctl runs inside RawConn.Control of both the connection's
//     descriptor and the epoll one, which holds them open for the call, so
//     neither number can be closed and reused under it;
//   - a connection leaves the set (forget: EPOLL_CTL_DEL) before its
//     socket is closed (watchedConn.Close), and its slot's generation is
//     bumped under the lock at the same time;
//   - an event counts only if its generation still matches its slot's,
//     checked under the same lock, so an event read from the kernel before
//     the delete, and handled after it, is dropped, whoever holds the slot
//     or the descriptor number by then.
//
// Who reads is decided by Conn.watching: set by await when it parks, and
// taken with a compare-and-swap by exactly one of the poller (input
// arrived), await itself (input arrived while it was parking) and
// watchedConn.Close (the socket is closing and someone must end the
// connection). Whoever takes it runs the only reader.
type poller struct {
	f  *os.File // the epoll descriptor, in the runtime's netpoller
	rc syscall.RawConn

	mu    sync.Mutex
	conns []*Conn  // by slot; slot 0 is never used
	gens  []uint32 // by slot: bumped each time a slot is let go
	free  []uint32
}

// newPoller creates the epoll instance and starts its goroutine.
func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	// Non-blocking, so that os.NewFile puts it in the runtime's netpoller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	f := os.NewFile(uintptr(epfd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	p := &poller{f: f, rc: rc, conns: make([]*Conn, 1), gens: make([]uint32, 1)}
	go p.run()
	return p, nil
}

// close stops the poller; connections still parked are no longer woken.
func (p *poller) close() { _ = p.f.Close() }

// run hands readable connections to new awaits until the poller is closed.
func (p *poller) run() {
	events := make([]unix.EpollEvent, 128)
	woken := make([]*Conn, len(events))
	// The callback never returns true: Read only returns when the
	// descriptor is closed.
	_ = p.rc.Read(func(fd uintptr) bool {
		for {
			n, err := epollPoll(int(fd), events)
			if err == unix.EINTR {
				continue
			}
			if n <= 0 {
				// Drained: the runtime's netpoller, edge-triggered,
				// wakes this goroutine on the next event.
				return false
			}
			p.dispatch(events[:n], woken[:n])
		}
	})
}

// dispatch starts a reader for each connection an event names, if the
// event is current and the connection is parked.
func (p *poller) dispatch(events []unix.EpollEvent, woken []*Conn) {
	p.mu.Lock()
	for i, ev := range events {
		slot, gen := uint32(ev.Fd), uint32(ev.Pad)
		if int(slot) < len(p.conns) && p.gens[slot] == gen {
			woken[i] = p.conns[slot]
		}
	}
	p.mu.Unlock()
	for i, c := range woken {
		if c != nil && c.watching.CompareAndSwap(true, false) {
			go c.await()
		}
		woken[i] = nil
	}
}

// add puts c's socket in the set. It runs once, before c's first await;
// false means c is read by goroutines that wait on their own.
func (p *poller) add(c *Conn) bool {
	slot, gen := p.take(c)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(slot), Pad: int32(gen)}
	if err := p.ctl(unix.EPOLL_CTL_ADD, c, &ev); err != nil {
		p.release(c)
		return false
	}
	return true
}

// ctl runs epoll_ctl for c's socket with both descriptors held open for
// the call: neither number can be closed and reused under it, the
// poller's own included (after close, ctl fails).
func (p *poller) ctl(op int, c *Conn, ev *unix.EpollEvent) error {
	var err error
	held := p.rc.Control(func(epfd uintptr) {
		held := c.raw.rc.Control(func(fd uintptr) {
			err = unix.EpollCtl(int(epfd), op, int(fd), ev)
		})
		if err == nil {
			err = held
		}
	})
	if held != nil {
		return held
	}
	return err
}

// take gives c a slot, and returns it with its generation.
func (p *poller) take(c *Conn) (slot, gen uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		slot, p.free = p.free[n-1], p.free[:n-1]
	} else {
		slot = uint32(len(p.conns))
		p.conns, p.gens = append(p.conns, nil), append(p.gens, 0)
	}
	p.conns[slot], c.slot = c, slot
	return slot, p.gens[slot]
}

// forget takes c's socket out of the set; watchedConn.Close calls it
// before the socket is closed.
func (p *poller) forget(c *Conn) {
	if !p.release(c) {
		return
	}
	_ = p.ctl(unix.EPOLL_CTL_DEL, c, nil)
}

// release lets go of c's slot, if it has one, so that events already read
// for it are dropped.
func (p *poller) release(c *Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	slot := c.slot
	if slot == 0 {
		return false
	}
	p.gens[slot]++
	p.conns[slot], c.slot = nil, 0
	p.free = append(p.free, slot)
	return true
}

// watchedConn is the socket as the library holds it: its Close, which
// the library makes exactly once, first takes the socket out of the
// poller's set, and after the close starts a reader if the connection was
// parked, so that the connection still ends.
type watchedConn struct {
	net.Conn
	c *Conn
	p *poller
}

func (w *watchedConn) Close() error {
	w.p.forget(w.c)
	err := w.Conn.Close()
	if w.c.watching.CompareAndSwap(true, false) {
		go w.c.await()
	}
	return err
}

// wrap returns nc as the library must hold it for c.
func (p *poller) wrap(nc net.Conn, c *Conn) net.Conn { return &watchedConn{Conn: nc, c: c, p: p} }

// epollPoll is epoll_wait with no timeout, raw like the socket calls in
// syscall_linux.go, for the same reason.
func epollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	r, _, errno := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
