package transport_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wsfargate/websocket-service/server/config"
)

func TestResume(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.HistorySize, c.SendQueue = 8, 4 })
	ctx := testContext(t, 10*time.Second)
	pub := dial(t, ctx, ts.URL)
	publish := func(n int) []string { // returns the offsets, in order
		var offs []string
		for i := range n {
			send(t, ctx, pub, fmt.Sprintf(`{"n":%d}`, i))
			offs = append(offs, readFrame(t, ctx, pub)["offset"].(string))
		}
		return offs
	}
	offs := publish(6)

	t.Run("missed messages replay in order, then live", func(t *testing.T) {
		c, hello := dialHello(t, ctx, ts.URL+"?since="+offs[2])
		if got := hello["replay"]; got != float64(len(offs)-3) {
			t.Fatalf("greeting replay = %v, want %d", got, len(offs)-3)
		}
		for _, want := range offs[3:] {
			if got := readFrame(t, ctx, c)["offset"]; got != want {
				t.Fatalf("replayed offset %v, want %s", got, want)
			}
		}
		live := publish(1)[0]
		if got := readFrame(t, ctx, c)["offset"]; got != live {
			t.Fatalf("after replay got offset %v, want the live %s", got, live)
		}
		offs = append(offs, live)
	})
	t.Run("up to date client gets only live messages", func(t *testing.T) {
		c := dial(t, ctx, ts.URL+"?since="+offs[len(offs)-1])
		live := publish(1)[0]
		if got := readFrame(t, ctx, c)["offset"]; got != live {
			t.Fatalf("got offset %v, want the live %s", got, live)
		}
	})

	before := testutil.ToFloat64(ts.Metrics.FailedRecoveries)
	first, _ := strconv.ParseUint(offs[0], 10, 64)
	tests := []struct{ name, since string }{
		{"offset older than history", offs[0]},                     // 8 more messages since overwrote it
		{"offset from an earlier process", strconv.Itoa(12345)},    // below this log's first offset
		{"offset never issued", strconv.FormatUint(first+1e6, 10)}, // beyond the head
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			publish(2) // push offs[0] out of an 8-entry history
			c, hello := dialHello(t, ctx, ts.URL+"?since="+tt.since)
			if _, ok := hello["replay"]; ok {
				t.Fatalf("greeting %v promises a replay the server cannot give", hello)
			}
			f := readFrame(t, ctx, c)
			e, _ := f["error"].(map[string]any)
			if e == nil || e["code"] != "recovery_failed" {
				t.Fatalf("got %v, want a recovery_failed error frame", f)
			}
			live := publish(1)[0]
			if got := readFrame(t, ctx, c)["offset"]; got != live {
				t.Fatalf("after recovery_failed got %v, want live offset %s", got, live)
			}
		})
	}
	if n := testutil.ToFloat64(ts.Metrics.FailedRecoveries) - before; n != float64(len(tests)) {
		t.Errorf("failed recoveries counted %v, want %d", n, len(tests))
	}
}

// Tasks follow one stream, some a moment behind others: a client moving to
// a task that has not yet reached its offset resumes from that offset once
// the task gets there, rather than from the task's older head.
func TestResumeAheadOfTheLog(t *testing.T) {
	ts := start(t, nil)
	ctx := testContext(t, 10*time.Second)
	head := ts.Log.Head()
	since := head + 10
	go func() {
		time.Sleep(200 * time.Millisecond)
		ts.Log.AppendAt(head+5, []byte(`"had it"`))
		ts.Log.AppendAt(since, []byte(`"had it too"`))
		ts.Log.AppendAt(since+3, []byte(`"new"`))
	}()
	c, hello := dialHello(t, ctx, ts.URL+"?since="+strconv.FormatUint(since, 10))
	if hello["replay"] == nil {
		t.Fatalf("greeting %v, want a resumed greeting", hello)
	}
	f := readFrame(t, ctx, c)
	if f["offset"] != strconv.FormatUint(since+3, 10) || f["message"] != "new" {
		t.Fatalf("first frame %v, want only the message after %d", f, since)
	}
}
