package state_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/pusher/state"
)

func TestMemoryTransitions(t *testing.T) {
	c := context.Background()
	m := state.NewMemory()
	alice := &state.Member{UserID: "alice", UserInfo: json.RawMessage(`{"n":1}`)}
	bob := &state.Member{UserID: "bob"}
	steps := []struct {
		name string
		do   func() (any, error)
		want any
	}{
		{"first subscription occupies", func() (any, error) { return m.Join(c, "presence-x", "1.1", alice, 2) }, state.Joined{Occupied: true, UserAdded: true, Version: 1}},
		{"same user again adds nobody", func() (any, error) { return m.Join(c, "presence-x", "1.2", alice, 2) }, state.Joined{Version: 1}},
		{"second user", func() (any, error) { return m.Join(c, "presence-x", "1.3", bob, 2) }, state.Joined{UserAdded: true, Version: 2}},
		{"third user is over the cap", func() (any, error) {
			_, err := m.Join(c, "presence-x", "1.4", &state.Member{UserID: "carol"}, 2)
			return err, nil
		}, state.ErrFull},
		{"counts", func() (any, error) { return m.Channel(c, "presence-x") }, state.Info{Subscriptions: 3, Users: 2}},
		{"listing", func() (any, error) {
			all, err := m.Channels(c, "presence-")
			return len(all), err
		}, 1},
		{"alice leaves one tab", func() (any, error) { return m.Leave(c, "presence-x", "1.1", alice) }, state.Left{}},
		{"alice leaves the other", func() (any, error) { return m.Leave(c, "presence-x", "1.2", alice) }, state.Left{UserRemoved: true, Version: 3}},
		{"snapshot keeps the gone user's version", func() (any, error) {
			snap, err := m.Snapshot(c, "presence-x")
			return fmt.Sprint(len(snap.Members), snap.Versions), err
		}, "1 map[alice:3 bob:2]"},
		{"bob leaves last", func() (any, error) { return m.Leave(c, "presence-x", "1.3", bob) }, state.Left{Vacated: true, UserRemoved: true, Version: 4}},
		{"vacant", func() (any, error) { return m.Channel(c, "presence-x") }, state.Info{}},
		{"public channel", func() (any, error) { return m.Join(c, "news", "1.5", nil, 2) }, state.Joined{Occupied: true}},
	}
	for _, s := range steps {
		got, err := s.do()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got != s.want {
			t.Fatalf("%s: got %+v, want %+v", s.name, got, s.want)
		}
	}
}

func TestMemoryCacheExpires(t *testing.T) {
	c := context.Background()
	m := state.NewMemory()
	if err := m.SetLast(c, "cache-a", []byte("x"), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if b, ok, _ := m.Last(c, "cache-a"); !ok || string(b) != "x" {
		t.Fatalf("last %q %v", b, ok)
	}
	time.Sleep(80 * time.Millisecond)
	if _, ok, _ := m.Last(c, "cache-a"); ok {
		t.Fatal("the last event outlived its ttl")
	}
}
