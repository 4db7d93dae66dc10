//go:build linux

package transport

import (
	"testing"

	"golang.org/x/sys/unix"
)

// An event read for a connection that has since let go of its slot is
// dropped, even once a new connection holds the slot: the new one is not
// handed the old one's input.
func TestPollerDropsStaleEvents(t *testing.T) {
	p, err := newPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	old, young := &Conn{}, &Conn{}
	oldSlot, oldGen := p.take(old)
	old.watching.Store(true)
	if !p.release(old) {
		t.Fatal("release: the connection had no slot")
	}
	slot, gen := p.take(young)
	if slot != oldSlot || gen == oldGen {
		t.Fatalf("the slot was not reused with a new generation: slot %d gen %d, before %d gen %d", slot, gen, oldSlot, oldGen)
	}
	young.watching.Store(true)
	stale := []unix.EpollEvent{{Events: unix.EPOLLIN, Fd: int32(oldSlot), Pad: int32(oldGen)}}
	p.dispatch(stale, make([]*Conn, 1))
	if !young.watching.Load() || !old.watching.Load() {
		t.Fatal("a stale event woke a connection")
	}
	if p.release(old) {
		t.Fatal("a connection let go of its slot twice")
	}
}
