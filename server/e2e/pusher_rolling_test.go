package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsfargate/websocket-service/server/internal/testnode"
	"github.com/wsfargate/websocket-service/server/internal/testredis"
	pushercluster "github.com/wsfargate/websocket-service/server/pusher/cluster"
)

// The rolling restart ECS performs on every deploy, with pusher-js clients
// through haproxy: 60 clients of 40 users (20 of them with two
// connections) on one presence and one public channel, while the pusher
// SDK triggers a numbered event every 20 ms. Each instance in turn gets
// SIGTERM (4200 closes spread over DRAIN_SPREAD) and is started again on
// its port. Every client subscribes again to both channels after every
// disconnect; the HTTP API of every instance then lists exactly the 40
// users (user_count 40, subscription_count 60), and every client's own
// member list (pusher-js channel.members) is exactly those 40, so nobody
// is left as a ghost and nobody is missing. Pusher has no resume: events
// triggered while a client is between connections may be missed, and the
// test reports how many were, but a client receives no event twice, all
// in trigger order, and misses none while it is subscribed.
func TestPusherRollingRestart(t *testing.T) {
	t.Run("redis", func(t *testing.T) {
		node, dir := testnode.PusherClients(t)
		pusherRollingRestart(t, node, dir, startPusherCluster(t, testredis.Start(t, false)))
	})
	t.Run("redis-cluster", func(t *testing.T) {
		if testing.Short() {
			t.Skip("the rolling restart a second time; run without -short")
		}
		node, dir := testnode.PusherClients(t)
		rc := testredis.StartCluster(t, false)
		pusherRollingRestart(t, node, dir, startPusherCluster(t, rc.Nodes[0], "REDIS_CLUSTER=yes"))
	})
}

func pusherRollingRestart(t *testing.T, node, dir string, c *cluster) {
	s := startRolling(t, node, dir, c)
	channel := s.waitFor("ready", 30*time.Second).Presence
	users := expectedUsers(rollingUsers)
	t.Logf("before: %s", waitPresence(t, c, channel, users, rollingClients, 10*time.Second))
	if _, err := s.waitMembers(users, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// Once a client's member list has gone wrong it stays wrong: after the
	// first failure, report it once and go on measuring the rest.
	var membersWrong bool
	members := func(when string) {
		t.Helper()
		if membersWrong {
			return
		}
		if _, err := s.waitMembers(users, 5*time.Second); err != nil {
			membersWrong = true
			t.Errorf("%s, the HTTP API listed exactly the %d users but the clients' member lists did not converge: %v", when, len(users), err)
		}
	}
	s.send("start")
	started := s.mark()
	time.Sleep(time.Second)
	for i := range c.procs {
		began := time.Now()
		c.restart(i)
		restarted := time.Now()
		// A drained task takes its own subscriptions out of Redis before
		// it exits: the counts are right at once. A reaper could not have
		// fixed them yet: the task's heartbeat was refreshed through the
		// drain and lives HeartbeatTTL (15 s), at least 10 s past its exit.
		waitPresence(t, c, channel, users, rollingClients, 5*time.Second)
		api := time.Since(restarted)
		members(fmt.Sprintf("after instance %d's restart", i))
		t.Logf("instance %d drained and restarted in %v; %v later the API of every instance listed exactly the %d users, %v later every client's member list did",
			i, restarted.Sub(began).Round(time.Millisecond), api.Round(time.Millisecond), len(users), time.Since(restarted).Round(time.Millisecond))
		time.Sleep(time.Until(restarted.Add(1500 * time.Millisecond)))
	}
	time.Sleep(time.Second)
	s.send("stop")
	s.waitFor("stopped", 15*time.Second)

	t.Logf("after: %s", waitPresence(t, c, channel, users, rollingClients, 5*time.Second))
	members("after the rolling restart")
	pub := s.published()
	acked := pub.acked()
	if len(acked) == 0 {
		t.Fatal("no trigger succeeded")
	}
	snap, err := s.waitReceived(acked[len(acked)-1].Seq, 10*time.Second)
	if err != nil {
		t.Error(err)
	}

	// Every disconnect was followed by a subscription to both channels.
	var resub []time.Duration
	var downs, closes4200 int
	for i := range rollingClients {
		gaps, err := s.gaps(i)
		if err != nil {
			t.Error(err)
			continue
		}
		if len(gaps) == 0 {
			t.Errorf("client %d was never disconnected: the restarts did not reach its instance", i)
		}
		for _, g := range gaps {
			downs++
			if g.code == 4200 {
				closes4200++
			}
			resub = append(resub, g.up.Sub(g.down))
		}
	}
	t.Logf("%d disconnects (%d closed with 4200), each followed by subscriptions to both channels; disconnect to both resubscribed: %s",
		downs, closes4200, percentiles(resub))
	if closes4200 == 0 {
		t.Error("no client was closed with 4200 by the drain")
	}
	added, removed := s.memberEvents(started)
	t.Logf("presence churn the clients saw during the restarts: %d member_added, %d member_removed", added, removed)

	// What the public channel's subscribers received of the triggers.
	var failed []string
	for _, p := range pub {
		if p.Status != 200 {
			failed = append(failed, fmt.Sprintf("seq %d: %d %s", p.Seq, p.Status, p.Err))
		}
	}
	t.Logf("publisher: %d triggers, %d answered 200, %d failed %v", len(pub), len(acked), len(failed), failed)
	var missedTotal int
	var missedPer []int
	for _, cs := range snap {
		if cs.Doomed {
			continue
		}
		r := s.received(cs, pub)
		if r.duplicates > 0 || r.outOfOrder > 0 {
			t.Errorf("client %d: %d duplicated and %d out of order of %d events received", cs.Client, r.duplicates, r.outOfOrder, len(cs.Received))
		}
		if len(r.missedSubscribed) > 0 {
			t.Errorf("client %d missed events %v while it was subscribed (its disconnects: %v)", cs.Client, r.missedSubscribed, r.gaps)
		}
		missedTotal += r.missed
		missedPer = append(missedPer, r.missed)
	}
	slices.Sort(missedPer)
	t.Logf("events missed while reconnecting: %d of %d deliveries (%.2f%%); per client min %d, median %d, max %d",
		missedTotal, len(acked)*rollingClients, 100*float64(missedTotal)/float64(len(acked)*rollingClients),
		missedPer[0], missedPer[len(missedPer)/2], missedPer[len(missedPer)-1])
	for i, p := range c.procs {
		for line := range strings.Lines(p.Logs()) {
			if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
				t.Logf("instance %d: %s", i, strings.TrimSpace(line))
			}
		}
	}
}

// A task that dies without draining (SIGKILL: no 4200, no leaves) leaves
// its subscriptions counted in Redis. Its presence members must be gone
// within the stated bound, a heartbeat's expiry plus one sweep
// (cluster.HeartbeatTTL + cluster.ReapInterval, 20 s): from the HTTP API of
// every surviving instance, and from every client's member list through
// member_removed. The doomed clients connect to the killed instance
// directly and never come back; the other 60 reconnect through haproxy and
// keep their users present throughout.
//
// It runs on one Redis and on a Redis Cluster side by side: both mostly
// wait.
func TestPusherDeadTaskLeavesNoGhosts(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a heartbeat expiry (up to 20 s); run without -short")
	}
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		node, dir := testnode.PusherClients(t)
		pusherDeadTask(t, node, dir, startPusherCluster(t, testredis.Start(t, false)))
	})
	t.Run("redis-cluster", func(t *testing.T) {
		t.Parallel()
		node, dir := testnode.PusherClients(t)
		rc := testredis.StartCluster(t, false)
		pusherDeadTask(t, node, dir, startPusherCluster(t, rc.Nodes[0], "REDIS_CLUSTER=yes"))
	})
}

func pusherDeadTask(t *testing.T, node, dir string, c *cluster) {
	const victim = 2
	s := startRolling(t, node, dir, c, "ROLLING_DOOMED_PORT="+strconv.Itoa(c.ports[victim]),
		"ROLLING_DOOMED_CLIENTS="+strconv.Itoa(doomedClients), "ROLLING_DOOMED_USERS="+strconv.Itoa(doomedUsers))
	channel := s.waitFor("ready", 30*time.Second).Presence
	users := expectedUsers(rollingUsers)
	all := append(slices.Clone(users), doomedUserIDs()...)
	slices.Sort(all)
	t.Logf("before: %s", waitPresence(t, c, channel, all, rollingClients+doomedClients, 10*time.Second))
	if _, err := s.waitMembers(all, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	killed := time.Now()
	c.procs[victim].Signal(t, syscall.SIGKILL)
	c.procs[victim].Wait(t, 5*time.Second)
	bound := pushercluster.HeartbeatTTL + pushercluster.ReapInterval

	// Every instance left (and haproxy) must agree; poll until they do.
	deadline := killed.Add(bound + 10*time.Second)
	var apiGone time.Duration
	var after presenceView
	for {
		ok := true
		var views []string
		for i, hp := range survivors(c, victim) {
			v, err := getPresence(hp, channel)
			if i == 0 {
				after = v
			}
			if err != nil || !slices.Equal(v.Users, users) || v.UserCount != len(users) || v.SubscriptionCount != rollingClients {
				ok = false
			}
			views = append(views, fmt.Sprintf("%s: %v, extra %v, err %v", hp, v, minus(v.Users, users), err))
		}
		if ok {
			apiGone = time.Since(killed)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v after SIGKILL the API still shows the dead task's members: %s", time.Since(killed).Round(time.Millisecond), strings.Join(views, "; "))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := s.waitMembers(users, time.Until(killed.Add(bound+10*time.Second))); err != nil {
		t.Fatalf("the HTTP API no longer lists the dead task's members, but the clients' member lists do not agree: %v", err)
	}
	localGone := time.Since(killed)
	t.Logf("after: %s, from haproxy and both surviving instances", after)
	t.Logf("the dead task's members left the HTTP API %v and every client's member list %v after SIGKILL (bound %v)",
		apiGone.Round(time.Millisecond), localGone.Round(time.Millisecond), bound)
	// The sweep is every ReapInterval; allow a second for it to run and
	// for member_removed to travel.
	if limit := bound + time.Second; apiGone > limit || localGone > limit {
		t.Errorf("the dead task's members took %v (API) and %v (clients) to go; the README promises %v", apiGone, localGone, bound)
	}
	var resub []time.Duration
	for i := range rollingClients {
		gaps, err := s.gaps(i)
		if err != nil {
			t.Error(err)
		}
		for _, g := range gaps {
			if g.code != 1006 {
				t.Errorf("client %d: connection dropped with %d, want 1006 (no close frame from a killed process)", i, g.code)
			}
			resub = append(resub, g.up.Sub(g.down))
		}
	}
	// pusher-js waits a second before reconnecting after an abnormal close.
	t.Logf("the killed instance's proxied clients resubscribed elsewhere: %s", percentiles(resub))
	if len(resub) == 0 {
		t.Error("no proxied client was on the killed instance")
	}
}

const (
	rollingClients = 60
	rollingUsers   = 40
	doomedClients  = 6
	doomedUsers    = 4
)

func expectedUsers(n int) []string {
	var ids []string
	for i := range n {
		ids = append(ids, "u"+strconv.Itoa(i))
	}
	slices.Sort(ids)
	return ids
}

func doomedUserIDs() []string {
	var ids []string
	for i := range doomedUsers {
		ids = append(ids, "d"+strconv.Itoa(i))
	}
	return ids
}

// survivors are haproxy and every instance but the dead one.
func survivors(c *cluster, dead int) []string {
	hps := []string{c.proxy}
	for i, p := range c.ports {
		if i != dead {
			hps = append(hps, "127.0.0.1:"+strconv.Itoa(p))
		}
	}
	return hps
}

// waitPresence waits until haproxy and every instance answer that the
// channel holds exactly users, with subs subscriptions, and returns
// haproxy's answer.
func waitPresence(t *testing.T, c *cluster, channel string, users []string, subs int, d time.Duration) presenceView {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var first presenceView
		var views []string
		ok := true
		for i, hp := range survivors(c, -1) {
			v, err := getPresence(hp, channel)
			if i == 0 {
				first = v
			}
			if err != nil || !slices.Equal(v.Users, users) || v.UserCount != len(users) || v.SubscriptionCount != subs {
				ok = false
			}
			views = append(views, fmt.Sprintf("%s: %v, extra %v, missing %v, err %v", hp, v, minus(v.Users, users), minus(users, v.Users), err))
		}
		if ok {
			return first
		}
		if time.Now().After(deadline) {
			t.Fatalf("the HTTP API does not show %d users on %d subscriptions after %v: %s", len(users), subs, d, strings.Join(views, "; "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rolling drives rolling.mjs: commands on its stdin, JSON lines from its
// stdout.
type rolling struct {
	t      *testing.T
	stdin  io.WriteCloser
	mu     sync.Mutex
	lines  []scriptLine
	raw    bytes.Buffer // stdout as written, kept for a failure's post-mortem
	stderr bytes.Buffer
	exited chan struct{}
	stream func(user string) string // the user's member events in Redis, for failures
}

// scriptLine is one line rolling.mjs wrote; each kind of line uses some of
// the fields (see the script's header).
type scriptLine struct {
	Ev       string
	T        int64
	Client   int
	Prev     string
	Cur      string
	Code     int
	Channel  string
	Socket   string
	Members  []string
	Count    int
	Status   int
	Op, ID   string
	Seq      int
	T0, T1   int64
	Err      string
	Last     int
	Presence string
	Public   string

	User               string
	Doomed             bool
	State              string
	PresenceSubscribed bool `json:"presence_subscribed"`
	PublicSubscribed   bool `json:"public_subscribed"`
	Me                 *string
	Received           []int
}

func startRolling(t *testing.T, node, dir string, c *cluster, env ...string) *rolling {
	t.Helper()
	cmd := exec.Command(node, "rolling.mjs")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), pusherNodeEnv(c.proxy)...),
		"ROLLING_CLIENTS="+strconv.Itoa(rollingClients), "ROLLING_USERS="+strconv.Itoa(rollingUsers))
	cmd.Env = append(cmd.Env, env...)
	s := &rolling{t: t, exited: make(chan struct{})}
	s.stream = memberEntries(c.redis.URL, slices.Contains(c.env, "REDIS_CLUSTER=yes"))
	var err error
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &lockedWriter{mu: &s.mu, w: &s.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.exited)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var l scriptLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				s.mu.Lock()
				fmt.Fprintf(&s.stderr, "unparsable stdout line %q: %v\n", sc.Text(), err)
				s.mu.Unlock()
				continue
			}
			s.mu.Lock()
			s.lines = append(s.lines, l)
			s.raw.Write(append(sc.Bytes(), '\n'))
			s.mu.Unlock()
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		s.stdin.Close() // the script disconnects its clients and exits
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			s.mu.Lock()
			t.Logf("rolling.mjs stderr:\n%s", tail(s.stderr.String(), 40))
			if f, err := os.CreateTemp("", "rolling-*.jsonl"); err == nil {
				_, _ = f.Write(s.raw.Bytes())
				f.Close()
				t.Logf("rolling.mjs stdout (%d lines) kept in %s", len(s.lines), f.Name())
			}
			s.mu.Unlock()
		}
	})
	return s
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func (s *rolling) send(cmd string) {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, cmd+"\n"); err != nil {
		s.t.Fatalf("rolling.mjs %s: %v", cmd, err)
	}
}

// waitFor returns the first line of kind ev, waiting up to d.
func (s *rolling) waitFor(ev string, d time.Duration) scriptLine {
	s.t.Helper()
	return s.waitAfter(0, ev, d)
}

func (s *rolling) waitAfter(from int, ev string, d time.Duration) scriptLine {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		s.mu.Lock()
		for _, l := range s.lines[min(from, len(s.lines)):] {
			if l.Ev == ev {
				s.mu.Unlock()
				return l
			}
		}
		s.mu.Unlock()
		select {
		case <-s.exited:
			s.t.Fatalf("rolling.mjs exited before %q", ev)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("rolling.mjs wrote no %q within %v", ev, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// snapshot asks every client for its state.
func (s *rolling) snapshot() []scriptLine {
	s.t.Helper()
	s.mu.Lock()
	from := len(s.lines)
	s.mu.Unlock()
	s.send("snapshot")
	s.waitAfter(from, "snapshot_done", 10*time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []scriptLine
	for _, l := range s.lines[from:] {
		if l.Ev == "snapshot" {
			out = append(out, l)
		}
	}
	return out
}

// waitMembers waits until every client that is not doomed is connected,
// subscribed to both channels, and holds exactly users as its presence
// members. If they do not, the error shows, for the users some client has
// wrong, the member events in the order the Redis event stream holds them
// and what the clients saw (explain).
func (s *rolling) waitMembers(users []string, d time.Duration) ([]scriptLine, error) {
	s.t.Helper()
	wrongUsers := map[string]bool{}
	return s.waitSnapshot(d, func(c scriptLine) string {
		switch {
		case c.State != "connected" || !c.PresenceSubscribed || !c.PublicSubscribed:
			return fmt.Sprintf("state %s, subscribed presence %v public %v", c.State, c.PresenceSubscribed, c.PublicSubscribed)
		case !slices.Equal(c.Members, users) || c.Count != len(users):
			for _, u := range append(minus(c.Members, users), minus(users, c.Members)...) {
				wrongUsers[u] = true
			}
			return fmt.Sprintf("count %d, extra %v, missing %v", c.Count, minus(c.Members, users), minus(users, c.Members))
		case c.Me == nil || *c.Me != c.User:
			return fmt.Sprintf("me is %v, not %s", c.Me, c.User)
		}
		return ""
	}, func() string {
		var b strings.Builder
		for _, u := range slices.Sorted(maps.Keys(wrongUsers))[:min(len(wrongUsers), 3)] {
			fmt.Fprintf(&b, "\n%s", s.explain(u))
		}
		return b.String()
	})
}

// explain tells the story of one user's presence: its clients'
// disconnects and subscriptions, the member events of it that the first
// client and its own clients saw, and those in the Redis event stream, in
// stream order.
func (s *rolling) explain(user string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "user %s:", user)
	s.mu.Lock()
	for _, l := range s.lines {
		if l.Ev == "member" && l.ID == user && (l.Client == 0 || snapUser(l.Client) == user) {
			fmt.Fprintf(&b, "\n  %s client %d got member_%s", time.UnixMilli(l.T).Format("15:04:05.000"), l.Client, l.Op)
		}
		if snapUser(l.Client) == user && (l.Ev == "closed" || l.Ev == "subscribed" && strings.HasPrefix(l.Channel, "presence-")) {
			fmt.Fprintf(&b, "\n  %s its client %d: %s %d %s", time.UnixMilli(l.T).Format("15:04:05.000"), l.Client, l.Ev, l.Code, l.Socket)
		}
	}
	s.mu.Unlock()
	if s.stream != nil {
		fmt.Fprintf(&b, "\n  Redis stream %s:", pusherStream)
		b.WriteString(s.stream(user))
	}
	return b.String()
}

// snapUser is the user rolling.mjs gives its i-th proxied client.
func snapUser(i int) string {
	if i >= rollingClients {
		return "d" + strconv.Itoa((i-rollingClients)%doomedUsers)
	}
	return "u" + strconv.Itoa(i%rollingUsers)
}

// pusherStream is the Redis stream of the app's events (README, "Pusher
// channels").
const pusherStream = "pusher:{" + pusherAppID + "}:events"

// memberEntries lists the member events of user in the app's Redis event
// stream, in stream order, for a failure's story.
func memberEntries(redisURL string, clustered bool) func(user string) string {
	return func(user string) string {
		opt, err := redis.ParseURL(redisURL)
		if err != nil {
			return err.Error()
		}
		rc := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{opt.Addr}, IsClusterMode: clustered})
		defer rc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		entries, err := rc.XRange(ctx, pusherStream, "-", "+").Result()
		if err != nil {
			return err.Error()
		}
		var b strings.Builder
		for _, e := range entries {
			frame, _ := e.Values["f"].(string)
			var f struct{ Event, Data string }
			if json.Unmarshal([]byte(frame), &f) != nil || !strings.HasPrefix(f.Event, "pusher_internal:member_") {
				continue
			}
			var m struct {
				UserID string `json:"user_id"`
			}
			if json.Unmarshal([]byte(f.Data), &m) == nil && m.UserID == user {
				ms, _ := strconv.ParseInt(strings.Split(e.ID, "-")[0], 10, 64)
				fmt.Fprintf(&b, "\n    %s %s %s", e.ID, time.UnixMilli(ms).Format("15:04:05.000"), strings.TrimPrefix(f.Event, "pusher_internal:"))
			}
		}
		return b.String()
	}
}

// waitReceived waits until every client that is not doomed has received
// event seq, and returns the last snapshot.
func (s *rolling) waitReceived(seq int, d time.Duration) ([]scriptLine, error) {
	s.t.Helper()
	return s.waitSnapshot(d, func(c scriptLine) string {
		if !slices.Contains(c.Received, seq) {
			return fmt.Sprintf("has not received event %d (last %v)", seq, c.Received[max(0, len(c.Received)-3):])
		}
		return ""
	})
}

// waitSnapshot polls snapshots until wrong finds nothing wrong with any
// client that is not doomed, and returns the last snapshot, with an error
// that says what was still wrong after d, and what explain adds, if it
// came to that.
func (s *rolling) waitSnapshot(d time.Duration, wrong func(scriptLine) string, explain ...func() string) ([]scriptLine, error) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		snap := s.snapshot()
		var bad []string
		for _, c := range snap {
			if c.Doomed {
				continue
			}
			if why := wrong(c); why != "" {
				bad = append(bad, fmt.Sprintf("client %d (%s): %s", c.Client, c.User, why))
			}
		}
		if len(bad) == 0 {
			return snap, nil
		}
		if time.Now().After(deadline) {
			more := ""
			for _, e := range explain {
				more += e()
			}
			return snap, fmt.Errorf("after %v, %d clients: %s%s", d, len(bad), strings.Join(bad[:min(len(bad), 10)], "; "), more)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// minus is what a has that b has not.
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func (s *rolling) linesOf(ev string) []scriptLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []scriptLine
	for _, l := range s.lines {
		if l.Ev == ev {
			out = append(out, l)
		}
	}
	return out
}

type triggers []scriptLine

func (s *rolling) published() triggers { return s.linesOf("published") }

func (p triggers) acked() triggers {
	var out triggers
	for _, l := range p {
		if l.Status == 200 {
			out = append(out, l)
		}
	}
	return out
}

// gap is one time a client was between connections: from the first sign
// of the drop (the close, or the state leaving connected) to the moment it
// had subscribed to both channels again.
type gap struct {
	down, up time.Time
	code     int
}

func (g gap) String() string {
	return fmt.Sprintf("%s..%s (code %d)", g.down.Format("15:04:05.000"), g.up.Format("15:04:05.000"), g.code)
}

// gaps lists client i's disconnects, and fails if one was not followed by
// subscriptions to both channels.
func (s *rolling) gaps(i int) ([]gap, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []gap
	var cur *gap
	subs := map[string]bool{}
	for _, l := range s.lines {
		if l.Client != i {
			continue
		}
		at := time.UnixMilli(l.T)
		switch {
		case l.Ev == "closed" || (l.Ev == "state" && l.Prev == "connected"):
			if cur == nil && len(subs) == 2 {
				cur = &gap{down: at}
				subs = map[string]bool{}
			}
			if cur != nil && l.Ev == "closed" && cur.code == 0 {
				cur.code = l.Code
			}
		case l.Ev == "subscribed":
			subs[l.Channel] = true
			if cur != nil && len(subs) == 2 {
				cur.up = at
				out = append(out, *cur)
				cur = nil
			}
		case l.Ev == "sub_error":
			return out, fmt.Errorf("client %d: subscription to %s refused with %d", i, l.Channel, l.Status)
		}
	}
	if cur != nil {
		return out, fmt.Errorf("client %d disconnected at %s and did not subscribe to both channels again (only %v)", i, cur.down.Format("15:04:05.000"), subs)
	}
	return out, nil
}

// mark is the position of the next line the script writes.
func (s *rolling) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lines)
}

// memberEvents counts the member_added and member_removed the clients saw
// from mark from on.
func (s *rolling) memberEvents(from int) (added, removed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines[from:] {
		if l.Ev != "member" {
			continue
		}
		if l.Op == "added" {
			added++
		} else {
			removed++
		}
	}
	return added, removed
}

// receipt is what one client received of the triggers.
type receipt struct {
	duplicates, outOfOrder int
	missed                 int   // acknowledged triggers never received
	missedSubscribed       []int // of those, ones triggered well away from any of its disconnects
	gaps                   []gap
}

// reconnectSlack is how far before a client noticed its connection drop an
// event may have been triggered and still be lost with the connection: the
// old task may not have delivered it before closing.
const reconnectSlack = time.Second

func (s *rolling) received(c scriptLine, pub triggers) receipt {
	var r receipt
	r.gaps, _ = s.gaps(c.Client)
	seen := map[int]bool{}
	for i, seq := range c.Received {
		if seen[seq] {
			r.duplicates++
		}
		seen[seq] = true
		if i > 0 && seq <= c.Received[i-1] {
			r.outOfOrder++
		}
	}
	for _, p := range pub.acked() {
		if seen[p.Seq] {
			continue
		}
		r.missed++
		t0, t1 := time.UnixMilli(p.T0), time.UnixMilli(p.T1)
		inGap := false
		for _, g := range r.gaps {
			if !t1.Before(g.down.Add(-reconnectSlack)) && !t0.After(g.up) {
				inGap = true
			}
		}
		if !inGap {
			r.missedSubscribed = append(r.missedSubscribed, p.Seq)
		}
	}
	return r
}
