// Package state holds what every task of a Pusher app must agree on:
// which channels are occupied and by how many subscriptions, who is present
// in each presence channel, and the last event of each cache channel.
// Memory keeps it for one process; Redis (later) for a cluster of tasks.
//
// Transitions are decided here, where the whole picture is, so that the
// events that follow them (member_added, member_removed, and the webhooks
// channel_occupied and channel_vacated) are sent once per app, not once per
// task or per connection.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"
)

// Member is one user in a presence channel.
type Member struct {
	UserID   string
	UserInfo json.RawMessage // nil when the user has none
}

// Joined says what a subscription changed.
type Joined struct {
	// Occupied is set when the channel had no subscription before.
	Occupied bool
	// UserAdded is set when this is the member's user's first connection
	// in the presence channel: member_added is due.
	UserAdded bool
	// Version is the member's user's version in a presence channel: the
	// channel's change counter at the user's last addition or removal
	// (its addition, after a Join). Member events carry it, so that every
	// task applies one user's changes in the order they happened, whatever
	// order the events travel in.
	Version uint64
}

// Left says what an unsubscription changed.
type Left struct {
	// Vacated is set when the channel has no subscription left.
	Vacated bool
	// UserRemoved is set when that was the user's last connection in the
	// presence channel: member_removed is due.
	UserRemoved bool
	// Version is the removal's version, when UserRemoved.
	Version uint64
}

// Snapshot is a presence channel's members, and the version of the last
// change of every user it knows of, present or gone.
type Snapshot struct {
	Members  []Member
	Versions map[string]uint64
}

// Departure is a subscription that a task which died without leaving
// held, taken back on its behalf, and what that changed.
type Departure struct {
	Channel string
	UserID  string // presence channels only
	Left
}

// Reaper is a State shared by tasks that can die: Reap takes back the
// subscriptions of dead tasks.
type Reaper interface {
	Reap(ctx context.Context) ([]Departure, error)
}

// Info is a channel's occupancy.
type Info struct {
	Subscriptions int
	Users         int // presence channels only
}

// ErrFull refuses a new user in a presence channel that holds the most
// distinct users allowed.
var ErrFull = errors.New("presence channel is full")

// State is the app's shared picture. Every method is safe for concurrent
// use. socket is a connection's socket_id, unique across the app.
type State interface {
	// Join records socket's subscription to channel; member is nil except
	// in presence channels, where a new user beyond maxUsers gets ErrFull.
	Join(ctx context.Context, channel, socket string, member *Member, maxUsers int) (Joined, error)
	// Leave undoes Join; member must be the one given to Join.
	Leave(ctx context.Context, channel, socket string, member *Member) (Left, error)
	// Members returns the distinct users of a presence channel, by id.
	Members(ctx context.Context, channel string) ([]Member, error)
	// Snapshot returns the members with the versions of every user's last
	// change, read at one moment.
	Snapshot(ctx context.Context, channel string) (Snapshot, error)
	// Channel returns a channel's occupancy; a vacant channel has zero.
	Channel(ctx context.Context, channel string) (Info, error)
	// Channels returns the occupied channels whose names start with
	// prefix.
	Channels(ctx context.Context, prefix string) (map[string]Info, error)
	// SetLast keeps frame as a cache channel's last event, for ttl.
	SetLast(ctx context.Context, channel string, frame []byte, ttl time.Duration) error
	// Last returns a cache channel's last event, if it has one.
	Last(ctx context.Context, channel string) ([]byte, bool, error)
}

// Memory is the State of a single process.
type Memory struct {
	mu       sync.Mutex
	channels map[string]*channel
	// versions is every presence user's last change, by channel, kept
	// while the channel is occupied; seq numbers the changes, across
	// channels, so that a channel occupied again never reuses a version.
	versions map[string]map[string]uint64
	seq      uint64
	last     map[string]cached
	sets     int // SetLast calls, to sweep expired events now and then
	now      func() time.Time
}

type channel struct {
	subs  int
	users map[string]*presence // presence channels only
}

type presence struct {
	conns int
	info  json.RawMessage
}

type cached struct {
	frame   []byte
	expires time.Time
}

// NewMemory returns an empty State for one process.
func NewMemory() *Memory {
	return &Memory{channels: make(map[string]*channel), versions: make(map[string]map[string]uint64), last: make(map[string]cached), now: time.Now}
}

// Join implements State.
func (m *Memory) Join(_ context.Context, name, _ string, member *Member, maxUsers int) (Joined, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := m.channels[name]
	var j Joined
	if member != nil {
		if ch != nil && ch.users[member.UserID] == nil && len(ch.users) >= maxUsers {
			return Joined{}, ErrFull
		}
	}
	if ch == nil {
		ch = &channel{}
		m.channels[name] = ch
		j.Occupied = true
	}
	ch.subs++
	if member != nil {
		if ch.users == nil {
			ch.users = make(map[string]*presence)
		}
		p := ch.users[member.UserID]
		if p == nil {
			p = &presence{}
			ch.users[member.UserID] = p
			j.UserAdded = true
			m.change(name, member.UserID)
		}
		j.Version = m.versions[name][member.UserID]
		// The newest connection's info stands for the user, as with Pusher.
		p.conns++
		p.info = member.UserInfo
	}
	return j, nil
}

// Leave implements State.
func (m *Memory) Leave(_ context.Context, name, _ string, member *Member) (Left, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := m.channels[name]
	if ch == nil {
		return Left{}, nil
	}
	var l Left
	if member != nil {
		if p := ch.users[member.UserID]; p != nil {
			if p.conns--; p.conns == 0 {
				delete(ch.users, member.UserID)
				l.UserRemoved = true
				l.Version = m.change(name, member.UserID)
			}
		}
	}
	if ch.subs--; ch.subs <= 0 {
		delete(m.channels, name)
		delete(m.versions, name)
		l.Vacated = true
	}
	return l, nil
}

// change records a presence user's addition or removal, under m.mu.
func (m *Memory) change(channel, user string) uint64 {
	m.seq++
	if m.versions[channel] == nil {
		m.versions[channel] = make(map[string]uint64)
	}
	m.versions[channel][user] = m.seq
	return m.seq
}

// Snapshot implements State.
func (m *Memory) Snapshot(_ context.Context, name string) (Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Snapshot{Members: m.members(name), Versions: maps.Clone(m.versions[name])}, nil
}

// Members implements State.
func (m *Memory) Members(_ context.Context, name string) ([]Member, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.members(name), nil
}

// members lists a channel's users by id, under m.mu.
func (m *Memory) members(name string) []Member {
	ch := m.channels[name]
	if ch == nil {
		return nil
	}
	out := make([]Member, 0, len(ch.users))
	for id, p := range ch.users {
		out = append(out, Member{UserID: id, UserInfo: p.info})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out
}

// Channel implements State.
func (m *Memory) Channel(_ context.Context, name string) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ch := m.channels[name]; ch != nil {
		return Info{Subscriptions: ch.subs, Users: len(ch.users)}, nil
	}
	return Info{}, nil
}

// Channels implements State.
func (m *Memory) Channels(_ context.Context, prefix string) (map[string]Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Info)
	for name, ch := range m.channels {
		if strings.HasPrefix(name, prefix) {
			out[name] = Info{Subscriptions: ch.subs, Users: len(ch.users)}
		}
	}
	return out, nil
}

// SetLast implements State.
func (m *Memory) SetLast(_ context.Context, name string, frame []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	// Sweep expired entries now and then, so that channels nobody reads
	// again do not hold their last event forever.
	if m.sets++; m.sets%1024 == 0 {
		for k, c := range m.last {
			if now.After(c.expires) {
				delete(m.last, k)
			}
		}
	}
	m.last[name] = cached{frame: frame, expires: now.Add(ttl)}
	return nil
}

// Last implements State.
func (m *Memory) Last(_ context.Context, name string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.last[name]
	if !ok || m.now().After(c.expires) {
		delete(m.last, name)
		return nil, false, nil
	}
	return c.frame, true, nil
}
