package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/broker"
	"github.com/wsfargate/websocket-service/server/contract"
	"github.com/wsfargate/websocket-service/server/internal/testlog"
	"github.com/wsfargate/websocket-service/server/internal/testredis"
	"github.com/wsfargate/websocket-service/server/metrics"
)

// REDIS_CLUSTER=auto picks the right client for either kind of server; a
// wrong "yes" or "no" fails at the first command with the server's reason.
// The cluster's stream lies on a node other than the URL's, so a
// single-server client there gets MOVED rather than working by luck.
func TestClusterModes(t *testing.T) {
	single := testredis.Start(t, false)
	cluster := testredis.StartCluster(t, false)
	tests := []struct {
		server, mode string
		wantErr      string // empty: works
		wantLog      string // from asking the server
	}{
		{"single", "auto", "", "cluster=false"},
		{"single", "", "", "cluster=false"},
		{"single", "no", "", ""},
		{"single", "yes", "cluster support disabled", ""},
		{"cluster", "auto", "", "cluster=true"},
		{"cluster", "yes", "", ""},
		{"cluster", "no", "MOVED", ""},
	}
	for i, tt := range tests {
		t.Run(tt.server+"/"+tt.mode, func(t *testing.T) {
			// A stream of its own, so that the history holds only this publish.
			o := broker.Options{URL: single.URL, Cluster: tt.mode, Stream: fmt.Sprint("test:modes", i), History: 100}
			if tt.server == "cluster" {
				o.URL, o.Stream = cluster.URL, cluster.KeyOn(fmt.Sprintf("test:modes%d:", i), cluster.Nodes[1])
			}
			var logs testlog.Buffer
			if !roundTrip(t, o, &logs, tt.wantErr) {
				return
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log %q lacks %q", logs.String(), tt.wantLog)
			}
		})
	}
}

func TestOptionsRejected(t *testing.T) {
	tests := []struct {
		o       broker.Options
		wantErr string
	}{
		{broker.Options{URL: "redis://127.0.0.1:1/0", Cluster: "maybe"}, "REDIS_CLUSTER"},
		{broker.Options{URL: "redis://127.0.0.1:1/2", Cluster: "yes"}, "only database 0"},
		{broker.Options{URL: "unix:///tmp/redis.sock", Cluster: "yes"}, "over TCP"},
		{broker.Options{URL: "http://127.0.0.1:1"}, "REDIS_URL"},
	}
	for _, tt := range tests {
		_, err := broker.NewRedis(tt.o, slog.New(slog.NewTextHandler(io.Discard, nil)), metrics.New())
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("NewRedis(%+v): %v, want an error with %q", tt.o, err, tt.wantErr)
		}
	}
}

// The stream's slot moves to another node while a task publishes and two
// follow: the old node answers MOVED from then on, go-redis follows it, and
// every acknowledged message reaches both tasks once, in one order.
func TestClusterSlotMoves(t *testing.T) {
	c := testredis.StartCluster(t, false)
	tg := target{url: c.URL, stream: c.KeyOn("test:moving:", c.Nodes[1]), node: c.Nodes[1], cluster: c}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tasks := []*task{startTask(t, ctx, tg, 10000), startTask(t, ctx, tg, 10000)}

	var mu sync.Mutex
	var acked []string
	moved := make(chan struct{})
	done := make(chan int)
	go func() {
		failed := 0
		for i, after := 0, 0; after < 100; i++ {
			select {
			case <-moved:
				after++
			default:
			}
			s := strconv.Itoa(i)
			if err := tasks[i%2].b.Publish(ctx, json.RawMessage(strconv.Quote(s))); err != nil {
				failed++
				continue
			}
			mu.Lock()
			acked = append(acked, s)
			mu.Unlock()
		}
		done <- failed
	}()
	waitFor(t, 5*time.Second, "publishes before the move", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 100 })
	c.MoveSlot(tg.stream, c.Nodes[2])
	close(moved)
	failed := <-done
	t.Logf("%d publishes acknowledged, %d failed, around the move", len(acked), failed)
	if failed > 0 {
		// A MOVED or ASK is followed, never returned: the command had not run.
		t.Errorf("%d publishes failed while the slot moved", failed)
	}
	if got, err := c.Nodes[2].Do("XLEN", tg.stream); err != nil || got == "0" {
		t.Fatalf("XLEN on the new node: %q, %v", got, err)
	}
	for i, tk := range tasks {
		waitFor(t, 10*time.Second, fmt.Sprintf("task %d has every acknowledged message", i), func() bool {
			return countAcked(entries(tk.log, 0), acked) == len(acked)
		})
	}
	first := entries(tasks[0].log, 0)
	second := entries(tasks[1].log, 0)
	if len(first) != len(second) {
		t.Fatalf("tasks hold %d and %d entries", len(first), len(second))
	}
	seen := map[string]int{}
	for j := range first {
		if first[j].Offset != second[j].Offset || string(first[j].Frame()) != string(second[j].Frame()) {
			t.Fatalf("entry %d: %s and %s", j, first[j].Frame(), second[j].Frame())
		}
		var f struct{ Message string }
		if err := json.Unmarshal(first[j].Frame(), &f); err != nil {
			t.Fatal(err)
		}
		seen[f.Message]++
	}
	for _, s := range acked {
		if seen[s] != 1 {
			t.Errorf("acknowledged %q delivered %d times", s, seen[s])
		}
	}
}

// leastPrivilege is the narrowest ACL the broker runs with, on a single
// server and on a cluster: stream commands on its keys, the connection
// handshake, and CLUSTER SLOTS, with which a cluster client finds the nodes
// and REDIS_CLUSTER=auto asks what the server is.
const leastPrivilege = contract.RedisCommandRules

// An ACL user with only what the broker needs works on either kind of
// server; without CLUSTER SLOTS only a single server with
// REDIS_CLUSTER=no does, and auto says what is missing.
func TestLeastPrivilegeUser(t *testing.T) {
	single := testredis.Start(t, false)
	cluster := testredis.StartCluster(t, false)
	withoutSlots := strings.TrimSuffix(leastPrivilege, " +cluster|slots")
	for _, n := range append([]*testredis.Server{single}, cluster.Nodes...) {
		// ACLs are per node; a cluster does not spread them.
		for user, access := range map[string]string{"broker": leastPrivilege, "noslots": withoutSlots} {
			args := append([]string{"ACL", "SETUSER", user, "reset", "on", ">secret", "~test:*"}, strings.Fields(access)...)
			if _, err := n.Do(args...); err != nil {
				t.Fatalf("ACL SETUSER on %s: %v", n.Addr, err)
			}
		}
	}
	tests := []struct {
		server, user, mode string
		wantErr            string
	}{
		{"single", "broker", "auto", ""},
		{"cluster", "broker", "auto", ""},
		{"cluster", "broker", "yes", ""},
		{"single", "noslots", "no", ""},
		{"single", "noslots", "auto", "needs CLUSTER SLOTS"},
		{"cluster", "noslots", "auto", "needs CLUSTER SLOTS"},
		{"cluster", "noslots", "yes", "NOPERM"},
	}
	for i, tt := range tests {
		t.Run(tt.server+"/"+tt.user+"/"+tt.mode, func(t *testing.T) {
			o := broker.Options{URL: single.URL, Username: tt.user, Password: "secret", Cluster: tt.mode, Stream: fmt.Sprint("test:acl", i), History: 100}
			if tt.server == "cluster" {
				o.URL, o.Stream = cluster.URL, cluster.KeyOn(fmt.Sprintf("test:acl%d:", i), cluster.Nodes[2])
			}
			roundTrip(t, o, io.Discard, tt.wantErr)
		})
	}
}

// The node that serves the stream comes back at another address, as after
// a failover. Its old address refuses connections and no node answers
// MOVED, so only a fresh look at the cluster's slots finds it: the
// follower takes one when reads fail, long before go-redis's periodic one
// (a minute), and publishes share what it learns.
func TestClusterNodeChangesAddress(t *testing.T) {
	c := testredis.StartCluster(t, true)
	tg := target{url: c.URL, stream: c.KeyOn("test:failover:", c.Nodes[1]), node: c.Nodes[1], cluster: c}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tasks := []*task{startTask(t, ctx, tg, 1000), startTask(t, ctx, tg, 1000)}
	var acked []string
	publish := func(s string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for k := 0; ; k++ {
			// A new payload per attempt: a failed attempt is never
			// acknowledged, but might still have been applied.
			p := fmt.Sprintf("%s-%d", s, k)
			err := tasks[0].b.Publish(ctx, json.RawMessage(strconv.Quote(p)))
			if err == nil {
				acked = append(acked, p)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %s: still failing: %v", s, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i := range 10 {
		publish(fmt.Sprint("before-", i))
	}
	old := tg.node.Addr
	c.RestartElsewhere(tg.node)
	t.Logf("the stream's node moved from %s to %s", old, tg.node.Addr)
	began := time.Now()
	for i := range 10 {
		publish(fmt.Sprint("after-", i))
	}
	t.Logf("publishing again %v after the move", time.Since(began).Round(time.Millisecond))
	for i, tk := range tasks {
		waitFor(t, 20*time.Second, fmt.Sprintf("task %d has every acknowledged message", i), func() bool {
			return countAcked(entries(tk.log, 0), acked) == len(acked)
		})
		waitFor(t, 5*time.Second, fmt.Sprintf("task %d reports the broker up", i), func() bool { return metricValue(tk.m.BrokerUp) == 1 })
	}
	t.Logf("every task delivered everything %v after the move", time.Since(began).Round(time.Millisecond))
	for i, tk := range tasks {
		seen := map[string]int{}
		for _, e := range entries(tk.log, 0) {
			var f struct{ Message string }
			if err := json.Unmarshal(e.Frame(), &f); err != nil {
				t.Fatal(err)
			}
			seen[f.Message]++
		}
		for _, s := range acked {
			if seen[s] != 1 {
				t.Errorf("task %d: acknowledged %q delivered %d times", i, s, seen[s])
			}
		}
	}
}

// roundTrip opens a broker with o, logging to logs. With wantErr it expects
// Load to fail with that text and reports false; otherwise it publishes one
// message, waits for it to come back through Follow and reports true.
func roundTrip(t *testing.T, o broker.Options, logs io.Writer, wantErr string) bool {
	t.Helper()
	b, err := broker.NewRedis(o, slog.New(slog.NewTextHandler(logs, nil)), metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log, from, err := b.Load(ctx, 100)
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("Load: %v, want an error with %q", err, wantErr)
		}
		return false
	}
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	go b.Follow(ctx, log, from)
	if err := b.Publish(ctx, json.RawMessage(`"hello"`)); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	waitFor(t, 5*time.Second, "the message back", func() bool { return len(entries(log, 0)) == 1 })
	return true
}
