package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// An idle connection costs the host more than the server's RSS shows: the
// kernel's socket structs and any bytes queued in its buffers are kernel
// memory, charged to no process. The hold modes read the host's counters
// of both before the ramp and with every connection held.

// SockStat is one reading of /proc/net/sockstat: its "sockets:" line and
// its "TCP:" line. The counters are the host's, not a process's; "TCP:
// inuse" counts IPv4 sockets of the generator's network namespace, alloc
// and mem count TCP over both address families and every namespace.
type SockStat struct {
	// SocketsUsed is "sockets: used", every socket of every kind.
	SocketsUsed int64 `json:"sockets_used"`
	TCPInUse    int64 `json:"tcp_inuse"`
	TCPOrphan   int64 `json:"tcp_orphan"`
	TCPTimeWait int64 `json:"tcp_tw"`
	TCPAlloc    int64 `json:"tcp_alloc"`
	// TCPMemPages is the memory charged to TCP socket buffers, in pages.
	// It does not include the sockets' own structs (see SlabStat).
	TCPMemPages int64 `json:"tcp_mem_pages"`
}

// SlabStat is one cache of /proc/slabinfo: how many objects of ObjSize
// bytes are in use (ActiveObjs) and allocated (NumObjs).
type SlabStat struct {
	ActiveObjs int64 `json:"active_objs"`
	NumObjs    int64 `json:"num_objs"`
	ObjSize    int64 `json:"obj_size"`
}

// socketSlabs are the caches that grow by one object per TCP socket: the
// socket itself (struct tcp_sock, "TCP"; an IPv6 one is in "TCPv6", not
// read) and its inode (struct socket_alloc). The struct file, dentry and
// epoll entry of its descriptor are in caches shared with everything
// else and are left out.
var socketSlabs = []string{"TCP", "sock_inode_cache"}

// KernelSample is the host's socket counters at one moment; a part that
// could not be read is nil, and its error says why.
type KernelSample struct {
	At       time.Time           `json:"at"`
	Sockstat *SockStat           `json:"sockstat,omitempty"`
	Slabs    map[string]SlabStat `json:"slabs,omitempty"`

	sockErr, slabErr error
}

// KernelSockets is what the host kernel's sockets took between the start
// of a hold and the moment every connection was held. Its figures divide
// by the connections held; with the server on this host (BothEnds) they
// count both ends of each connection, the generator's sockets as well as
// the server's, so the server's share is about half: the Half fields.
type KernelSockets struct {
	Before   KernelSample `json:"before"`
	After    KernelSample `json:"after"`
	PageSize int          `json:"page_size"`
	// BothEnds is set when the server runs on this host (-pid, or a
	// loopback URL), so that its sockets and the generator's are both in
	// the host's counters.
	BothEnds bool `json:"both_ends"`
	// Note says what the figures count, for whoever reads the JSON alone.
	Note string `json:"note"`

	// SockstatError, when set, says why /proc/net/sockstat could not be
	// read; the figures from it are then absent.
	SockstatError    string  `json:"sockstat_error,omitempty"`
	SocketsUsedDelta int64   `json:"sockets_used_delta"`
	TCPInUseDelta    int64   `json:"tcp_inuse_delta"`
	TCPMemDeltaKiB   float64 `json:"tcp_mem_delta_kib"`
	TCPMemKiBPerConn float64 `json:"tcp_mem_kib_per_conn"`
	// TCPMemKiBPerConnHalf is TCPMemKiBPerConn / 2, the server's share,
	// when BothEnds; nil otherwise.
	TCPMemKiBPerConnHalf *float64 `json:"tcp_mem_kib_per_conn_half,omitempty"`

	// SlabError, when set, says why the socket slabs could not be read
	// (/proc/slabinfo needs root); the figures from them are then absent.
	SlabError string `json:"slab_error,omitempty"`
	// SlabDeltaKiB is the growth of the socketSlabs' objects in use times
	// their size: the kernel's per-socket structs.
	SlabDeltaKiB   float64 `json:"slab_delta_kib"`
	SlabKiBPerConn float64 `json:"slab_kib_per_conn"`
	// SlabKiBPerConnHalf is SlabKiBPerConn / 2 when BothEnds; nil
	// otherwise.
	SlabKiBPerConnHalf *float64 `json:"slab_kib_per_conn_half,omitempty"`
}

// HasSockstat and HasSlabs report whether the figures of each source were
// measured.
func (k *KernelSockets) HasSockstat() bool { return k.SockstatError == "" }
func (k *KernelSockets) HasSlabs() bool    { return k.SlabError == "" }

// readKernelSample reads /proc/net/sockstat and /proc/slabinfo under root
// (/proc except in tests). Failures are kept in the sample, not returned:
// these counters add to a hold's result and must not end it.
func readKernelSample(root string) KernelSample {
	s := KernelSample{At: time.Now()}
	if b, err := os.ReadFile(filepath.Join(root, "net", "sockstat")); err != nil {
		s.sockErr = fmt.Errorf("read kernel socket counters: %w", err)
	} else if st, err := parseSockstat(b); err != nil {
		s.sockErr = err
	} else {
		s.Sockstat = &st
	}
	if b, err := os.ReadFile(filepath.Join(root, "slabinfo")); err != nil {
		s.slabErr = fmt.Errorf("read kernel slabs: %w", err)
	} else if slabs, err := parseSlabinfo(b, socketSlabs); err != nil {
		s.slabErr = err
	} else {
		s.Slabs = slabs
	}
	return s
}

// parseSockstat reads the "sockets:" and "TCP:" lines of
// /proc/net/sockstat, e.g.
//
//	sockets: used 78
//	TCP: inuse 67 orphan 0 tw 13 alloc 67 mem 2
//
// Keys it does not know are skipped; a missing one is an error.
func parseSockstat(b []byte) (SockStat, error) {
	var st SockStat
	want := map[string]*int64{
		"sockets:used": &st.SocketsUsed,
		"TCP:inuse":    &st.TCPInUse,
		"TCP:orphan":   &st.TCPOrphan,
		"TCP:tw":       &st.TCPTimeWait,
		"TCP:alloc":    &st.TCPAlloc,
		"TCP:mem":      &st.TCPMemPages,
	}
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		proto := fields[0]
		if proto != "sockets:" && proto != "TCP:" {
			continue
		}
		// "name value" pairs after the protocol.
		if len(fields)%2 != 1 {
			return SockStat{}, fmt.Errorf("sockstat: line %q is not name value pairs", sc.Text())
		}
		for i := 1; i < len(fields); i += 2 {
			p, ok := want[proto+fields[i]]
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(fields[i+1], 10, 64)
			if err != nil {
				return SockStat{}, fmt.Errorf("sockstat: %s %s: %w", proto, fields[i], err)
			}
			*p = n
			seen++
		}
	}
	if err := sc.Err(); err != nil {
		return SockStat{}, fmt.Errorf("sockstat: %w", err)
	}
	if seen != len(want) {
		return SockStat{}, fmt.Errorf("sockstat: found %d of the %d counters of its sockets and TCP lines", seen, len(want))
	}
	return st, nil
}

// parseSlabinfo reads the caches names from /proc/slabinfo (format 2.x):
//
//	slabinfo - version: 2.1
//	# name <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables ...
//	TCP                  102    143   2368   13    8 : tunables    0    0    0 : slabdata ...
//
// A cache that is missing is an error: with slab merging the kernel may
// fold a cache into another of its size, and its count would be someone
// else's.
func parseSlabinfo(b []byte, names []string) (map[string]SlabStat, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	if !sc.Scan() {
		return nil, errors.New("slabinfo: empty")
	}
	if v, ok := strings.CutPrefix(sc.Text(), "slabinfo - version: "); !ok || !strings.HasPrefix(v, "2.") {
		return nil, fmt.Errorf("slabinfo: first line %q, want version 2.x", sc.Text())
	}
	out := make(map[string]SlabStat, len(names))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") || !slices.Contains(names, fields[0]) {
			continue
		}
		if len(fields) < 4 {
			return nil, fmt.Errorf("slabinfo: line %q has %d fields, want at least 4", sc.Text(), len(fields))
		}
		var v [3]int64
		for i := range v {
			n, err := strconv.ParseInt(fields[1+i], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("slabinfo: %s: %w", fields[0], err)
			}
			v[i] = n
		}
		out[fields[0]] = SlabStat{ActiveObjs: v[0], NumObjs: v[1], ObjSize: v[2]}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("slabinfo: %w", err)
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("slabinfo: no %s cache (merged into another?)", n)
		}
	}
	return out, nil
}

// newKernelSockets compares two samples over held connections. An error
// of either sample leaves the figures of its source out.
func newKernelSockets(before, after KernelSample, held int64, pageSize int, bothEnds bool) *KernelSockets {
	k := &KernelSockets{Before: before, After: after, PageSize: pageSize, BothEnds: bothEnds}
	if bothEnds {
		k.Note = "host-wide counters: the server runs on this host, so they count both ends of each connection " +
			"(the generator's sockets too) and the server's share is about half; other sockets on the host count too"
	} else {
		k.Note = "host-wide counters of the generator's host: the server is elsewhere, so they count the generator's sockets " +
			"(and any others on this host), not the server's"
	}
	per := func(v float64) float64 {
		if held <= 0 {
			return 0
		}
		return v / float64(held)
	}
	half := func(v float64) *float64 {
		if !bothEnds {
			return nil
		}
		h := v / 2
		return &h
	}

	if before.Sockstat == nil || after.Sockstat == nil {
		k.SockstatError = firstError(before.sockErr, after.sockErr)
	} else {
		b, a := before.Sockstat, after.Sockstat
		k.SocketsUsedDelta = a.SocketsUsed - b.SocketsUsed
		k.TCPInUseDelta = a.TCPInUse - b.TCPInUse
		k.TCPMemDeltaKiB = float64((a.TCPMemPages-b.TCPMemPages)*int64(pageSize)) / 1024
		k.TCPMemKiBPerConn = per(k.TCPMemDeltaKiB)
		k.TCPMemKiBPerConnHalf = half(k.TCPMemKiBPerConn)
	}

	if before.Slabs == nil || after.Slabs == nil {
		k.SlabError = firstError(before.slabErr, after.slabErr)
	} else {
		var grew int64
		for _, n := range socketSlabs {
			b, a := before.Slabs[n], after.Slabs[n]
			grew += a.ActiveObjs*a.ObjSize - b.ActiveObjs*b.ObjSize
		}
		k.SlabDeltaKiB = float64(grew) / 1024
		k.SlabKiBPerConn = per(k.SlabDeltaKiB)
		k.SlabKiBPerConnHalf = half(k.SlabKiBPerConn)
	}
	return k
}

// firstError is the text of the first error, for a sample that has no
// value; both samples of a run usually fail alike.
func firstError(errs ...error) string {
	for _, err := range errs {
		if err != nil {
			return err.Error()
		}
	}
	return "not sampled"
}

// serverOnThisHost reports whether the server's sockets are in this
// host's counters: its pid was given, so it runs here, or the URL names a
// loopback address.
func serverOnThisHost(cfg Config) bool {
	if cfg.PID > 0 {
		return true
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// kernelSample reads the host's socket counters for a hold.
func (r *runner) kernelSample() KernelSample {
	return readKernelSample(r.procRoot)
}

// kernelSockets sets res.Kernel from the hold's two samples.
func (r *runner) kernelSockets(res *Result, before, after KernelSample) {
	res.Kernel = newKernelSockets(before, after, res.Held, os.Getpagesize(), serverOnThisHost(r.cfg))
}
