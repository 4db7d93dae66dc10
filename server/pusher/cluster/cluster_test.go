package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsfargate/websocket-service/server/internal/testredis"
	"github.com/wsfargate/websocket-service/server/pusher"
	"github.com/wsfargate/websocket-service/server/pusher/cluster"
	"github.com/wsfargate/websocket-service/server/pusher/state"
)

// backends runs f against a single redis-server and a three-node Redis
// Cluster, with a fresh client per call of connect.
func backends(t *testing.T, f func(t *testing.T, connect func() redis.UniversalClient)) {
	t.Run("single", func(t *testing.T) {
		srv := testredis.Start(t, false)
		f(t, func() redis.UniversalClient {
			c := redis.NewClient(&redis.Options{Addr: srv.Addr})
			t.Cleanup(func() { c.Close() })
			return c
		})
	})
	t.Run("cluster", func(t *testing.T) {
		cl := testredis.StartCluster(t, false)
		f(t, func() redis.UniversalClient {
			c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs})
			t.Cleanup(func() { c.Close() })
			return c
		})
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// Two tasks share one picture: occupancy and presence transitions are
// decided once for the app, whichever task the connections are on.
func TestStateAcrossTasks(t *testing.T) {
	backends(t, func(t *testing.T, connect func() redis.UniversalClient) {
		c := ctx(t)
		a, b := cluster.NewState(connect(), "app1"), cluster.NewState(connect(), "app1")
		alice := &state.Member{UserID: "alice", UserInfo: json.RawMessage(`{"n":1}`)}
		steps := []struct {
			name string
			do   func() (any, error)
			want any
		}{
			{"first subscription occupies", func() (any, error) { return a.Join(c, "presence-x", "1.1", alice, 2) }, state.Joined{Occupied: true, UserAdded: true, Version: 1}},
			{"same user elsewhere adds nobody", func() (any, error) { return b.Join(c, "presence-x", "2.1", alice, 2) }, state.Joined{Version: 1}},
			{"second user", func() (any, error) { return b.Join(c, "presence-x", "2.2", &state.Member{UserID: "bob"}, 2) }, state.Joined{UserAdded: true, Version: 2}},
			{"third user is over the cap", func() (any, error) {
				_, err := a.Join(c, "presence-x", "1.2", &state.Member{UserID: "carol"}, 2)
				return err, nil
			}, state.ErrFull},
			{"counts", func() (any, error) { return a.Channel(c, "presence-x") }, state.Info{Subscriptions: 3, Users: 2}},
			{"alice leaves one tab", func() (any, error) { return a.Leave(c, "presence-x", "1.1", alice) }, state.Left{}},
			{"alice leaves the other", func() (any, error) { return b.Leave(c, "presence-x", "2.1", alice) }, state.Left{UserRemoved: true, Version: 3}},
			{"snapshot keeps the gone user's version", func() (any, error) {
				snap, err := a.Snapshot(c, "presence-x")
				return fmt.Sprint(len(snap.Members), snap.Versions), err
			}, "1 map[alice:3 bob:2]"},
			{"bob leaves last", func() (any, error) { return b.Leave(c, "presence-x", "2.2", &state.Member{UserID: "bob"}) }, state.Left{Vacated: true, UserRemoved: true, Version: 4}},
			{"vacant", func() (any, error) { return a.Channel(c, "presence-x") }, state.Info{}},
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
	})
}

func TestChannelsMembersAndCache(t *testing.T) {
	backends(t, func(t *testing.T, connect func() redis.UniversalClient) {
		c := ctx(t)
		s := cluster.NewState(connect(), "app2")
		for i, ch := range []string{"news-a", "news-b", "presence-p", "presence-p"} {
			var m *state.Member
			if ch == "presence-p" {
				m = &state.Member{UserID: string(rune('a' + i))}
			}
			if _, err := s.Join(c, ch, "9."+string(rune('0'+i)), m, 100); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.Channels(c, "news-")
		if err != nil || len(all) != 2 || all["news-a"].Subscriptions != 1 {
			t.Fatalf("channels %v %v", all, err)
		}
		members, err := s.Members(c, "presence-p")
		if err != nil || len(members) != 2 || members[0].UserID != "c" || members[1].UserID != "d" {
			t.Fatalf("members %+v %v", members, err)
		}
		if _, ok, err := s.Last(c, "cache-x"); ok || err != nil {
			t.Fatalf("last of a fresh cache channel: %v %v", ok, err)
		}
		if err := s.SetLast(c, "cache-x", []byte(`{"event":"e"}`), time.Minute); err != nil {
			t.Fatal(err)
		}
		if b, ok, err := s.Last(c, "cache-x"); !ok || err != nil || string(b) != `{"event":"e"}` {
			t.Fatalf("last %q %v %v", b, ok, err)
		}
	})
}

// A task that dies without leaving has its subscriptions taken back by
// another once its heartbeat has expired, and no member is left behind.
func TestReapDeadTask(t *testing.T) {
	backends(t, func(t *testing.T, connect func() redis.UniversalClient) {
		c := ctx(t)
		dead, live := cluster.NewState(connect(), "app3"), cluster.NewState(connect(), "app3")
		hb, stop := context.WithCancel(c)
		go dead.Heartbeat(hb, func() {})
		go live.Heartbeat(c, func() {})
		if _, err := dead.Join(c, "presence-room", "1.1", &state.Member{UserID: "ghost"}, 100); err != nil {
			t.Fatal(err)
		}
		if _, err := live.Join(c, "presence-room", "2.1", &state.Member{UserID: "real"}, 100); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // the first heartbeats
		if gone, err := live.Reap(c); err != nil || len(gone) != 0 {
			t.Fatalf("reaped %v %v while every task is alive", gone, err)
		}
		stop() // the task dies: its heartbeat expires after HeartbeatTTL
		deadline := time.Now().Add(cluster.HeartbeatTTL + 2*cluster.ReapInterval)
		var gone []state.Departure
		for len(gone) == 0 && time.Now().Before(deadline) {
			time.Sleep(500 * time.Millisecond)
			var err error
			if gone, err = live.Reap(c); err != nil {
				t.Fatal(err)
			}
		}
		if len(gone) != 1 || gone[0].UserID != "ghost" || !gone[0].UserRemoved || gone[0].Vacated {
			t.Fatalf("departures %+v, want the ghost removed and the room still occupied", gone)
		}
		members, _ := live.Members(c, "presence-room")
		if len(members) != 1 || members[0].UserID != "real" {
			t.Fatalf("members %+v, want only the live task's", members)
		}
	})
}

type recorder struct {
	mu   sync.Mutex
	got  []pusher.Message
	term []string
}

func (r *recorder) Deliver(m pusher.Message) { r.mu.Lock(); r.got = append(r.got, m); r.mu.Unlock() }
func (r *recorder) TerminateLocal(id string) { r.mu.Lock(); r.term = append(r.term, id); r.mu.Unlock() }
func (r *recorder) snapshot() ([]pusher.Message, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pusher.Message(nil), r.got...), append([]string(nil), r.term...)
}

// Every task receives every message in one order, whichever task sent it.
func TestBusOrderAcrossTasks(t *testing.T) {
	backends(t, func(t *testing.T, connect func() redis.UniversalClient) {
		c := ctx(t)
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		var recs [2]recorder
		buses := [2]*cluster.Bus{cluster.NewBus(connect(), "app4", logger), cluster.NewBus(connect(), "app4", logger)}
		for i, b := range buses {
			ready := make(chan struct{})
			go b.Follow(c, &recs[i], ready)
			<-ready
		}
		const n = 200
		var wg sync.WaitGroup
		for i := range buses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range n {
					m := pusher.Message{Channel: "ch", Frame: []byte{byte('a' + i), byte(k)}, Skip: "1.2"}
					if err := buses[i].Publish(c, m); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		if err := buses[0].Terminate(c, "u1"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			a, ta := recs[0].snapshot()
			b, tb := recs[1].snapshot()
			if len(a) == 2*n && len(b) == 2*n && len(ta) == 1 && len(tb) == 1 {
				for i := range a {
					if string(a[i].Frame) != string(b[i].Frame) || a[i].Skip != "1.2" {
						t.Fatalf("message %d: %q on one task, %q on the other", i, a[i].Frame, b[i].Frame)
					}
				}
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		a, _ := recs[0].snapshot()
		b, _ := recs[1].snapshot()
		t.Fatalf("delivered %d and %d of %d", len(a), len(b), 2*n)
	})
}
