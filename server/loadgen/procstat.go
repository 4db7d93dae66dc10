package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// The kernel fixes it at 100 on every architecture Go supports on Linux
// (`getconf CLK_TCK`); Go has no sysconf to ask.
const clockTicks = 100

// ProcSample is one reading of a process's memory and CPU time.
type ProcSample struct {
	At     time.Time `json:"at"`
	RSSKiB int64     `json:"rss_kib"`
	// CPUTime is UserCPU + SysCPU.
	CPUTime time.Duration `json:"cpu_ns"`
	// UserCPU and SysCPU are utime and stime: the time spent in the
	// process's own code and in the kernel on its behalf (system calls,
	// and on loopback much of the TCP stack of both ends). Results from
	// before they were recorded have neither.
	UserCPU time.Duration `json:"user_cpu_ns,omitempty"`
	SysCPU  time.Duration `json:"sys_cpu_ns,omitempty"`
}

// procReader reads /proc for one pid. root is /proc except in tests.
type procReader struct {
	root string
	pid  int
}

// sample reads VmRSS from status and utime+stime from stat.
func (p procReader) sample() (ProcSample, error) {
	dir := filepath.Join(p.root, strconv.Itoa(p.pid))
	rss, err := readVmRSS(filepath.Join(dir, "status"))
	if err != nil {
		return ProcSample{}, err
	}
	user, sys, err := readCPUTime(filepath.Join(dir, "stat"))
	if err != nil {
		return ProcSample{}, err
	}
	return ProcSample{At: time.Now(), RSSKiB: rss, CPUTime: user + sys, UserCPU: user, SysCPU: sys}, nil
}

func readVmRSS(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read server memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fields := strings.Fields(v) // "123456 kB"
			if len(fields) != 2 || fields[1] != "kB" {
				return 0, fmt.Errorf("%s: unexpected VmRSS line %q", path, line)
			}
			n, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: VmRSS: %w", path, err)
			}
			return n, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return 0, fmt.Errorf("%s: no VmRSS line (a kernel thread or a zombie?)", path)
}

// readCPUTime returns utime and stime, summed over the process's threads
// by the kernel.
func readCPUTime(path string) (user, sys time.Duration, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, fmt.Errorf("read server cpu time: %w", err)
	}
	// The command name (field 2) is in parentheses and may itself hold
	// spaces or parentheses, so count fields from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("%s: no ')' in %q", path, b)
	}
	fields := strings.Fields(string(b[i+1:]))
	// After the name: state(3) ... utime(14) stime(15), so indexes 11 and 12.
	if len(fields) < 13 {
		return 0, 0, fmt.Errorf("%s: %d fields after the name, want at least 13", path, len(fields))
	}
	var ticks [2]int64
	for j, s := range fields[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: cpu field %q: %w", path, s, err)
		}
		ticks[j] = n
	}
	return time.Duration(ticks[0]) * time.Second / clockTicks, time.Duration(ticks[1]) * time.Second / clockTicks, nil
}

// ServerUsage is what the server process used during the measured phase.
//
// Each CPU figure comes as a total and its user and system parts. The
// kernel splits a process's CPU time between user and system by sampling
// at the timer tick and scales both so that they add up to the exact
// total; once the process has used seconds of CPU the split is good to a
// percent or so.
type ServerUsage struct {
	PID    int        `json:"pid"`
	Before ProcSample `json:"before"`
	After  ProcSample `json:"after"`
	// RSSDeltaKiB is After.RSSKiB - Before.RSSKiB.
	RSSDeltaKiB int64 `json:"rss_delta_kib"`
	// CPUSeconds is the server's user+system CPU time between the samples.
	CPUSeconds float64 `json:"cpu_seconds"`
	// UserCPUSeconds and SysCPUSeconds are its user and system parts;
	// both zero in results from before they were recorded.
	UserCPUSeconds float64 `json:"cpu_user_seconds"`
	SysCPUSeconds  float64 `json:"cpu_sys_seconds"`
	// CPUPercent is CPUSeconds over the wall time between the samples.
	CPUPercent float64 `json:"cpu_percent"`
	// KiBPerConn is RSSDeltaKiB per connection held (hold).
	KiBPerConn float64 `json:"kib_per_conn,omitempty"`
	// CPUMicrosPerMsg is server CPU per delivered message (fanout, throughput).
	CPUMicrosPerMsg     float64 `json:"cpu_us_per_msg,omitempty"`
	CPUUserMicrosPerMsg float64 `json:"cpu_user_us_per_msg,omitempty"`
	CPUSysMicrosPerMsg  float64 `json:"cpu_sys_us_per_msg,omitempty"`
	// CPUMicrosPerOp is server CPU per presence join or leave
	// (pusher-presence).
	CPUMicrosPerOp     float64 `json:"cpu_us_per_op,omitempty"`
	CPUUserMicrosPerOp float64 `json:"cpu_user_us_per_op,omitempty"`
	CPUSysMicrosPerOp  float64 `json:"cpu_sys_us_per_op,omitempty"`
	// CPUMicrosPerEvent is CPU per channel event triggered (the Pusher
	// event modes; for a redis-server, per stream entry).
	CPUMicrosPerEvent     float64 `json:"cpu_us_per_event,omitempty"`
	CPUUserMicrosPerEvent float64 `json:"cpu_user_us_per_event,omitempty"`
	CPUSysMicrosPerEvent  float64 `json:"cpu_sys_us_per_event,omitempty"`
	// CPUMicrosPerConn is CPU per connection lifecycle: upgrade,
	// greeting, close handshake (churn).
	CPUMicrosPerConn     float64 `json:"cpu_us_per_conn,omitempty"`
	CPUUserMicrosPerConn float64 `json:"cpu_user_us_per_conn,omitempty"`
	CPUSysMicrosPerConn  float64 `json:"cpu_sys_us_per_conn,omitempty"`
}

func newServerUsage(pid int, before, after ProcSample) *ServerUsage {
	u := &ServerUsage{PID: pid, Before: before, After: after}
	u.RSSDeltaKiB = after.RSSKiB - before.RSSKiB
	cpu := after.CPUTime - before.CPUTime
	u.CPUSeconds = cpu.Seconds()
	u.UserCPUSeconds = (after.UserCPU - before.UserCPU).Seconds()
	u.SysCPUSeconds = (after.SysCPU - before.SysCPU).Seconds()
	if wall := after.At.Sub(before.At); wall > 0 {
		u.CPUPercent = 100 * cpu.Seconds() / wall.Seconds()
	}
	return u
}

// HasSplit reports whether the user and system parts were recorded: old
// results have a total only, which must not read as zero user and system.
func (u *ServerUsage) HasSplit() bool {
	return u.UserCPUSeconds != 0 || u.SysCPUSeconds != 0 || u.CPUSeconds == 0
}

// cpuPer spreads the CPU time over n units, in µs: total, user, system.
func (u *ServerUsage) cpuPer(n int64) (total, user, sys float64) {
	if n <= 0 {
		return 0, 0, 0
	}
	f := 1e6 / float64(n)
	return u.CPUSeconds * f, u.UserCPUSeconds * f, u.SysCPUSeconds * f
}

// perDelivery spreads the server's CPU time over the messages it delivered.
func (u *ServerUsage) perDelivery(delivered int64) {
	u.CPUMicrosPerMsg, u.CPUUserMicrosPerMsg, u.CPUSysMicrosPerMsg = u.cpuPer(delivered)
}

// perEvent spreads it over the channel events triggered.
func (u *ServerUsage) perEvent(events int64) {
	u.CPUMicrosPerEvent, u.CPUUserMicrosPerEvent, u.CPUSysMicrosPerEvent = u.cpuPer(events)
}

// perOp spreads it over the presence joins and leaves.
func (u *ServerUsage) perOp(ops int64) {
	u.CPUMicrosPerOp, u.CPUUserMicrosPerOp, u.CPUSysMicrosPerOp = u.cpuPer(ops)
}

// perConn spreads it over the connection lifecycles completed.
func (u *ServerUsage) perConn(conns int64) {
	u.CPUMicrosPerConn, u.CPUUserMicrosPerConn, u.CPUSysMicrosPerConn = u.cpuPer(conns)
}

// GeneratorUsage is the load generator's own CPU time during the measured
// phase. Near 100% of one core the generator, not the server, may be what
// limits the numbers.
type GeneratorUsage struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUPercent float64 `json:"cpu_percent"`
}

// selfMark is this process's CPU time at a moment.
type selfMark struct {
	at  time.Time
	cpu time.Duration
}

func markSelf() selfMark {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return selfMark{at: time.Now()}
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return selfMark{at: time.Now(), cpu: cpu}
}

func newGeneratorUsage(before, after selfMark) *GeneratorUsage {
	g := &GeneratorUsage{CPUSeconds: (after.cpu - before.cpu).Seconds()}
	if wall := after.at.Sub(before.at).Seconds(); wall > 0 {
		g.CPUPercent = 100 * g.CPUSeconds / wall
	}
	return g
}
