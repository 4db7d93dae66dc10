package cluster_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsfargate/websocket-service/server/contract"
	"github.com/wsfargate/websocket-service/server/internal/testredis"
	"github.com/wsfargate/websocket-service/server/pusher"
	"github.com/wsfargate/websocket-service/server/pusher/cluster"
	"github.com/wsfargate/websocket-service/server/pusher/state"
)

// The ACL user the stack creates (contract.RedisKeyPatterns and
// RedisCommandRules) may run everything the Pusher state and bus need, on
// a single server and on a cluster.
func TestLeastPrivilegeUser(t *testing.T) {
	setUser := func(t *testing.T, nodes ...*testredis.Server) {
		args := append([]string{"ACL", "SETUSER", "server", "reset", "on", ">secret"}, strings.Fields(contract.RedisKeyPatterns+" "+contract.RedisCommandRules)...)
		for _, n := range nodes { // ACLs are per node
			if _, err := n.Do(args...); err != nil {
				t.Fatalf("ACL SETUSER on %s: %v", n.Addr, err)
			}
		}
	}
	backends := map[string]func(t *testing.T) redis.UniversalClient{
		"single": func(t *testing.T) redis.UniversalClient {
			srv := testredis.Start(t, false)
			setUser(t, srv)
			return redis.NewClient(&redis.Options{Addr: srv.Addr, Username: "server", Password: "secret"})
		},
		"cluster": func(t *testing.T) redis.UniversalClient {
			cl := testredis.StartCluster(t, false)
			setUser(t, cl.Nodes...)
			return redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs, Username: "server", Password: "secret"})
		},
	}
	for name, connect := range backends {
		t.Run(name, func(t *testing.T) {
			rdb := connect(t)
			defer rdb.Close()
			c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			s := cluster.NewState(rdb, "acl")
			bus := cluster.NewBus(rdb, "acl", slog.New(slog.NewTextHandler(io.Discard, nil)))
			m := &state.Member{UserID: "u"}
			var rec recorder
			ready := make(chan struct{})
			go bus.Follow(c, &rec, ready)
			<-ready
			hb, stop := context.WithCancel(c)
			defer stop()
			go s.Heartbeat(hb, func() {})
			steps := []struct {
				name string
				do   func() error
			}{
				{"join", func() error { _, err := s.Join(c, "presence-a", "1.1", m, 10); return err }},
				{"members", func() error { _, err := s.Members(c, "presence-a"); return err }},
				{"channel", func() error { _, err := s.Channel(c, "presence-a"); return err }},
				{"channels", func() error { _, err := s.Channels(c, ""); return err }},
				{"set last", func() error { return s.SetLast(c, "cache-a", []byte("x"), time.Minute) }},
				{"last", func() error { _, _, err := s.Last(c, "cache-a"); return err }},
				{"reap", func() error { _, err := s.Reap(c); return err }},
				{"publish", func() error { return bus.Publish(c, pusher.Message{Channel: "a", Frame: []byte("f")}) }},
				{"terminate", func() error { return bus.Terminate(c, "u") }},
				{"leave", func() error { _, err := s.Leave(c, "presence-a", "1.1", m); return err }},
			}
			for _, st := range steps {
				if err := st.do(); err != nil {
					t.Fatalf("%s as the least-privilege user: %v", st.name, err)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				if got, term := rec.snapshot(); len(got) == 1 && len(term) == 1 {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Fatal("the bus did not deliver as the least-privilege user")
		})
	}
}
