package loadgen

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sockstatSample = `sockets: used 78
TCP: inuse 67 orphan 1 tw 13478 alloc 69 mem 5
UDP: inuse 0 mem 0
UDPLITE: inuse 0
RAW: inuse 0
FRAG: inuse 0 memory 0
`

func TestParseSockstat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    SockStat
		wantErr string
	}{
		{"linux 6", sockstatSample, SockStat{SocketsUsed: 78, TCPInUse: 67, TCPOrphan: 1, TCPTimeWait: 13478, TCPAlloc: 69, TCPMemPages: 5}, ""},
		{"a counter the parser does not know", "sockets: used 3\nTCP: inuse 2 orphan 0 tw 0 alloc 2 mem 1 future 9\n",
			SockStat{SocketsUsed: 3, TCPInUse: 2, TCPAlloc: 2, TCPMemPages: 1}, ""},
		{"lines in another order", "TCP: inuse 2 orphan 0 tw 0 alloc 2 mem 1\nsockets: used 3\n",
			SockStat{SocketsUsed: 3, TCPInUse: 2, TCPAlloc: 2, TCPMemPages: 1}, ""},
		{"no TCP line", "sockets: used 3\nUDP: inuse 0 mem 0\n", SockStat{}, "found 1 of the 6"},
		{"no mem", "sockets: used 3\nTCP: inuse 2 orphan 0 tw 0 alloc 2\n", SockStat{}, "found 5 of the 6"},
		{"odd pairs", "sockets: used 3\nTCP: inuse 2 orphan\n", SockStat{}, "not name value pairs"},
		{"not a number", "sockets: used 3\nTCP: inuse 2 orphan 0 tw 0 alloc 2 mem lots\n", SockStat{}, "TCP: mem"},
		{"empty", "", SockStat{}, "found 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSockstat([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

const slabinfoSample = `slabinfo - version: 2.1
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
TCPv6                 26     26   2496   13    8 : tunables    0    0    0 : slabdata      2      2      0
request_sock_TCP     120    180    320   12    1 : tunables    0    0    0 : slabdata     15     15      0
TCP                  102    143   2368   13    8 : tunables    0    0    0 : slabdata     11     11      0
sock_inode_cache     206    247    832   19    4 : tunables    0    0    0 : slabdata     13     13      0
tw_sock_TCP        13376  13376    256   16    1 : tunables    0    0    0 : slabdata    836    836      0
`

func TestParseSlabinfo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]SlabStat
		wantErr string
	}{
		{"linux 6", slabinfoSample, map[string]SlabStat{
			"TCP":              {ActiveObjs: 102, NumObjs: 143, ObjSize: 2368},
			"sock_inode_cache": {ActiveObjs: 206, NumObjs: 247, ObjSize: 832},
		}, ""},
		{"a cache merged away", strings.Replace(slabinfoSample, "sock_inode_cache", "other_cache", 1), nil, "no sock_inode_cache cache"},
		{"another version", strings.Replace(slabinfoSample, "version: 2.1", "version: 1.1", 1), nil, "want version 2.x"},
		{"not slabinfo", "hello\n", nil, "want version 2.x"},
		{"empty", "", nil, "empty"},
		{"short line", "slabinfo - version: 2.1\nTCP 1 2\n", nil, "want at least 4"},
		{"not a number", "slabinfo - version: 2.1\nTCP 1 2 big 13 8\nsock_inode_cache 1 1 832 19 4\n", nil, "slabinfo: TCP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSlabinfo([]byte(tt.in), socketSlabs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s: got %+v, want %+v", k, got[k], v)
				}
			}
		})
	}
}

func TestNewKernelSockets(t *testing.T) {
	sample := func(used, inuse, memPages, tcpObjs, inodeObjs int64) KernelSample {
		return KernelSample{
			Sockstat: &SockStat{SocketsUsed: used, TCPInUse: inuse, TCPAlloc: inuse, TCPMemPages: memPages},
			Slabs: map[string]SlabStat{
				"TCP":              {ActiveObjs: tcpObjs, NumObjs: tcpObjs, ObjSize: 2048},
				"sock_inode_cache": {ActiveObjs: inodeObjs, NumObjs: inodeObjs, ObjSize: 1024},
			},
		}
	}
	// 1,000 connections held over loopback: 2,000 sockets more, 100
	// pages (400 KiB) of buffers, 2,000 TCP and inode objects (6,000 KiB).
	before := sample(100, 60, 10, 100, 200)
	after := sample(2100, 2060, 110, 2100, 2200)
	noSockstat := KernelSample{Slabs: after.Slabs, sockErr: errors.New("read kernel socket counters: no such file")}
	noSlabs := KernelSample{Sockstat: before.Sockstat, slabErr: errors.New("read kernel slabs: permission denied")}

	tests := []struct {
		name          string
		before, after KernelSample
		bothEnds      bool
		want          KernelSockets // the figures only
	}{
		{"loopback", before, after, true, KernelSockets{
			SocketsUsedDelta: 2000, TCPInUseDelta: 2000,
			TCPMemDeltaKiB: 400, TCPMemKiBPerConn: 0.4, TCPMemKiBPerConnHalf: f64(0.2),
			SlabDeltaKiB: 6000, SlabKiBPerConn: 6, SlabKiBPerConnHalf: f64(3),
		}},
		{"server elsewhere: no half", before, after, false, KernelSockets{
			SocketsUsedDelta: 2000, TCPInUseDelta: 2000,
			TCPMemDeltaKiB: 400, TCPMemKiBPerConn: 0.4,
			SlabDeltaKiB: 6000, SlabKiBPerConn: 6,
		}},
		{"buffers freed elsewhere on the host meanwhile", before, sample(2100, 2060, 5, 2100, 2200), true, KernelSockets{
			SocketsUsedDelta: 2000, TCPInUseDelta: 2000,
			TCPMemDeltaKiB: -20, TCPMemKiBPerConn: -0.02, TCPMemKiBPerConnHalf: f64(-0.01),
			SlabDeltaKiB: 6000, SlabKiBPerConn: 6, SlabKiBPerConnHalf: f64(3),
		}},
		{"sockstat unreadable", before, noSockstat, true, KernelSockets{
			SockstatError: "read kernel socket counters: no such file",
			SlabDeltaKiB:  6000, SlabKiBPerConn: 6, SlabKiBPerConnHalf: f64(3),
		}},
		{"slabinfo unreadable", noSlabs, after, true, KernelSockets{
			SocketsUsedDelta: 2000, TCPInUseDelta: 2000,
			TCPMemDeltaKiB: 400, TCPMemKiBPerConn: 0.4, TCPMemKiBPerConnHalf: f64(0.2),
			SlabError: "read kernel slabs: permission denied",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKernelSockets(tt.before, tt.after, 1000, 4096, tt.bothEnds)
			if got, want := kernelFigures(k), kernelFigures(&tt.want); got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			if k.HasSockstat() != (tt.want.SockstatError == "") || k.HasSlabs() != (tt.want.SlabError == "") {
				t.Errorf("HasSockstat %v HasSlabs %v", k.HasSockstat(), k.HasSlabs())
			}
			if tt.bothEnds != strings.Contains(k.Note, "both ends") {
				t.Errorf("note %q does not say whether it counts both ends", k.Note)
			}
		})
	}
}

// kernelFigures is what newKernelSockets computes, comparable.
func kernelFigures(k *KernelSockets) [10]any {
	return [10]any{k.SockstatError, k.SocketsUsedDelta, k.TCPInUseDelta, k.TCPMemDeltaKiB, k.TCPMemKiBPerConn, opt(k.TCPMemKiBPerConnHalf),
		k.SlabError, k.SlabDeltaKiB, k.SlabKiBPerConn, opt(k.SlabKiBPerConnHalf)}
}

func f64(v float64) *float64 { return &v }

// opt is *p, or nil.
func opt(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestReadKernelSample(t *testing.T) {
	tests := []struct {
		name                  string
		files                 map[string]string
		wantSockErr, wantSlab string // "" for no error
	}{
		{"both", map[string]string{"net/sockstat": sockstatSample, "slabinfo": slabinfoSample}, "", ""},
		{"no sockstat", map[string]string{"slabinfo": slabinfoSample}, "read kernel socket counters", ""},
		{"no slabinfo", map[string]string{"net/sockstat": sockstatSample}, "", "read kernel slabs"},
		{"garbled sockstat", map[string]string{"net/sockstat": "sockets: used 1\n", "slabinfo": slabinfoSample}, "found 1 of the 6", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for name, body := range tt.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s := readKernelSample(root)
			check := func(what string, err error, has bool, want string) {
				switch {
				case want == "" && (err != nil || !has):
					t.Errorf("%s: %v, want a reading", what, err)
				case want != "" && (err == nil || has || !strings.Contains(err.Error(), want)):
					t.Errorf("%s: err %v (reading %v), want none and %q", what, err, has, want)
				}
			}
			check("sockstat", s.sockErr, s.Sockstat != nil, tt.wantSockErr)
			check("slabinfo", s.slabErr, s.Slabs != nil, tt.wantSlab)
		})
	}
}

func TestReadKernelSampleOfThisHost(t *testing.T) {
	s := readKernelSample("/proc")
	if s.sockErr != nil {
		t.Fatalf("this host's /proc/net/sockstat: %v", s.sockErr)
	}
	if s.Sockstat.SocketsUsed <= 0 {
		t.Errorf("sockstat %+v: no sockets in use, implausible", s.Sockstat)
	}
	// /proc/slabinfo needs root, and a kernel may merge caches: a failure
	// is allowed, and must say why.
	if s.slabErr == nil && s.Slabs["TCP"].ObjSize < 1024 {
		t.Errorf("TCP slab %+v: a tcp_sock is larger than 1 KiB", s.Slabs["TCP"])
	}
}

func TestServerOnThisHost(t *testing.T) {
	tests := []struct {
		url  string
		pid  int
		want bool
	}{
		{"ws://127.0.0.1:8080/wss", 0, true},
		{"ws://127.3.4.5:8080/wss", 0, true},
		{"ws://[::1]:8080/wss", 0, true},
		{"ws://localhost:8080/wss", 0, true},
		{"wss://d111111abcdef8.cloudfront.net/wss", 0, false},
		{"ws://10.0.0.5:8080/wss", 0, false},
		{"ws://10.0.0.5:8080/wss", 4242, true}, // -pid: the server runs here
	}
	for _, tt := range tests {
		if got := serverOnThisHost(Config{URL: tt.url, PID: tt.pid}); got != tt.want {
			t.Errorf("%s with pid %d: %v, want %v", tt.url, tt.pid, got, tt.want)
		}
	}
}
