package source

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// clock is a hand-driven time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_700_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// v4 returns the n-th IPv4 source.
func v4(n uint32) Key {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], n)
	return KeyOf(netip.AddrFrom4(b), 64)
}

// v6 returns a source in the n-th /64.
func v6(n uint64) Key {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], 0x2001_0db8_0000_0000|n)
	b[15] = 1
	return KeyOf(netip.AddrFrom16(b), 64)
}

func TestAdmitConnection(t *testing.T) {
	type step struct {
		advance time.Duration
		key     Key
		release int // release the n-th admitted connection (1-based) instead
		reason  Reason
		retry   time.Duration
	}
	a, b := v4(1), v6(1)
	tests := []struct {
		name   string
		limits Limits
		steps  []step
	}{
		{
			name:   "cap, other sources unaffected, release frees a place",
			limits: Limits{MaxConnections: 2, TableSize: 10},
			steps: []step{
				{key: a}, {key: a},
				{key: a, reason: ReasonConnections, retry: BusyRetry},
				{key: b}, {key: b},
				{release: 1},
				{release: 1}, // twice: counts once
				{key: a},
				{key: a, reason: ReasonConnections, retry: BusyRetry},
			},
		},
		{
			name:   "connect rate",
			limits: Limits{ConnectRate: 2, ConnectBurst: 3, TableSize: 10},
			steps: []step{
				{key: a}, {key: a}, {key: a},
				{key: a, reason: ReasonConnectRate, retry: 500 * time.Millisecond},
				{key: b},
				{advance: 250 * time.Millisecond, key: a, reason: ReasonConnectRate, retry: 250 * time.Millisecond},
				{advance: 250 * time.Millisecond, key: a},
				{key: a, reason: ReasonConnectRate, retry: 500 * time.Millisecond},
				{advance: time.Hour, key: a}, {key: a}, {key: a},
				{key: a, reason: ReasonConnectRate, retry: 500 * time.Millisecond},
			},
		},
		{
			name:   "a source at its cap spends no tokens",
			limits: Limits{MaxConnections: 1, ConnectRate: 1, ConnectBurst: 2, TableSize: 10},
			steps: []step{
				{key: a},
				{key: a, reason: ReasonConnections, retry: BusyRetry},
				{key: a, reason: ReasonConnections, retry: BusyRetry},
				{release: 1},
				{key: a},
			},
		},
		{
			name:   "all off",
			limits: Limits{TableSize: 1},
			steps:  []step{{key: a}, {key: a}, {key: b}, {key: a}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			l := NewLimiter(tc.limits, clk.Now)
			var held []func()
			for i, s := range tc.steps {
				clk.Advance(s.advance)
				if s.release > 0 {
					held[s.release-1]()
					continue
				}
				release, reason, retry := l.AdmitConnection(s.key)
				if reason != s.reason || retry != s.retry {
					t.Fatalf("step %d (%s): got %q, retry %v; want %q, retry %v", i, s.key, reason, retry, s.reason, s.retry)
				}
				if (release == nil) != (reason != "") {
					t.Fatalf("step %d: release %v with reason %q", i, release != nil, reason)
				}
				if release != nil {
					held = append(held, release)
				}
			}
		})
	}
}

func TestAdmitAPI(t *testing.T) {
	clk := newClock()
	l := NewLimiter(Limits{APIRate: 10, APIBurst: 5, ConnectRate: 1, ConnectBurst: 1, TableSize: 10}, clk.Now)
	a, b := v4(1), v4(2)
	for i := range 5 {
		if r, _ := l.AdmitAPI(a); r != "" {
			t.Fatalf("request %d refused: %s", i, r)
		}
	}
	if r, retry := l.AdmitAPI(a); r != ReasonAPIRate || retry != 100*time.Millisecond {
		t.Fatalf("6th request: %q, retry %v; want %q, 100ms", r, retry, ReasonAPIRate)
	}
	if r, _ := l.AdmitAPI(b); r != "" {
		t.Fatalf("another source refused: %s", r)
	}
	// The API and WebSocket buckets are apart.
	if _, r, _ := l.AdmitConnection(a); r != "" {
		t.Fatalf("a WebSocket refused for API requests: %s", r)
	}
	clk.Advance(100 * time.Millisecond)
	if r, _ := l.AdmitAPI(a); r != "" {
		t.Fatalf("refused after the refill: %s", r)
	}
	if off := NewLimiter(Limits{TableSize: 10}, clk.Now); off.Len() != 0 {
		t.Fatal("not empty")
	} else {
		for range 100 {
			if r, _ := off.AdmitAPI(a); r != "" {
				t.Fatalf("refused with the limit off: %s", r)
			}
		}
		if off.Len() != 0 {
			t.Fatalf("%d entries with every limit off", off.Len())
		}
	}
}

// A full table refuses new sources only when every entry holds open
// WebSockets; otherwise a new source takes the place of the least
// recently used idle one.
func TestTableFull(t *testing.T) {
	clk := newClock()
	l := NewLimiter(Limits{MaxConnections: 1, ConnectRate: 1, ConnectBurst: 1, APIRate: 1, APIBurst: 1, TableSize: 3}, clk.Now)
	var held []func()
	for n := range uint32(3) {
		release, r, _ := l.AdmitConnection(v4(n))
		if r != "" {
			t.Fatalf("source %d refused: %s", n, r)
		}
		held = append(held, release)
	}
	if _, r, retry := l.AdmitConnection(v4(99)); r != ReasonTableFull || retry != BusyRetry {
		t.Fatalf("new source with a full table: %q, %v", r, retry)
	}
	if r, _ := l.AdmitAPI(v4(99)); r != ReasonTableFull {
		t.Fatalf("new API source with a full table: %q", r)
	}
	if _, r, _ := l.AdmitConnection(v4(0)); r != ReasonConnections {
		t.Fatalf("tracked source: %q, want %q", r, ReasonConnections)
	}
	held[1]() // v4(1) idle: it may now make way
	if _, r, _ := l.AdmitConnection(v4(99)); r != "" {
		t.Fatalf("new source after a release: %q", r)
	}
	if l.Len() != 3 {
		t.Fatalf("%d entries, want 3", l.Len())
	}
	// v4(1) was dropped, bucket and all: it starts afresh, evicting
	// nothing but idle entries (there are none: it is refused).
	if _, r, _ := l.AdmitConnection(v4(1)); r != ReasonTableFull {
		t.Fatalf("dropped source: %q, want %q", r, ReasonTableFull)
	}
}

func TestEvictsLeastRecentlyUsedIdle(t *testing.T) {
	clk := newClock()
	l := NewLimiter(Limits{ConnectRate: 1, ConnectBurst: 1, TableSize: 3}, clk.Now)
	a, b, c, d := v4(1), v4(2), v4(3), v4(4)
	for _, k := range []Key{a, b, c} {
		if _, r, _ := l.AdmitConnection(k); r != "" { // each spends its only token
			t.Fatal(r)
		}
	}
	if _, r, _ := l.AdmitConnection(a); r != ReasonConnectRate { // a is now the most recent
		t.Fatal(r)
	}
	if _, r, _ := l.AdmitConnection(d); r != "" { // b, the least recent, makes way
		t.Fatal(r)
	}
	if _, r, _ := l.AdmitConnection(a); r != ReasonConnectRate {
		t.Fatalf("a: %q; its empty bucket was forgotten", r)
	}
	if _, r, _ := l.AdmitConnection(b); r != "" {
		t.Fatalf("b: %q; it was not the one evicted", r)
	}
	if l.Len() != 3 {
		t.Fatalf("%d entries, want 3", l.Len())
	}
}

// Idle entries go once their buckets have refilled, at the latest
// burst/rate after their last use, and not before; entries with open
// WebSockets stay.
func TestIdleEntriesExpire(t *testing.T) {
	clk := newClock()
	// Connect buckets refill in 20/10 = 2s, API buckets in 5/10 = 0.5s.
	l := NewLimiter(Limits{MaxConnections: 5, ConnectRate: 10, ConnectBurst: 20, APIRate: 10, APIBurst: 5, TableSize: 1000}, clk.Now)
	for n := range uint32(100) {
		release, r, _ := l.AdmitConnection(v4(n))
		if r != "" {
			t.Fatal(r)
		}
		if n != 0 {
			release()
		}
	}
	if got := l.Len(); got != 100 {
		t.Fatalf("%d entries, want 100", got)
	}
	clk.Advance(2*time.Second - time.Nanosecond)
	if n := l.Prune(); n != 0 {
		t.Fatalf("pruned %d entries before their buckets could have refilled", n)
	}
	clk.Advance(time.Nanosecond)
	if n := l.Prune(); n != 99 {
		t.Fatalf("pruned %d entries, want the 99 idle ones", n)
	}
	clk.Advance(time.Hour)
	if n := l.Prune(); n != 0 || l.Len() != 1 {
		t.Fatalf("pruned %d, %d left; the source with an open WebSocket must stay", n, l.Len())
	}

	// Without Prune, use sheds them too: each call drops up to two. An
	// entry is kept until the slower of the two buckets could have
	// refilled, here 2s, whichever it used.
	for n := range uint32(100) {
		if r, _ := l.AdmitAPI(v4(1000 + n)); r != "" {
			t.Fatal(r)
		}
	}
	clk.Advance(time.Second)
	for range 60 {
		l.AdmitAPI(v4(5000))
	}
	if got := l.Len(); got != 102 {
		t.Fatalf("%d entries 1s after use, want 102", got)
	}
	clk.Advance(time.Second)
	for range 60 {
		l.AdmitAPI(v4(5000))
	}
	if got := l.Len(); got != 2 {
		t.Fatalf("%d entries after use, want 2 (one held, one in use)", got)
	}
}

// An entry whose source has every limit but the cap off goes as soon as
// its last WebSocket closes: there is nothing else to remember.
func TestNoRatesNoIdleEntries(t *testing.T) {
	l := NewLimiter(Limits{MaxConnections: 2, TableSize: 10}, nil)
	release, _, _ := l.AdmitConnection(v4(1))
	if l.Len() != 1 {
		t.Fatalf("%d entries, want 1", l.Len())
	}
	release()
	if l.Len() != 0 {
		t.Fatalf("%d entries after the release, want 0", l.Len())
	}
}

// TestTableIsBounded floods the limiter from 1,000,000 distinct sources,
// half IPv4 addresses and half IPv6 /64s, at the default limits: the table
// stays within SOURCE_TABLE_SIZE entries and the heap within the bound
// the Limiter's doc comment states.
func TestTableIsBounded(t *testing.T) {
	const (
		tableSize = 100_000 // SOURCE_TABLE_SIZE's default
		sources   = 1_000_000
		// The doc comment's bound: 83 bytes an entry, and room for the
		// shards and the test's own garbage.
		maxPerEntry = 83
		slack       = 1 << 20
	)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	l := NewLimiter(Limits{MaxConnections: 100, ConnectRate: 20, ConnectBurst: 200, APIRate: 100, APIBurst: 200, TableSize: tableSize}, nil)
	peak := 0
	for n := range sources {
		k := v4(uint32(n))
		if n%2 == 1 {
			k = v6(uint64(n))
		}
		// Each source opens a WebSocket, closes it and calls the API once.
		release, r, _ := l.AdmitConnection(k)
		if r != "" {
			t.Fatalf("source %d refused: %s", n, r)
		}
		release()
		l.AdmitAPI(k)
		peak = max(peak, l.Len())
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(l)

	t.Logf("%d sources: at most %d entries; heap grew %.1f MiB, %d bytes per entry", sources, peak, float64(grown)/(1<<20), grown/int64(l.Len()))
	if peak > tableSize {
		t.Errorf("table held %d entries, over its size of %d", peak, tableSize)
	}
	if limit := int64(tableSize*maxPerEntry + slack); grown > limit {
		t.Errorf("heap grew by %d bytes, over the bound of %d", grown, limit)
	}

	// Every entry is held open now: new sources are refused, and the
	// table does not grow.
	var held []func()
	for n := range tableSize {
		release, r, _ := l.AdmitConnection(v4(uint32(sources + n)))
		if r == ReasonTableFull {
			break
		}
		if r != "" {
			t.Fatalf("refused: %s", r)
		}
		held = append(held, release)
	}
	refused := 0
	for n := range 10_000 {
		if _, r, _ := l.AdmitConnection(v6(uint64(sources + n))); r == ReasonTableFull {
			refused++
		}
	}
	if l.Len() > tableSize {
		t.Errorf("table grew to %d entries", l.Len())
	}
	if refused == 0 {
		t.Errorf("no new source refused with %d of %d entries holding WebSockets", len(held), tableSize)
	}
	t.Logf("holding %d sources, %d of 10000 new ones refused (%s)", len(held), refused, ReasonTableFull)
	for _, release := range held {
		release()
	}
}

// Many goroutines on overlapping sources: the counts come back to zero,
// and the race detector finds nothing.
func TestConcurrentAdmissions(t *testing.T) {
	const maxConns = 4
	l := NewLimiter(Limits{MaxConnections: maxConns, ConnectRate: 1e6, ConnectBurst: 1000, APIRate: 1e6, APIBurst: 1000, TableSize: 5000}, nil)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			var held []func()
			for i := range 5000 {
				k := v4(uint32((g*7 + i) % 3000))
				if i%3 == 0 {
					l.AdmitAPI(k)
					continue
				}
				if release, r, _ := l.AdmitConnection(k); r == "" {
					held = append(held, release)
				}
				if len(held) > 8 {
					held[0]()
					held = held[1:]
				}
			}
			for _, release := range held {
				release()
			}
		})
	}
	wg.Wait()
	if l.Len() > 5000 {
		t.Fatalf("%d entries, over the table size", l.Len())
	}
	for n := range uint32(3000) {
		for range maxConns {
			if _, r, _ := l.AdmitConnection(v4(n)); r != "" {
				t.Fatalf("source %d: %s; a connection was not released", n, r)
			}
		}
	}
}

func TestAdmitAPIDoesNotAllocate(t *testing.T) {
	l := NewLimiter(Limits{APIRate: 1e9, APIBurst: 1 << 20, TableSize: 1000}, nil)
	k := v6(7)
	l.AdmitAPI(k)
	if n := testing.AllocsPerRun(1000, func() { l.AdmitAPI(k) }); n != 0 {
		t.Fatalf("%.1f allocations per API request", n)
	}
}

func BenchmarkAdmitConnection(b *testing.B) {
	l := NewLimiter(Limits{MaxConnections: 100, ConnectRate: 1e9, ConnectBurst: 1 << 20, TableSize: 100_000}, nil)
	b.RunParallel(func(pb *testing.PB) {
		n := uint32(0)
		for pb.Next() {
			n++
			if release, _, _ := l.AdmitConnection(v4(n % 50_000)); release != nil {
				release()
			}
		}
	})
}

// TestAgainstModel drives one shard with random admissions and releases
// over more sources than it holds, checking every decision against a
// plain count per source and the table's own structure after every step.
func TestAgainstModel(t *testing.T) {
	const (
		size     = 48
		sources  = 200
		maxConns = 3
	)
	rng := rand.New(rand.NewPCG(1, 2))
	l := NewLimiter(Limits{MaxConnections: maxConns, ConnectRate: 1, ConnectBurst: 1 << 20, TableSize: size}, nil)
	conns := make(map[Key]int)
	held := make(map[Key][]func())
	live := 0 // sources with open WebSockets
	seen := make(map[Reason]int)
	for step := range 50_000 {
		k := v4(uint32(rng.IntN(sources)))
		if rng.IntN(5) < 3 && len(held[k]) > 0 {
			held[k][0]()
			held[k] = held[k][1:]
			if conns[k]--; conns[k] == 0 {
				live--
			}
		} else {
			release, r, _ := l.AdmitConnection(k)
			seen[r]++
			switch {
			case r == "" && conns[k] < maxConns:
				held[k] = append(held[k], release)
				if conns[k]++; conns[k] == 1 {
					live++
				}
			case r == ReasonConnections && conns[k] == maxConns:
			case r == ReasonTableFull && conns[k] == 0 && live == size:
			default:
				t.Fatalf("step %d: %s with %d open, %d live sources: %q", step, k, conns[k], live, r)
			}
		}
		checkShards(t, l)
	}
	for _, r := range []Reason{"", ReasonConnections, ReasonTableFull} {
		if seen[r] == 0 {
			t.Errorf("no admission ended with %q: the walk missed a case", r)
		}
	}
	t.Logf("outcomes: %v", seen)
}

// checkShards verifies every shard's index, slab and lists agree.
func checkShards(t *testing.T, l *Limiter) {
	t.Helper()
	total := 0
	for n := range l.shards {
		s := &l.shards[n]
		inIndex := make(map[int32]bool)
		for slot, v := range s.index {
			if v == 0 {
				continue
			}
			if got, i, ok := l.lookup(s, s.entries[v-1].key); !ok || got != slot || i != v-1 {
				t.Fatalf("shard %d: entry %d at slot %d is found at %d", n, v-1, slot, got)
			}
			inIndex[v-1] = true
		}
		if len(inIndex) != s.count || s.count > s.size {
			t.Fatalf("shard %d: %d entries indexed, count %d, size %d", n, len(inIndex), s.count, s.size)
		}
		idle, prev := 0, int32(none)
		for i := s.head; i != none; i = s.entries[i].next {
			if !inIndex[i] || s.entries[i].conns != 0 || s.entries[i].prev != prev {
				t.Fatalf("shard %d: idle list broken at entry %d", n, i)
			}
			prev = i
			idle++
		}
		if s.tail != prev {
			t.Fatalf("shard %d: tail %d, last idle entry %d", n, s.tail, prev)
		}
		busy := 0
		for i := range inIndex {
			if s.entries[i].conns > 0 {
				busy++
			}
		}
		if idle+busy != s.count {
			t.Fatalf("shard %d: %d idle + %d busy entries, %d indexed", n, idle, busy, s.count)
		}
		free := 0
		for i := s.free; i != none; i = s.entries[i].next {
			if inIndex[i] {
				t.Fatalf("shard %d: entry %d both free and indexed", n, i)
			}
			free++
		}
		if free+s.count != len(s.entries) {
			t.Fatalf("shard %d: %d free + %d indexed of %d entries", n, free, s.count, len(s.entries))
		}
		total += s.count
	}
	if total != l.Len() {
		t.Fatalf("Len %d, %d entries indexed", l.Len(), total)
	}
}
