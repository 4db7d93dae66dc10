package pusher_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsfargate/websocket-service/server/internal/testredis"
	"github.com/wsfargate/websocket-service/server/pusher"
	"github.com/wsfargate/websocket-service/server/pusher/auth"
	"github.com/wsfargate/websocket-service/server/pusher/cluster"
)

// startTasks runs n servers of one app sharing state and events through
// the Redis that connect reaches, as tasks behind a load balancer do.
func startTasks(t *testing.T, n int, connect func() redis.UniversalClient) []*testApp {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tasks := make([]*testApp, n)
	for i := range tasks {
		tasks[i] = startAppWith(t, nil, func(ctx context.Context, opts *pusher.Options) func(*pusher.App) {
			rdb := connect()
			t.Cleanup(func() { rdb.Close() })
			st, bus := cluster.NewState(rdb, appID), cluster.NewBus(rdb, appID, logger)
			opts.State, opts.Bus = st, bus
			return func(app *pusher.App) {
				ready := make(chan struct{})
				go bus.Follow(ctx, app, ready)
				<-ready
				go st.Heartbeat(ctx, func() {})
			}
		})
	}
	return tasks
}

// Every subscriber on every task gets every event in one order, whichever
// task it was triggered on or sent from; presence is counted per user
// across tasks; terminations reach every task.
func TestAcrossTasks(t *testing.T) {
	for _, backend := range []string{"single", "cluster"} {
		t.Run(backend, func(t *testing.T) {
			var connect func() redis.UniversalClient
			if backend == "single" {
				srv := testredis.Start(t, false)
				connect = func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: srv.Addr}) }
			} else {
				cl := testredis.StartCluster(t, false)
				connect = func() redis.UniversalClient { return redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs}) }
			}
			tasks := startTasks(t, 3, connect)
			const ch = "presence-across"
			// Alice on tasks 0 and 1, Bob on task 2.
			conns := []*client{tasks[0].dial(t), tasks[1].dial(t), tasks[2].dial(t)}
			users := []string{"alice", "alice", "bob"}
			for i, c := range conns {
				c.subscribe(ch, presenceData(users[i], nil))
				c.next("pusher_internal:subscription_succeeded")
			}
			// Task 0's Alice saw Bob join once, and not her own second tab.
			if f := conns[0].until("pusher_internal:member_added"); string(f.data()) != `{"user_id":"bob","user_info":{}}` {
				t.Fatalf("member_added %s", f.data())
			}
			code, out := tasks[1].api(t, "GET", "/channels/"+ch, map[string][]string{"info": {"user_count,subscription_count"}}, nil, appSecret)
			if code != 200 || out["user_count"] != 2.0 || out["subscription_count"] != 3.0 {
				t.Fatalf("channel info %d %v, want 2 users on 3 subscriptions", code, out)
			}

			// Events triggered on different tasks arrive in one order
			// everywhere.
			const n = 30
			for k := range n {
				tasks[k%3].trigger(t, ch, "tick", strconv.Itoa(k), nil)
			}
			var orders [3][]string
			for i, c := range conns {
				for range n {
					orders[i] = append(orders[i], string(c.until("tick").data()))
				}
			}
			for i := 1; i < 3; i++ {
				for k := range n {
					if orders[i][k] != orders[0][k] {
						t.Fatalf("connection %d saw %v, connection 0 %v", i, orders[i], orders[0])
					}
				}
			}

			// A client event sent on task 2 reaches both of Alice's tabs.
			conns[2].send(map[string]any{"event": "client-wave", "channel": ch, "data": map[string]int{"n": 1}})
			for _, c := range conns[:2] {
				if f := c.until("client-wave"); f.UserID != "bob" {
					t.Fatalf("client event %+v", f)
				}
			}

			// Alice's tab on task 0 closes: nothing; on task 1: member_removed.
			_ = conns[0].conn.CloseNow()
			conns[2].quiet(300 * time.Millisecond)
			_ = conns[1].conn.CloseNow()
			if f := conns[2].until("pusher_internal:member_removed"); string(f.data()) != `{"user_id":"alice"}` {
				t.Fatalf("member_removed %s", f.data())
			}
			code, out = tasks[0].api(t, "GET", "/channels/"+ch+"/users", nil, nil, appSecret)
			if code != 200 || mustJSON(out["users"]) != `[{"id":"bob"}]` {
				t.Fatalf("users %d %v", code, out)
			}

			// A cache channel's last event, triggered on one task, is
			// replayed to a subscriber on another.
			tasks[0].trigger(t, "cache-across", "last", "v", nil)
			late := tasks[1].dial(t)
			late.subscribe("cache-across", "")
			late.next("pusher_internal:subscription_succeeded")
			if f := late.next("last"); string(f.data()) != "v" {
				t.Fatalf("replayed %s", f.data())
			}

			// A user signed in on task 1 is terminated through task 2.
			userData := `{"id":"carol"}`
			late.send(map[string]any{"event": "pusher:signin", "data": map[string]string{
				"user_data": userData, "auth": appKey + ":" + auth.SignUser(appSecret, late.SocketID, userData),
			}})
			late.next("pusher:signin_success")
			if code, out := tasks[2].api(t, "POST", "/users/carol/terminate_connections", nil, map[string]any{}, appSecret); code != 200 {
				t.Fatalf("terminate %d %v", code, out)
			}
			late.closedWith(4009)
		})
	}
}
