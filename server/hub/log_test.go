package hub_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/wsfargate/websocket-service/server/hub"
)

func TestLogRead(t *testing.T) {
	const start = 1000
	l := hub.NewLog(4, start)
	for i := range 6 { // offsets 1000..1005; the ring keeps 1002..1005
		if off := l.Append(json.RawMessage(fmt.Sprint(i))); off != start+uint64(i) {
			t.Fatalf("append %d got offset %d", i, off)
		}
	}
	tests := []struct {
		name       string
		from       uint64
		cap        int
		want       []uint64
		wantBehind uint64
		wantRes    hub.ReadResult
	}{
		{"oldest kept", 1002, 8, []uint64{1002, 1003, 1004, 1005}, 4, hub.Ready},
		{"batch bounded by capacity of dst", 1002, 2, []uint64{1002, 1003}, 4, hub.Ready},
		{"caught up", 1006, 8, nil, 0, hub.Ready},
		{"overwritten", 1001, 8, nil, 5, hub.Gone},
		{"before this log began", 10, 8, nil, 996, hub.Gone},
		{"never issued", 1007, 8, nil, 0, hub.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, behind, res, _ := l.Read(tt.from, make([]hub.Entry, 0, tt.cap))
			var offs []uint64
			for _, e := range got {
				offs = append(offs, e.Offset)
				want := fmt.Sprintf(`{"message":%d,"offset":"%d"}`, e.Offset-start, e.Offset)
				if string(e.Frame) != want {
					t.Errorf("frame %s, want %s", e.Frame, want)
				}
			}
			if fmt.Sprint(offs) != fmt.Sprint(tt.want) || res != tt.wantRes || (res != hub.Unknown && behind != tt.wantBehind) {
				t.Fatalf("Read(%d) = %v behind %d res %v, want %v behind %d res %v", tt.from, offs, behind, res, tt.want, tt.wantBehind, tt.wantRes)
			}
		})
	}
}

func TestLogWakesEveryWaiter(t *testing.T) {
	l := hub.NewLog(8, 1)
	var wg sync.WaitGroup
	got := make([]uint64, 50)
	for i := range got {
		_, _, _, wait := l.Read(l.Head(), nil)
		if wait == nil {
			t.Fatal("caught-up reader got no wait channel")
		}
		wg.Go(func() {
			<-wait
			e, _, _, _ := l.Read(1, make([]hub.Entry, 0, 1))
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
	l := hub.NewLog(4, 1)
	l.Append(json.RawMessage(`{"a":1}`))
	a, _, _, _ := l.Read(1, make([]hub.Entry, 0, 1))
	b, _, _, _ := l.Read(1, make([]hub.Entry, 0, 1))
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
