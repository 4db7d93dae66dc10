// Package cluster shares a Pusher app between tasks through Redis (or
// Valkey, ElastiCache Serverless): the channels' occupancy, presence and
// cache channels' last events (State), and the events and terminations every
// task must deliver (Bus).
//
// Redis Cluster, which ElastiCache Serverless always is, refuses a command
// or script whose keys lie in different hash slots. Each channel's keys
// share the hash tag {app:channel}, so the script that decides a
// subscription's transitions (occupied, member added) touches one slot and
// runs atomically; keys that span channels (the channel index, each task's
// record) are written by commands of their own.
//
// A task that dies cannot take its subscriptions back. Each task therefore
// keeps a record of what it added and a heartbeat key that expires; any task
// that finds a record without a heartbeat takes its subscriptions back, and
// the app sends the member_removed and channel_vacated that follow. A dead
// task's members so disappear within HeartbeatTTL + ReapInterval.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsfargate/websocket-service/server/pusher/state"
)

// Liveness timing: a task refreshes its heartbeat every HeartbeatEvery; it
// counts as dead once the heartbeat has gone HeartbeatTTL without a refresh,
// and the others look for dead tasks every ReapInterval.
const (
	HeartbeatEvery = 5 * time.Second
	HeartbeatTTL   = 15 * time.Second
	ReapInterval   = 5 * time.Second
)

// State is a state.State kept in Redis and shared by every task of an app.
type State struct {
	rdb  redis.UniversalClient
	app  string
	task string // this process's id
}

// NewState returns the app's shared state as this task sees it; task ids
// are random, so a restarted process is a new task.
func NewState(rdb redis.UniversalClient, app string) *State {
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &State{rdb: rdb, app: app, task: hex.EncodeToString(id[:])}
}

// Task returns this task's id.
func (s *State) Task() string { return s.task }

// Key layout. A channel's hash holds "n" (subscriptions), "users"
// (distinct presence users), "u:<id>" (the user's connections) and
// "i:<id>" (the user's info).
func (s *State) channelKey(ch string) string { return "pusher:{" + s.app + ":" + ch + "}" }
func (s *State) lastKey(ch string) string    { return "pusher:{" + s.app + ":" + ch + "}:last" }
func (s *State) versionsKey(ch string) string {
	return "pusher:{" + s.app + ":" + ch + "}:versions"
}
func (s *State) indexKey() string { return "pusher:{" + s.app + "}:channels" }
func (s *State) tasksKey() string { return "pusher:{" + s.app + "}:tasks" }
func (s *State) recordKey(task string) string {
	return "pusher:{" + s.app + ":task:" + task + "}:subs"
}
func (s *State) aliveKey(task string) string {
	return "pusher:{" + s.app + ":task:" + task + "}:alive"
}

// versionsTTL keeps a presence channel's user versions this long after
// their last change, past any vacancy, so that a member event still in
// flight from before cannot be taken for a new one.
const versionsTTL = 24 * time.Hour

// joinScript counts a subscription in and returns {2*occupied +
// userAdded, the user's version}, or {-1, 0} when a new user would exceed
// the cap (ARGV[3]). KEYS[2] holds the channel's change counter and every
// user's version.
var joinScript = redis.NewScript(`
local h, vh, uid = KEYS[1], KEYS[2], ARGV[1]
local added, version = 0, 0
if uid ~= "" then
  if tonumber(redis.call('HGET', h, 'u:'..uid) or '0') == 0 then
    if tonumber(redis.call('HGET', h, 'users') or '0') >= tonumber(ARGV[3]) then return {-1, 0} end
    redis.call('HINCRBY', h, 'users', 1)
    added = 1
    version = redis.call('HINCRBY', vh, 'seq', 1)
    redis.call('HSET', vh, 'v:'..uid, version)
    redis.call('EXPIRE', vh, ARGV[4])
  else
    version = tonumber(redis.call('HGET', vh, 'v:'..uid) or '0')
    redis.call('EXPIRE', vh, ARGV[4])
  end
  redis.call('HINCRBY', h, 'u:'..uid, 1)
  redis.call('HSET', h, 'i:'..uid, ARGV[2])
end
local occupied = 0
if redis.call('HINCRBY', h, 'n', 1) == 1 then occupied = 2 end
return {occupied + added, version}
`)

// leaveScript counts a subscription out and returns {2*vacated +
// userRemoved, the removal's version}; the channel's hash goes with the
// last subscription, its versions stay.
var leaveScript = redis.NewScript(`
local h, vh, uid = KEYS[1], KEYS[2], ARGV[1]
if tonumber(redis.call('HGET', h, 'n') or '0') <= 0 then return {0, 0} end
local removed, version = 0, 0
if uid ~= "" then
  local left = redis.call('HINCRBY', h, 'u:'..uid, -1)
  if left <= 0 then
    redis.call('HDEL', h, 'u:'..uid, 'i:'..uid)
    redis.call('HINCRBY', h, 'users', -1)
    removed = 1
    version = redis.call('HINCRBY', vh, 'seq', 1)
    redis.call('HSET', vh, 'v:'..uid, version)
    redis.call('EXPIRE', vh, ARGV[2])
  end
end
if redis.call('HINCRBY', h, 'n', -1) <= 0 then
  redis.call('DEL', h)
  return {2 + removed, version}
end
return {removed, version}
`)

// snapshotScript reads a channel's hash and its versions at one moment.
var snapshotScript = redis.NewScript(`
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
`)

// result reads a script's {flags, version} answer.
func result(v any, err error) (flags int64, version uint64, _ error) {
	if err != nil {
		return 0, 0, err
	}
	r, ok := v.([]any)
	if !ok || len(r) != 2 {
		return 0, 0, fmt.Errorf("unexpected script answer %v", v)
	}
	f, _ := r[0].(int64)
	n, _ := r[1].(int64)
	return f, uint64(n), nil
}

// recordField names one subscription in a task's record: channel, socket
// and user, which Leave needs to undo it.
func recordField(channel, socket string) string { return channel + "\x00" + socket }

// Join implements state.State.
func (s *State) Join(ctx context.Context, channel, socket string, m *state.Member, maxUsers int) (state.Joined, error) {
	uid, info := "", ""
	if m != nil {
		uid, info = m.UserID, string(m.UserInfo)
	}
	// The record first: if this task dies between the two, the reaper
	// finds a subscription to undo that was never counted, and leaveScript
	// ignores it (n is 0) or undoes a later one's count by one at worst.
	if err := s.rdb.HSet(ctx, s.recordKey(s.task), recordField(channel, socket), uid).Err(); err != nil {
		return state.Joined{}, fmt.Errorf("record subscription: %w", err)
	}
	r, version, err := result(joinScript.Run(ctx, s.rdb, []string{s.channelKey(channel), s.versionsKey(channel)}, uid, info, maxUsers, int(versionsTTL/time.Second)).Result())
	if err != nil {
		return state.Joined{}, fmt.Errorf("join %s: %w", channel, err)
	}
	if r < 0 {
		s.rdb.HDel(ctx, s.recordKey(s.task), recordField(channel, socket))
		return state.Joined{}, state.ErrFull
	}
	if err := s.rdb.HIncrBy(ctx, s.indexKey(), channel, 1).Err(); err != nil {
		return state.Joined{}, fmt.Errorf("index %s: %w", channel, err)
	}
	return state.Joined{Occupied: r&2 != 0, UserAdded: r&1 != 0, Version: version}, nil
}

// Leave implements state.State.
func (s *State) Leave(ctx context.Context, channel, socket string, m *state.Member) (state.Left, error) {
	uid := ""
	if m != nil {
		uid = m.UserID
	}
	left, err := s.leave(ctx, channel, uid)
	if err != nil {
		return left, err
	}
	if err := s.rdb.HDel(ctx, s.recordKey(s.task), recordField(channel, socket)).Err(); err != nil {
		return left, fmt.Errorf("unrecord subscription: %w", err)
	}
	return left, nil
}

func (s *State) leave(ctx context.Context, channel, uid string) (state.Left, error) {
	r, version, err := result(leaveScript.Run(ctx, s.rdb, []string{s.channelKey(channel), s.versionsKey(channel)}, uid, int(versionsTTL/time.Second)).Result())
	if err != nil {
		return state.Left{}, fmt.Errorf("leave %s: %w", channel, err)
	}
	if n, err := s.rdb.HIncrBy(ctx, s.indexKey(), channel, -1).Result(); err == nil && n <= 0 {
		s.rdb.HDel(ctx, s.indexKey(), channel) // a later join may have raced; Channels rechecks
	}
	return state.Left{Vacated: r&2 != 0, UserRemoved: r&1 != 0, Version: version}, nil
}

// Members implements state.State.
func (s *State) Members(ctx context.Context, channel string) ([]state.Member, error) {
	all, err := s.rdb.HGetAll(ctx, s.channelKey(channel)).Result()
	if err != nil {
		return nil, fmt.Errorf("members of %s: %w", channel, err)
	}
	return members(all), nil
}

// Snapshot implements state.State.
func (s *State) Snapshot(ctx context.Context, channel string) (state.Snapshot, error) {
	v, err := snapshotScript.Run(ctx, s.rdb, []string{s.channelKey(channel), s.versionsKey(channel)}).Result()
	if err != nil {
		return state.Snapshot{}, fmt.Errorf("snapshot of %s: %w", channel, err)
	}
	both, ok := v.([]any)
	if !ok || len(both) != 2 {
		return state.Snapshot{}, fmt.Errorf("snapshot of %s: unexpected answer %v", channel, v)
	}
	snap := state.Snapshot{Members: members(pairs(both[0])), Versions: make(map[string]uint64)}
	for k, val := range pairs(both[1]) {
		if id, ok := strings.CutPrefix(k, "v:"); ok {
			n, _ := strconv.ParseUint(val, 10, 64)
			snap.Versions[id] = n
		}
	}
	return snap, nil
}

// pairs reads an HGETALL answer given through a script: a flat list.
func pairs(v any) map[string]string {
	list, _ := v.([]any)
	out := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		k, _ := list[i].(string)
		val, _ := list[i+1].(string)
		out[k] = val
	}
	return out
}

// members lists the users of a channel's hash, by id.
func members(all map[string]string) []state.Member {
	var out []state.Member
	for k, v := range all {
		if id, ok := strings.CutPrefix(k, "i:"); ok {
			m := state.Member{UserID: id}
			if v != "" {
				m.UserInfo = []byte(v)
			}
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b state.Member) int { return strings.Compare(a.UserID, b.UserID) })
	return out
}

// Channel implements state.State.
func (s *State) Channel(ctx context.Context, channel string) (state.Info, error) {
	v, err := s.rdb.HMGet(ctx, s.channelKey(channel), "n", "users").Result()
	if err != nil {
		return state.Info{}, fmt.Errorf("channel %s: %w", channel, err)
	}
	return state.Info{Subscriptions: atoi(v[0]), Users: atoi(v[1])}, nil
}

// Channels implements state.State. It reads the index, then each listed
// channel's own count, which is authoritative.
func (s *State) Channels(ctx context.Context, prefix string) (map[string]state.Info, error) {
	index, err := s.rdb.HGetAll(ctx, s.indexKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("channel index: %w", err)
	}
	out := make(map[string]state.Info)
	for name := range index {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		info, err := s.Channel(ctx, name)
		if err != nil {
			return nil, err
		}
		if info.Subscriptions > 0 {
			out[name] = info
		}
	}
	return out, nil
}

// SetLast implements state.State.
func (s *State) SetLast(ctx context.Context, channel string, frame []byte, ttl time.Duration) error {
	if err := s.rdb.Set(ctx, s.lastKey(channel), frame, ttl).Err(); err != nil {
		return fmt.Errorf("cache %s: %w", channel, err)
	}
	return nil
}

// Last implements state.State.
func (s *State) Last(ctx context.Context, channel string) ([]byte, bool, error) {
	b, err := s.rdb.Get(ctx, s.lastKey(channel)).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("cache %s: %w", channel, err)
	}
	return b, true, nil
}

// Heartbeat keeps this task alive in the others' eyes until ctx ends. A
// task that was cut off from Redis for longer than HeartbeatTTL may have
// been taken for dead and had its subscriptions taken back; when it finds
// that, it calls reaped, which must make its clients subscribe again
// (close them with 4200), since the shared state no longer counts them.
func (s *State) Heartbeat(ctx context.Context, reaped func()) {
	first := true
	beat := func() {
		// Only a reaper removes a task from the set once it is in.
		if known, err := s.rdb.SIsMember(ctx, s.tasksKey(), s.task).Result(); err == nil && !known && !first {
			reaped()
		}
		if s.rdb.Set(ctx, s.aliveKey(s.task), "1", HeartbeatTTL).Err() == nil && s.rdb.SAdd(ctx, s.tasksKey(), s.task).Err() == nil {
			first = false
		}
	}
	beat()
	t := time.NewTicker(HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			beat()
		}
	}
}

// Reap takes back the subscriptions of tasks whose heartbeat has expired
// and returns what that changed, for the app to announce. Two tasks reaping
// at once take a lock per dead task, so each subscription is undone once.
func (s *State) Reap(ctx context.Context) ([]state.Departure, error) {
	tasks, err := s.rdb.SMembers(ctx, s.tasksKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	var out []state.Departure
	for _, task := range tasks {
		if task == s.task {
			continue
		}
		alive, err := s.rdb.Exists(ctx, s.aliveKey(task)).Result()
		if err != nil || alive == 1 {
			continue
		}
		lock := s.recordKey(task) + ":reaping"
		if ok, err := s.rdb.SetNX(ctx, lock, s.task, time.Minute).Result(); err != nil || !ok {
			continue
		}
		record, err := s.rdb.HGetAll(ctx, s.recordKey(task)).Result()
		if err != nil {
			return out, fmt.Errorf("record of task %s: %w", task, err)
		}
		for field, uid := range record {
			channel, _, _ := strings.Cut(field, "\x00")
			left, err := s.leave(ctx, channel, uid)
			if err != nil {
				return out, err
			}
			s.rdb.HDel(ctx, s.recordKey(task), field)
			out = append(out, state.Departure{Channel: channel, UserID: uid, Left: left})
		}
		s.rdb.Del(ctx, s.recordKey(task))
		s.rdb.SRem(ctx, s.tasksKey(), task)
	}
	return out, nil
}

func atoi(v any) int {
	s, _ := v.(string)
	n, _ := strconv.Atoi(s)
	return n
}
