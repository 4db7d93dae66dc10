package pusher

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wsfargate/websocket-service/server/hub"
	"github.com/wsfargate/websocket-service/server/pusher/state"
)

// channels holds this task's channels that have a local subscriber: each is
// a log its subscribers' feeds read, so that an event is framed once and the
// same bytes reach every subscriber, in one order. A channel leaves the map
// with its last local subscriber, so a task holds only the channels it
// serves.
type channels struct {
	mu       sync.RWMutex
	byName   map[string]*localChannel
	capacity int // each log's most entries: a subscriber further behind is evicted
}

type localChannel struct {
	name string
	log  *hub.Log
	subs int // under channels.mu

	// A presence channel's members as this task has told its subscribers,
	// with the version of each user's last change. Member events can
	// travel between tasks in another order than the changes they
	// announce (two tasks publish them); applying only those newer than
	// what is known for their user puts every task's view, and its
	// subscribers', in the order the changes happened. A new subscriber's
	// member list is read from this view at the very point its feed
	// starts, under mu, so list and events never overlap or leave a gap.
	mu      sync.Mutex
	seeded  bool // the view holds the shared state's snapshot
	view    map[string]member
	changed chan struct{} // closed and replaced on every change of view
}

type member struct {
	info    json.RawMessage
	version uint64
	present bool
}

func newChannels(capacity int) *channels {
	return &channels{byName: make(map[string]*localChannel), capacity: capacity}
}

// join counts a local subscriber in, creating the channel for the first.
func (cs *channels) join(name string) *localChannel {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	ch := cs.byName[name]
	if ch == nil {
		ch = &localChannel{name: name, log: hub.NewFrameLog(cs.capacity)}
		cs.byName[name] = ch
	}
	ch.subs++
	return ch
}

// leave counts a local subscriber out, dropping the channel after the last.
func (cs *channels) leave(ch *localChannel) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if ch.subs--; ch.subs == 0 && cs.byName[ch.name] == ch {
		delete(cs.byName, ch.name)
	}
}

// deliver appends m's frame to the channel's log, which wakes its
// subscribers; a channel with no subscriber here costs a map lookup. A
// member event older than what the channel knows of its user is dropped.
func (cs *channels) deliver(m Message) {
	cs.mu.RLock()
	ch := cs.byName[m.Channel]
	cs.mu.RUnlock()
	if ch == nil {
		return
	}
	if m.Version != 0 {
		ch.mu.Lock()
		if ch.apply(m.User, member{info: m.Info, version: m.Version, present: m.Added}) {
			ch.log.AppendFrame(m.Frame, m.Skip)
		}
		ch.mu.Unlock()
	} else {
		ch.log.AppendFrame(m.Frame, m.Skip)
	}
	// A channel keeps no history: once every subscriber has the event,
	// the log lets go of it, so a quiet channel holds no frames. A
	// subscriber still writing, or one not yet started, keeps them.
	cs.mu.RLock()
	subs := ch.subs
	cs.mu.RUnlock()
	ch.log.Forget(subs)
}

// apply records a user's change if it is newer than the one known, under
// ch.mu, and reports whether it did.
func (ch *localChannel) apply(user string, m member) bool {
	if ch.view == nil {
		ch.view = make(map[string]member)
	}
	if m.version <= ch.view[user].version {
		return false
	}
	if !m.present {
		m.info = nil
	}
	ch.view[user] = m
	if ch.changed != nil {
		close(ch.changed)
		ch.changed = nil
	}
	return true
}

// seed merges the shared state's snapshot into the view, once.
func (ch *localChannel) seed(snap state.Snapshot) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.seeded {
		return
	}
	ch.seeded = true
	present := make(map[string]json.RawMessage, len(snap.Members))
	for _, m := range snap.Members {
		present[m.UserID] = m.UserInfo
	}
	for user, version := range snap.Versions {
		info, ok := present[user]
		ch.apply(user, member{info: info, version: version, present: ok})
	}
	for user, info := range present {
		// A member whose version has expired (no change in the channel
		// for versionsTTL) is older than any change still to come.
		if _, ok := snap.Versions[user]; !ok {
			ch.apply(user, member{info: info, version: 1, present: true})
		}
	}
}

// await waits, at most wait, until the view holds user's change of
// version at least. A subscriber's own member_added may still be on its
// way from the shared state when it subscribes.
func (ch *localChannel) await(user string, version uint64, wait time.Duration) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		ch.mu.Lock()
		if ch.view[user].version >= version {
			ch.mu.Unlock()
			return
		}
		if ch.changed == nil {
			ch.changed = make(chan struct{})
		}
		changed := ch.changed
		ch.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			return
		}
	}
}

// members returns the present users of the view, under ch.mu.
func (ch *localChannel) members() []state.Member {
	out := make([]state.Member, 0, len(ch.view))
	for user, m := range ch.view {
		if m.present {
			out = append(out, state.Member{UserID: user, UserInfo: m.info})
		}
	}
	slices.SortFunc(out, func(a, b state.Member) int { return strings.Compare(a.UserID, b.UserID) })
	return out
}

// len returns how many channels have a subscriber here.
func (cs *channels) len() int {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	return len(cs.byName)
}
