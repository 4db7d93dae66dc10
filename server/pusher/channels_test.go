package pusher

import (
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/pusher/state"
)

// Member events may reach a task in another order than the changes they
// announce; the channel applies each user's newest change only, and a new
// subscriber's list is that view.
func TestMemberEventsApplyInVersionOrder(t *testing.T) {
	cs := newChannels(16)
	ch := cs.join("presence-x")
	ch.seed(state.Snapshot{Members: []state.Member{{UserID: "old"}}, Versions: map[string]uint64{"old": 3, "gone": 4}})
	events := []struct {
		user    string
		version uint64
		added   bool
		applied bool
	}{
		{"u", 6, true, true},     // u joins on one task...
		{"u", 5, false, false},   // ...after leaving on another, whose event came late
		{"old", 2, false, false}, // older than the snapshot
		{"gone", 4, true, false}, // the snapshot's own change, again
		{"old", 7, false, true},
		{"new", 8, true, true},
	}
	for _, e := range events {
		before := ch.log.Head()
		cs.deliver(Message{Channel: "presence-x", Frame: []byte(e.user), User: e.user, Version: e.version, Added: e.added})
		if applied := ch.log.Head() != before; applied != e.applied {
			t.Fatalf("%s v%d: appended %v, want %v", e.user, e.version, applied, e.applied)
		}
	}
	ch.mu.Lock()
	got := ch.members()
	ch.mu.Unlock()
	if len(got) != 2 || got[0].UserID != "new" || got[1].UserID != "u" {
		t.Fatalf("members %+v, want new and u", got)
	}
}

// A subscriber waits for its own join to reach the view, and no longer
// than it must.
func TestAwaitOwnJoin(t *testing.T) {
	cs := newChannels(16)
	ch := cs.join("presence-x")
	go func() {
		time.Sleep(50 * time.Millisecond)
		cs.deliver(Message{Channel: "presence-x", Frame: []byte("a"), User: "me", Version: 9, Added: true})
	}()
	start := time.Now()
	ch.await("me", 9, 5*time.Second)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("waited %v for an event sent after 50ms", d)
	}
	start = time.Now()
	ch.await("nobody", 1, 100*time.Millisecond)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("returned after %v without the change", d)
	}
}
