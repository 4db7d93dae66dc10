package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsfargate/websocket-service/server/broker"
	"github.com/wsfargate/websocket-service/server/hub"
	"github.com/wsfargate/websocket-service/server/internal/testredis"
	"github.com/wsfargate/websocket-service/server/metrics"
)

// task is one server process's view: its broker and its log.
type task struct {
	b   *broker.Redis
	log *hub.Log
	m   *metrics.Metrics
}

// target is a Redis deployment to test against, and the stream to use.
type target struct {
	url    string
	stream string
	// node is the server, or the cluster node that serves stream's slot:
	// the one whose outage the broker must ride out.
	node    *testredis.Server
	cluster *testredis.Cluster // nil for a single server
}

// raw returns a plain client, for writing what no server would.
func (tg target) raw(t *testing.T) redis.UniversalClient {
	var c redis.UniversalClient
	if tg.cluster != nil {
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: tg.cluster.Addrs})
	} else {
		c = redis.NewClient(&redis.Options{Addr: tg.node.Addr})
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// backends are the deployments every broker test runs against: a single
// redis-server, and a three-node Redis Cluster, as ElastiCache Serverless
// always is, with the stream on a node other than the one in the URL, so
// that the client must find it.
var backends = []struct {
	name  string
	start func(t *testing.T, persist bool) target
}{
	{"single", func(t *testing.T, persist bool) target {
		s := testredis.Start(t, persist)
		return target{url: s.URL, stream: "test:stream", node: s}
	}},
	{"cluster", func(t *testing.T, persist bool) target {
		c := testredis.StartCluster(t, persist)
		stream := c.KeyOn("test:stream:", c.Nodes[1])
		return target{url: c.URL, stream: stream, node: c.Nodes[1], cluster: c}
	}},
}

func startTask(t *testing.T, ctx context.Context, tg target, capacity int) *task {
	t.Helper()
	m := metrics.New()
	b, err := broker.NewRedis(broker.Options{URL: tg.url, Stream: tg.stream, History: capacity}, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	log, from, err := b.Load(ctx, capacity)
	if err != nil {
		t.Fatal(err)
	}
	go b.Follow(ctx, log, from)
	return &task{b: b, log: log, m: m}
}

func entries(log *hub.Log, after uint64) []hub.Entry {
	got, _, _ := log.Read(after, make([]hub.Entry, 0, 100000))
	return got
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTasksAgreeOnOrderAndOffsets(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { testTasksAgree(t, be.start(t, false)) })
	}
}

// A cluster serves the stream from whichever node owns its slot; the
// broker works wherever that is, the node named in the URL included.
func TestClusterStreamOnEveryNode(t *testing.T) {
	c := testredis.StartCluster(t, false)
	for i, n := range c.Nodes {
		t.Run(fmt.Sprint("node", i), func(t *testing.T) {
			stream := c.KeyOn(fmt.Sprintf("test:node%d:", i), n)
			testTasksAgree(t, target{url: c.URL, stream: stream, node: n, cluster: c})
			if got, err := n.Do("XLEN", stream); err != nil || got != "300" {
				t.Errorf("XLEN %s on the node that owns it: %q, %v; want 300", stream, got, err)
			}
		})
	}
}

// testTasksAgree has three tasks publish 100 messages each and checks that
// all three deliver the same 300 entries, in one order, with one offset.
func testTasksAgree(t *testing.T, tg target) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tasks := []*task{startTask(t, ctx, tg, 1000), startTask(t, ctx, tg, 1000), startTask(t, ctx, tg, 1000)}
	const each = 100
	var wg sync.WaitGroup
	for i, tk := range tasks {
		wg.Go(func() {
			for j := range each {
				if err := tk.b.Publish(ctx, json.RawMessage(fmt.Sprintf(`{"task":%d,"n":%d}`, i, j))); err != nil {
					t.Errorf("publish: %v", err)
				}
			}
		})
	}
	wg.Wait()
	want := len(tasks) * each
	for i, tk := range tasks {
		waitFor(t, 10*time.Second, fmt.Sprintf("task %d to receive all", i), func() bool { return len(entries(tk.log, 0)) == want })
	}
	first := entries(tasks[0].log, 0)
	for i, tk := range tasks[1:] {
		got := entries(tk.log, 0)
		for j := range got {
			if got[j].Offset != first[j].Offset || string(got[j].Frame()) != string(first[j].Frame()) {
				t.Fatalf("task %d entry %d: %s, task 0 has %s", i+1, j, got[j].Frame(), first[j].Frame())
			}
		}
	}
	// Each publisher's own messages keep their order.
	next := map[float64]float64{}
	for _, e := range first {
		var f struct{ Message struct{ Task, N float64 } }
		if err := json.Unmarshal(e.Frame(), &f); err != nil {
			t.Fatal(err)
		}
		if f.Message.N != next[f.Message.Task] {
			t.Fatalf("task %v: message %v arrived when %v was due", f.Message.Task, f.Message.N, next[f.Message.Task])
		}
		next[f.Message.Task]++
	}
}

// A task that starts later loads the recent history, so clients moving to
// it from a stopped task can resume.
func TestLoadHistory(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { testLoadHistory(t, be.start(t, false)) })
	}
}

func testLoadHistory(t *testing.T, tg target) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	early := startTask(t, ctx, tg, 100)
	for i := range 20 {
		if err := early.b.Publish(ctx, json.RawMessage(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "early task caught up", func() bool { return len(entries(early.log, 0)) == 20 })
	all := entries(early.log, 0)

	late := startTask(t, ctx, tg, 5)
	got := entries(late.log, all[14].Offset)
	if len(got) != 5 || got[0].Offset != all[15].Offset || got[4].Offset != all[19].Offset {
		t.Fatalf("late task holds %d entries, want the last 5 of the 20", len(got))
	}
	if _, _, res := late.log.Read(all[13].Offset, nil); res != hub.Gone {
		t.Errorf("resume from before the loaded history: %v, want Gone", res)
	}
	if _, _, res := late.log.Read(all[19].Offset, nil); res != hub.Ready {
		t.Errorf("resume from the newest entry: %v, want Ready", res)
	}
	// And it follows new entries after what it loaded.
	if err := early.b.Publish(ctx, json.RawMessage(`"new"`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "late task got the new entry", func() bool { return len(entries(late.log, all[19].Offset)) == 1 })
}

func TestEntriesNotFromAServerAreSkipped(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { testEntriesSkipped(t, be.start(t, false)) })
	}
}

func testEntriesSkipped(t *testing.T, tg target) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tk := startTask(t, ctx, tg, 100)
	raw := tg.raw(t)
	for _, vals := range [][]any{{"m", "not json"}, {"other", `{"a":1}`}, {"m", `{"ok":true}`}} {
		if err := raw.XAdd(ctx, &redis.XAddArgs{Stream: tg.stream, Values: vals}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "the valid entry", func() bool { return len(entries(tk.log, 0)) == 1 })
	time.Sleep(100 * time.Millisecond)
	if got := entries(tk.log, 0); len(got) != 1 || string(got[0].Frame()[:20]) != `{"message":{"ok":tru` {
		t.Fatalf("log holds %d entries, want only the valid one", len(got))
	}
}

// While Redis is frozen a publish fails (it is never acknowledged and then
// lost); when Redis returns, the follower resumes where it stopped; after a
// restart with persistence every acknowledged message is there exactly once.
// On a cluster the node that serves the stream is the one frozen and
// restarted, and the blocking read must find it again.
func TestOutageAndRestart(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { testOutageAndRestart(t, be.start(t, true)) })
	}
}

func testOutageAndRestart(t *testing.T, tg target) {
	rs := tg.node
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tk := startTask(t, ctx, tg, 1000)
	var acked []string
	publish := func(s string) error {
		err := tk.b.Publish(ctx, json.RawMessage(strconv.Quote(s)))
		if err == nil {
			acked = append(acked, s)
		}
		return err
	}
	for i := range 10 {
		if err := publish(fmt.Sprint("before-", i)); err != nil {
			t.Fatal(err)
		}
	}
	rs.Pause()
	began := time.Now()
	if err := publish("during"); err == nil {
		t.Fatal("publish to a frozen Redis was acknowledged")
	}
	t.Logf("publish during the outage failed after %v", time.Since(began).Round(time.Millisecond))
	waitFor(t, 10*time.Second, "broker reported down", func() bool { return metricValue(tk.m.BrokerUp) == 0 })
	rs.Resume()
	waitFor(t, 10*time.Second, "broker back up", func() bool { return metricValue(tk.m.BrokerUp) == 1 })
	for i := range 10 {
		if err := publish(fmt.Sprint("after-", i)); err != nil {
			t.Fatal(err)
		}
	}
	rs.Restart()
	for i := range 10 {
		if err := publish(fmt.Sprint("restarted-", i)); err != nil {
			// The pool may hand out one connection that died with the old
			// process; the sender got an error frame and may retry.
			if err := publish(fmt.Sprint("restarted-", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, 15*time.Second, "every acknowledged message", func() bool {
		return countAcked(entries(tk.log, 0), acked) == len(acked)
	})
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
			t.Errorf("acknowledged %q delivered %d times", s, seen[s])
		}
	}
	// A fresh task after the restart loads the same history.
	again := startTask(t, ctx, tg, 1000)
	if got, want := len(entries(again.log, 0)), len(entries(tk.log, 0)); got != want {
		t.Errorf("a task started after the restart loaded %d entries, want %d", got, want)
	}
}

func countAcked(es []hub.Entry, acked []string) int {
	in := map[string]bool{}
	for _, e := range es {
		var f struct{ Message string }
		_ = json.Unmarshal(e.Frame(), &f)
		in[f.Message] = true
	}
	n := 0
	for _, s := range acked {
		if in[s] {
			n++
		}
	}
	return n
}

func TestEncodeStreamID(t *testing.T) {
	tests := []struct {
		id   string
		want uint64
		ok   bool
	}{
		{"0-0", 0, true},
		{"1-0", 1 << 20, true},
		{"1732812345678-5", 1732812345678<<20 | 5, true},
		{"1-1048576", 0, false},
		{"17592186044416-0", 0, false}, // 2^44 ms
		{"12", 0, false},
		{"a-b", 0, false},
	}
	for _, tt := range tests {
		got, err := broker.EncodeStreamID(tt.id)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("EncodeStreamID(%q) = %d, %v; want %d ok=%v", tt.id, got, err, tt.want, tt.ok)
		}
	}
	a, _ := broker.EncodeStreamID("1000-999")
	b, _ := broker.EncodeStreamID("1001-0")
	if a >= b {
		t.Error("encoding does not keep stream order")
	}
}

func FuzzEncodeStreamID(f *testing.F) {
	f.Add("1732812345678-5")
	f.Add("-")
	f.Fuzz(func(t *testing.T, id string) {
		off, err := broker.EncodeStreamID(id)
		if err != nil {
			return
		}
		if back := fmt.Sprintf("%d-%d", off>>20, off&(1<<20-1)); back != id {
			// Leading zeros or a plus sign parse to the same numbers.
			if o2, err := broker.EncodeStreamID(back); err != nil || o2 != off {
				t.Fatalf("%q encodes to %d, which decodes to %q", id, off, back)
			}
		}
	})
}
