package source

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsfargate/websocket-service/server/config"
)

// Limits are the per-source limits. A zero MaxConnections, ConnectRate or
// APIRate turns that limit off.
type Limits struct {
	MaxConnections int     // open WebSockets per source
	ConnectRate    float64 // new WebSockets per second per source, sustained
	ConnectBurst   int     // new WebSockets per source at once
	APIRate        float64 // HTTP API requests per second per source, sustained
	APIBurst       int     // HTTP API requests per source at once
	TableSize      int     // most sources tracked at once
}

// LimitsOf returns the limits the settings ask for.
func LimitsOf(cfg *config.Config) Limits {
	return Limits{
		MaxConnections: cfg.SourceMaxConnections,
		ConnectRate:    cfg.SourceConnectRate,
		ConnectBurst:   cfg.SourceConnectBurst,
		APIRate:        cfg.SourceAPIRate,
		APIBurst:       cfg.SourceAPIBurst,
		TableSize:      cfg.SourceTableSize,
	}
}

// Reason says why a source was refused; it is also the label of the
// refusal's metric.
type Reason string

// The reasons for a refusal.
const (
	ReasonConnections Reason = "source_connections" // the source holds SOURCE_MAX_CONNECTIONS already
	ReasonConnectRate Reason = "source_rate"        // the source opens WebSockets faster than SOURCE_CONNECT_RATE
	ReasonAPIRate     Reason = "source_api_rate"    // the source calls the HTTP API faster than SOURCE_API_RATE
	ReasonTableFull   Reason = "source_table_full"  // a new source, and every tracked one holds connections
)

// BusyRetry is the Retry-After for refusals that no clock ends: a source's
// connection count drops, and the table frees up, only when connections
// close. It matches the server's answer when it is itself at capacity.
const BusyRetry = 5 * time.Second

// Limiter tracks each source's open WebSockets and two token buckets (new
// WebSockets, API requests) in a table of bounded size. It is safe for
// concurrent use: the table is split into shards, each under its own
// mutex, and nothing runs in the background.
//
// Memory. An entry is 72 bytes in its shard's slab (the key, the
// connection count, two buckets, the time it was last used and its place
// in the shard's idle list) and 4 bytes in each of the 1.33 to 2.67 slots
// per entry of the shard's index: at most 83 bytes, plus under 1 KiB per
// shard (at most 64); about 8 MiB at the default SOURCE_TABLE_SIZE of
// 100,000. TestTableIsBounded measures 83 to 84 bytes an entry, all told,
// under a flood from 1,000,000 sources. The table never holds more than
// Limits.TableSize entries, however many sources there are; slab and
// index never grow past what that many need, and neither holds a pointer,
// so the garbage collector never scans them.
//
// Expiry. An entry without open WebSockets carries no state once both its
// buckets have refilled, which they have done at the latest burst/rate
// seconds after its last use (SOURCE_CONNECT_BURST/SOURCE_CONNECT_RATE is
// 10 s by default): forgetting it then changes no decision. Each shard
// keeps such idle entries in the order of their last use, and every call
// drops the shard's oldest ones that have settled, so the table shrinks as
// it is used; Prune drops them all at once.
//
// When a shard is full, a new source takes the place of the shard's
// least recently used entry without open WebSockets, settled or not (that
// source's buckets start again full, the price of the bound). Entries with
// open WebSockets are never dropped: their count is what
// SOURCE_MAX_CONNECTIONS holds. If every entry of the shard has open
// WebSockets, the new source is refused with ReasonTableFull rather than
// the table grow.
type Limiter struct {
	limits  Limits
	now     func() time.Time
	epoch   time.Time
	settle  int64 // ns after its last use when an idle entry's buckets are full
	seed    [2]uint64
	shards  []shard
	mask    uint64
	entries atomic.Int64
}

// Shards have at least minShard entries, so that sources spread over them
// by hash fill them evenly, and there are at most maxShards: enough that
// requests on different sources rarely wait for one another.
const (
	minShard  = 1024
	maxShards = 64
)

// none marks the end of a list of entries.
const none = -1

// minIndex is the size a shard's index starts at; it doubles as the shard
// fills, up to the power of two that holds the shard's size at 3/4 full.
const minIndex = 16

type shard struct {
	mu sync.Mutex
	// index is an open-addressing hash table (linear probing) of entry
	// numbers plus one, 0 for an empty slot. A Go map would do, but where
	// sources come and go all the time its deleted slots make it grow to
	// twice the size it needs (measured: 140 to 160 rather than 80 bytes
	// an entry, all told), and it never shrinks; this table deletes
	// without leaving anything behind, and is never more than 3/4 full.
	index      []int32
	count      int      // entries in the table
	entries    []entry  // slab; freed slots are chained through next
	size       int      // most entries
	free       int32    // first free slot in entries
	head, tail int32    // idle list: entries without open WebSockets, least recently used first
	_          [64]byte // keeps neighbouring shards' mutexes off one cache line
}

type entry struct {
	key        Key
	conns      int32 // open WebSockets; the entry is on the idle list while 0
	prev, next int32
	seen       int64 // last use, ns since the limiter's epoch
	connect    bucket
	api        bucket
}

// bucket is a token bucket. Its rate and size are the limiter's, so an
// entry holds just the level and when it was last brought up to date.
type bucket struct {
	tokens float64
	last   int64 // ns since the limiter's epoch
}

// NewLimiter returns a limiter with limits l; now is its clock (time.Now
// when nil), which tests may drive by hand. Negative limits count as 0
// (off), a burst below 1 as 1 and a TableSize below 1 as 1.
func NewLimiter(l Limits, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	l.MaxConnections = max(l.MaxConnections, 0)
	l.ConnectRate = max(l.ConnectRate, 0)
	l.APIRate = max(l.APIRate, 0)
	l.ConnectBurst = max(l.ConnectBurst, 1)
	l.APIBurst = max(l.APIBurst, 1)
	l.TableSize = max(l.TableSize, 1)
	n := 1
	for n < maxShards && l.TableSize/(2*n) >= minShard {
		n *= 2
	}
	lim := &Limiter{
		limits: l,
		now:    now,
		epoch:  now(),
		settle: max(refill(l.ConnectRate, l.ConnectBurst), refill(l.APIRate, l.APIBurst)),
		// The seed keeps a client from choosing addresses that all land
		// in one shard.
		seed:   [2]uint64{rand.Uint64(), rand.Uint64()},
		shards: make([]shard, n),
		mask:   uint64(n - 1),
	}
	for i := range lim.shards {
		s := &lim.shards[i]
		s.size = l.TableSize / n
		if i < l.TableSize%n {
			s.size++
		}
		s.index = make([]int32, minIndex)
		s.free, s.head, s.tail = none, none, none
	}
	return lim
}

// refill is how long an empty bucket takes to fill, in ns; 0 when off.
func refill(rate float64, burst int) int64 {
	if rate == 0 {
		return 0
	}
	return int64(min(math.Ceil(float64(burst)/rate*1e9), 1e18))
}

// Limits returns the limits in force.
func (l *Limiter) Limits() Limits { return l.limits }

// AdmitConnection takes a WebSocket for source k, or says why not and when
// to try again. Once admitted, the WebSocket counts against the source's
// SOURCE_MAX_CONNECTIONS until release is called; release may be called
// more than once. release is nil when the connection is refused.
func (l *Limiter) AdmitConnection(k Key) (release func(), reason Reason, retryAfter time.Duration) {
	lim := l.limits
	if lim.MaxConnections == 0 && lim.ConnectRate == 0 {
		return func() {}, "", 0
	}
	s := l.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := l.clock()
	i, ok := l.find(s, k, now)
	if !ok {
		return nil, ReasonTableFull, BusyRetry
	}
	e := &s.entries[i]
	s.touch(i, now)
	if lim.MaxConnections > 0 && int(e.conns) >= lim.MaxConnections {
		// Checked before the bucket, so a source at its cap does not also
		// spend its tokens on attempts that could not succeed.
		return nil, ReasonConnections, BusyRetry
	}
	if lim.ConnectRate > 0 {
		if wait := e.connect.take(now, lim.ConnectRate, lim.ConnectBurst); wait > 0 {
			return nil, ReasonConnectRate, wait
		}
	}
	if lim.MaxConnections == 0 {
		return func() {}, "", 0
	}
	if e.conns == 0 {
		s.unlink(i)
	}
	e.conns++
	t := &ticket{l: l, key: k}
	return t.release, "", 0
}

// AdmitAPI takes one HTTP API request for source k, or says why not and
// when to try again.
func (l *Limiter) AdmitAPI(k Key) (reason Reason, retryAfter time.Duration) {
	if l.limits.APIRate == 0 {
		return "", 0
	}
	s := l.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := l.clock()
	i, ok := l.find(s, k, now)
	if !ok {
		return ReasonTableFull, BusyRetry
	}
	s.touch(i, now)
	if wait := s.entries[i].api.take(now, l.limits.APIRate, l.limits.APIBurst); wait > 0 {
		return ReasonAPIRate, wait
	}
	return "", 0
}

// Len returns the number of sources tracked.
func (l *Limiter) Len() int { return int(l.entries.Load()) }

// Prune drops every entry that carries no state any more and returns how
// many it dropped. The limiter does this bit by bit as it is used; Prune
// is for a caller that wants the memory back at once, e.g. from a
// periodic sweep.
func (l *Limiter) Prune() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += l.expire(s, l.clock(), -1)
		s.mu.Unlock()
	}
	return n
}

// ticket is one admitted WebSocket.
type ticket struct {
	l    *Limiter
	key  Key
	done atomic.Bool
}

func (t *ticket) release() {
	if !t.done.Swap(true) {
		t.l.release(t.key)
	}
}

func (l *Limiter) release(k Key) {
	s := l.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, i, ok := l.lookup(s, k)
	if !ok || s.entries[i].conns == 0 {
		return // cannot happen: an entry with open WebSockets is never dropped
	}
	e := &s.entries[i]
	e.conns--
	if e.conns == 0 {
		now := l.clock()
		e.seen = now
		s.link(i)
		l.expire(s, now, 2)
	}
}

func (l *Limiter) clock() int64 { return int64(l.now().Sub(l.epoch)) }

// hash picks k's shard with its low bits and k's place in the shard's
// index with the bits above (shifted by hashShift).
func (l *Limiter) hash(k Key) uint64 {
	h := binary.BigEndian.Uint64(k.addr[8:]) ^ l.seed[0] ^ (binary.BigEndian.Uint64(k.addr[:8])^l.seed[1])*0x9e3779b97f4a7c15 ^ uint64(k.bits)
	// MurmurHash3's finalizer: every bit of the key moves every bit of h.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// hashShift skips the bits that choose the shard (at most 64 shards).
const hashShift = 8

func (l *Limiter) shard(k Key) *shard { return &l.shards[l.hash(k)&l.mask] }

// find returns the slot of k's entry in s, making one if k is new. It
// first drops up to two of the shard's settled entries, so that the table
// sheds what it no longer needs as it is used. ok is false when k is new
// and every entry of the full shard holds open WebSockets.
func (l *Limiter) find(s *shard, k Key, now int64) (i int32, ok bool) {
	l.expire(s, now, 2)
	slot, i, ok := l.lookup(s, k)
	if ok {
		return i, true
	}
	if s.count >= s.size {
		if s.head == none {
			return none, false
		}
		l.drop(s, s.head)
		slot, _, _ = l.lookup(s, k) // the drop may have moved k's place
	}
	i = s.alloc()
	s.entries[i] = entry{
		key:     k,
		seen:    now,
		connect: bucket{tokens: float64(l.limits.ConnectBurst), last: now},
		api:     bucket{tokens: float64(l.limits.APIBurst), last: now},
	}
	l.insert(s, slot, i)
	s.link(i)
	l.entries.Add(1)
	return i, true
}

// expire drops up to n (all, if n < 0) of the least recently used idle
// entries whose buckets have refilled since. The idle list is in order of
// last use, so the first entry that has not settled ends the search.
func (l *Limiter) expire(s *shard, now int64, n int) int {
	dropped := 0
	for ; n != 0 && s.head != none && now-s.entries[s.head].seen >= l.settle; n-- {
		l.drop(s, s.head)
		dropped++
	}
	return dropped
}

func (l *Limiter) drop(s *shard, i int32) {
	s.unlink(i)
	slot, _, _ := l.lookup(s, s.entries[i].key)
	l.remove(s, slot)
	s.entries[i] = entry{next: s.free}
	s.free = i
	l.entries.Add(-1)
}

// lookup finds k in s's index: the entry and its slot, or, when k is not
// there, the empty slot where it would go. The index always has an empty
// slot, so the probe ends.
func (l *Limiter) lookup(s *shard, k Key) (slot int, i int32, ok bool) {
	mask := len(s.index) - 1
	for p := int(l.hash(k)>>hashShift) & mask; ; p = (p + 1) & mask {
		v := s.index[p]
		if v == 0 {
			return p, none, false
		}
		if s.entries[v-1].key == k {
			return p, v - 1, true
		}
	}
}

// insert puts entry i in the empty slot that lookup returned, doubling the
// index first if that would fill it past 3/4.
func (l *Limiter) insert(s *shard, slot int, i int32) {
	if (s.count+1)*4 > len(s.index)*3 {
		old := s.index
		s.index = make([]int32, 2*len(old))
		mask := len(s.index) - 1
		for _, v := range old {
			if v == 0 {
				continue
			}
			p := int(l.hash(s.entries[v-1].key)>>hashShift) & mask
			for s.index[p] != 0 {
				p = (p + 1) & mask
			}
			s.index[p] = v
		}
		slot, _, _ = l.lookup(s, s.entries[i].key)
	}
	s.index[slot] = i + 1
	s.count++
}

// remove empties a slot of the index, moving back the entries after it
// that could not have their own place because it was taken, so that no
// probe stops short of them (Knuth's algorithm R: no tombstones).
func (l *Limiter) remove(s *shard, slot int) {
	mask := len(s.index) - 1
	s.count--
	for {
		s.index[slot] = 0
		q := slot
		for {
			q = (q + 1) & mask
			v := s.index[q]
			if v == 0 {
				return
			}
			home := int(l.hash(s.entries[v-1].key)>>hashShift) & mask
			// The entry at q stays if its home lies cyclically in
			// (slot, q]: a probe for it never passes the empty slot.
			if (slot < q && slot < home && home <= q) || (slot > q && (slot < home || home <= q)) {
				continue
			}
			s.index[slot] = v
			slot = q
			break
		}
	}
}

// alloc returns a free entry, growing the slab by doubling but never past
// the shard's size.
func (s *shard) alloc() int32 {
	if s.free != none {
		i := s.free
		s.free = s.entries[i].next
		return i
	}
	if len(s.entries) == cap(s.entries) {
		grown := make([]entry, len(s.entries), min(max(2*cap(s.entries), 16), s.size))
		copy(grown, s.entries)
		s.entries = grown
	}
	s.entries = append(s.entries, entry{})
	return int32(len(s.entries) - 1)
}

// touch records a use of entry i: it moves to the end of the idle list, if
// it is on it.
func (s *shard) touch(i int32, now int64) {
	if s.entries[i].conns == 0 {
		s.unlink(i)
		s.link(i)
	}
	s.entries[i].seen = now
}

// link appends entry i to the idle list.
func (s *shard) link(i int32) {
	e := &s.entries[i]
	e.prev, e.next = s.tail, none
	if s.tail == none {
		s.head = i
	} else {
		s.entries[s.tail].next = i
	}
	s.tail = i
}

// unlink takes entry i off the idle list.
func (s *shard) unlink(i int32) {
	e := &s.entries[i]
	if e.prev == none {
		s.head = e.next
	} else {
		s.entries[e.prev].next = e.next
	}
	if e.next == none {
		s.tail = e.prev
	} else {
		s.entries[e.next].prev = e.prev
	}
	e.prev, e.next = none, none
}

// take spends one token, refilling first for the time gone by; when the
// bucket is empty it returns how long until a token is there, and spends
// nothing.
func (b *bucket) take(now int64, rate float64, burst int) time.Duration {
	if d := now - b.last; d > 0 {
		b.tokens = min(float64(burst), b.tokens+float64(d)*rate/1e9)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration(max(min(math.Ceil((1-b.tokens)/rate*1e9), 1e18), 1))
}
