package hub_test

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wsfargate/websocket-service/server/hub"
)

func TestLogRead(t *testing.T) {
	const floor = 1000
	l := hub.NewLog(4, floor)
	for i := range 6 { // offsets 1001..1006; the ring keeps 1003..1006
		if off := l.Append(json.RawMessage(fmt.Sprint(i))); off != floor+1+uint64(i) {
			t.Fatalf("append %d got offset %d", i, off)
		}
	}
	tests := []struct {
		name       string
		after      uint64
		cap        int
		want       []uint64
		wantBehind int
		wantRes    hub.ReadResult
	}{
		{"from the oldest lost one: nothing missing", 1002, 8, []uint64{1003, 1004, 1005, 1006}, 4, hub.Ready},
		{"batch bounded by capacity of dst", 1002, 2, []uint64{1003, 1004}, 4, hub.Ready},
		{"midway", 1004, 8, []uint64{1005, 1006}, 2, hub.Ready},
		{"caught up", 1006, 8, nil, 0, hub.Ready},
		{"an overwritten entry is missing", 1001, 8, nil, 0, hub.Gone},
		{"before this log began", 10, 8, nil, 0, hub.Gone},
		{"never issued", 1007, 8, nil, 0, hub.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, behind, res := l.Read(tt.after, make([]hub.Entry, 0, tt.cap))
			var offs []uint64
			for _, e := range got {
				offs = append(offs, e.Offset)
				want := fmt.Sprintf(`{"message":%d,"offset":"%d"}`, e.Offset-floor-1, e.Offset)
				if string(e.Frame()) != want {
					t.Errorf("frame %s, want %s", e.Frame(), want)
				}
			}
			if fmt.Sprint(offs) != fmt.Sprint(tt.want) || res != tt.wantRes || behind != tt.wantBehind {
				t.Fatalf("Read(%d) = %v behind %d res %v, want %v behind %d res %v", tt.after, offs, behind, res, tt.want, tt.wantBehind, tt.wantRes)
			}
		})
	}
}

// Read finds the first entry after any cursor, near the newest entry (where
// readers that keep up are) or deep in the ring, with offsets that have
// gaps between them.
func TestLogReadFindsEveryCursor(t *testing.T) {
	l := hub.NewLog(32, 0)
	var offsets []uint64
	for i := range 40 { // the ring keeps the last 32
		off := uint64(10 + 3*i)
		l.AppendAt(off, json.RawMessage(`{}`))
		offsets = append(offsets, off)
	}
	kept := offsets[len(offsets)-32:]
	for after := kept[0] - 1; after <= kept[len(kept)-1]; after++ {
		var want []uint64
		for _, off := range kept {
			if off > after && len(want) < 5 {
				want = append(want, off)
			}
		}
		behind := 0
		for _, off := range kept {
			if off > after {
				behind++
			}
		}
		got, gotBehind, res := l.Read(after, make([]hub.Entry, 0, 5))
		var offs []uint64
		for _, e := range got {
			offs = append(offs, e.Offset)
		}
		if res != hub.Ready || gotBehind != behind || fmt.Sprint(offs) != fmt.Sprint(want) {
			t.Fatalf("Read(%d) = %v behind %d res %v, want %v behind %d", after, offs, gotBehind, res, want, behind)
		}
	}
}

// A broker's offsets are increasing but not consecutive, and it may deliver
// an entry twice (after a reconnect): the log keeps each once.
func TestLogAppendAt(t *testing.T) {
	l := hub.NewLog(3, 0)
	for _, off := range []uint64{5, 9, 9, 7, 20, 21} {
		l.AppendAt(off, json.RawMessage(`{}`))
	}
	got, behind, res := l.Read(5, make([]hub.Entry, 0, 8))
	var offs []uint64
	for _, e := range got {
		offs = append(offs, e.Offset)
	}
	if fmt.Sprint(offs) != "[9 20 21]" || behind != 3 || res != hub.Ready {
		t.Fatalf("after 5: %v behind %d res %v, want [9 20 21]", offs, behind, res)
	}
	if _, _, res := l.Read(4, nil); res != hub.Gone {
		t.Fatalf("after 4 (5 was overwritten): %v, want Gone", res)
	}
	if got, _, _ := l.Read(15, make([]hub.Entry, 0, 8)); len(got) != 2 || got[0].Offset != 20 {
		t.Fatalf("after an offset between entries: %v, want 20 and 21", got)
	}
}

func TestParkedReadersWakeOnceOnTheNextEntry(t *testing.T) {
	l := hub.NewLog(8, 0)
	var woken sync.WaitGroup
	var wakes [50]atomic.Int32
	waiters := make([]*hub.Waiter, len(wakes))
	for i := range waiters {
		waiters[i] = hub.NewWaiter(func() { wakes[i].Add(1); woken.Done() })
		if !l.Park(l.Head(), waiters[i]) {
			t.Fatal("a caught-up reader could not park")
		}
	}
	// One leaves before anything arrives; it must not be woken.
	l.Unpark(waiters[7])
	if l.Parked() != len(waiters)-1 {
		t.Fatalf("%d parked, want %d", l.Parked(), len(waiters)-1)
	}
	woken.Add(len(waiters) - 1)
	l.Append(json.RawMessage(`{}`))
	woken.Wait()
	l.Append(json.RawMessage(`{}`)) // nobody is parked any more
	for i := range wakes {
		want := int32(1)
		if i == 7 {
			want = 0
		}
		if got := wakes[i].Load(); got != want {
			t.Errorf("waiter %d woken %d times, want %d", i, got, want)
		}
	}
	if l.Parked() != 0 {
		t.Errorf("%d still parked after the append", l.Parked())
	}
	if l.Park(0, waiters[0]) {
		t.Error("a reader behind the head parked instead of reading on")
	}
}

// Every reader sees the same frame bytes: a broadcast is encoded once.
func TestEntriesShareOneEncoding(t *testing.T) {
	l := hub.NewLog(4, 0)
	l.Append(json.RawMessage(`{"a":1}`))
	a, _, _ := l.Read(0, make([]hub.Entry, 0, 1))
	b, _, _ := l.Read(0, make([]hub.Entry, 0, 1))
	if &a[0].Frame()[0] != &b[0].Frame()[0] {
		t.Fatal("two readers got different copies of one broadcast")
	}
}

func BenchmarkAppend(b *testing.B) {
	l := hub.NewLog(1024, 1)
	msg := json.RawMessage(`{"type":"tick","price":101.25}`)
	b.ReportAllocs()
	for b.Loop() {
		l.Append(msg)
	}
}

// A log starts with a small ring and grows to its capacity only as entries
// come, so a quiet channel costs little; growing keeps every entry in order.
func TestRingGrowsToCapacity(t *testing.T) {
	l := hub.NewFrameLog(100)
	for i := range 250 {
		l.AppendFrame([]byte(strconv.Itoa(i)), "")
	}
	got, pending, res := l.Read(150, make([]hub.Entry, 0, 200))
	if res != hub.Ready || pending != 100 || len(got) != 100 {
		t.Fatalf("read after 150: %d entries, %d pending, result %v; want the last 100", len(got), pending, res)
	}
	for i, e := range got {
		if want := strconv.Itoa(150 + i); e.Offset != uint64(151+i) || string(e.Frame()) != want {
			t.Fatalf("entry %d: offset %d frame %q, want %d %q", i, e.Offset, e.Frame(), 151+i, want)
		}
	}
	if _, _, res := l.Read(149, nil); res != hub.Gone {
		t.Fatalf("read after 149: %v, want Gone: the ring holds 100", res)
	}
}

// Forget drops entries only when every reader is parked at the head.
func TestForget(t *testing.T) {
	l := hub.NewFrameLog(16)
	w1, w2 := hub.NewWaiter(func() {}), hub.NewWaiter(func() {})
	l.AppendFrame([]byte("a"), "")
	if !l.Park(l.Head(), w1) {
		t.Fatal("park")
	}
	if l.Forget(2) {
		t.Fatal("forgot with one of two readers not parked")
	}
	if _, pending, _ := l.Read(0, nil); pending != 1 {
		t.Fatalf("%d pending, want the entry kept", pending)
	}
	l.Park(l.Head(), w2)
	if !l.Forget(2) {
		t.Fatal("did not forget with both readers parked at the head")
	}
	if _, _, res := l.Read(0, nil); res != hub.Gone {
		t.Fatalf("read before the forgotten entry: %v, want Gone", res)
	}
	if _, pending, res := l.Read(l.Head(), nil); res != hub.Ready || pending != 0 {
		t.Fatalf("read at the head: %v, %d pending", res, pending)
	}
	l.AppendFrame([]byte("b"), "") // wakes both
	got, _, res := l.Read(1, make([]hub.Entry, 0, 4))
	if res != hub.Ready || len(got) != 1 || string(got[0].Frame()) != "b" {
		t.Fatalf("after forgetting, the next entry reads as %v %v", got, res)
	}
}

// Goroutines that append at the same moment are written to parked readers
// together when there are many readers: the first to append lets the
// others go before it wakes them, and each reader then reads all their
// entries at once (one system call for all of them in the transport)
// rather than one wake for each.
func TestConcurrentAppendsWakeReadersOnce(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one core, as in a one-vCPU task
	const appenders, readers = 20, 40
	l := hub.NewLog(64, 0)
	var wakes, entries atomic.Int64
	for range readers {
		var w *hub.Waiter
		var cursor uint64
		buf := make([]hub.Entry, 0, 64)
		w = hub.NewWaiter(func() {
			batch, _, _ := l.Read(cursor, buf[:0])
			wakes.Add(1)
			entries.Add(int64(len(batch)))
			cursor = batch[len(batch)-1].Offset
			l.Park(cursor, w)
		})
		l.Park(l.Head(), w)
	}
	start := make(chan struct{})
	var done sync.WaitGroup
	for range appenders {
		done.Add(1)
		go func() {
			defer done.Done()
			<-start
			l.Append(json.RawMessage(`{}`))
		}()
	}
	close(start)
	done.Wait()
	if got := entries.Load(); got != appenders*readers {
		t.Fatalf("the readers read %d entries, want %d", got, appenders*readers)
	}
	perReader := float64(wakes.Load()) / readers
	t.Logf("%d entries from %d appenders in %.1f wakes per reader", appenders, appenders, perReader)
	if perReader > appenders/2 {
		t.Errorf("%.1f wakes per reader for %d concurrent appends: the appends were not gathered", perReader, appenders)
	}
}
