package pusher

import (
	"sync"

	"github.com/wsfargate/websocket-service/server/hub"
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

// deliver appends frame to the channel's log, which wakes its subscribers;
// a channel with no subscriber here costs a map lookup.
func (cs *channels) deliver(name string, frame []byte, skip string) {
	cs.mu.RLock()
	ch := cs.byName[name]
	cs.mu.RUnlock()
	if ch == nil {
		return
	}
	ch.log.AppendFrame(frame, skip)
	// A channel keeps no history: once every subscriber has the event,
	// the log lets go of it, so a quiet channel holds no frames. A
	// subscriber still writing, or one not yet started, keeps them.
	cs.mu.RLock()
	subs := ch.subs
	cs.mu.RUnlock()
	ch.log.Forget(subs)
}

// len returns how many channels have a subscriber here.
func (cs *channels) len() int {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	return len(cs.byName)
}
