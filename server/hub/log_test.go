package hub_test

import (
	"encoding/json"
	"fmt"
	"sync"
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
			got, behind, res, _ := l.Read(tt.after, make([]hub.Entry, 0, tt.cap))
			var offs []uint64
			for _, e := range got {
				offs = append(offs, e.Offset)
				want := fmt.Sprintf(`{"message":%d,"offset":"%d"}`, e.Offset-floor-1, e.Offset)
				if string(e.Frame) != want {
					t.Errorf("frame %s, want %s", e.Frame, want)
				}
			}
			if fmt.Sprint(offs) != fmt.Sprint(tt.want) || res != tt.wantRes || behind != tt.wantBehind {
				t.Fatalf("Read(%d) = %v behind %d res %v, want %v behind %d res %v", tt.after, offs, behind, res, tt.want, tt.wantBehind, tt.wantRes)
			}
		})
	}
}

// A broker's offsets are increasing but not consecutive, and it may deliver
// an entry twice (after a reconnect): the log keeps each once.
func TestLogAppendAt(t *testing.T) {
	l := hub.NewLog(3, 0)
	for _, off := range []uint64{5, 9, 9, 7, 20, 21} {
		l.AppendAt(off, json.RawMessage(`{}`))
	}
	got, behind, res, _ := l.Read(5, make([]hub.Entry, 0, 8))
	var offs []uint64
	for _, e := range got {
		offs = append(offs, e.Offset)
	}
	if fmt.Sprint(offs) != "[9 20 21]" || behind != 3 || res != hub.Ready {
		t.Fatalf("after 5: %v behind %d res %v, want [9 20 21]", offs, behind, res)
	}
	if _, _, res, _ := l.Read(4, nil); res != hub.Gone {
		t.Fatalf("after 4 (5 was overwritten): %v, want Gone", res)
	}
	if got, _, _, _ := l.Read(15, make([]hub.Entry, 0, 8)); len(got) != 2 || got[0].Offset != 20 {
		t.Fatalf("after an offset between entries: %v, want 20 and 21", got)
	}
}

func TestLogWakesEveryWaiter(t *testing.T) {
	l := hub.NewLog(8, 0)
	var wg sync.WaitGroup
	got := make([]uint64, 50)
	for i := range got {
		_, _, _, wait := l.Read(l.Head(), nil)
		if wait == nil {
			t.Fatal("caught-up reader got no wait channel")
		}
		wg.Go(func() {
			<-wait
			e, _, _, _ := l.Read(0, make([]hub.Entry, 0, 1))
			got[i] = e[0].Offset
		})
	}
	l.Append(json.RawMessage(`{}`))
	wg.Wait()
	for i, off := range got {
		if off != 1 {
			t.Fatalf("waiter %d read offset %d", i, off)
		}
	}
}

// Every reader sees the same frame bytes: a broadcast is encoded once.
func TestEntriesShareOneEncoding(t *testing.T) {
	l := hub.NewLog(4, 0)
	l.Append(json.RawMessage(`{"a":1}`))
	a, _, _, _ := l.Read(0, make([]hub.Entry, 0, 1))
	b, _, _, _ := l.Read(0, make([]hub.Entry, 0, 1))
	if &a[0].Frame[0] != &b[0].Frame[0] {
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
