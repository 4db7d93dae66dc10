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
	At      time.Time     `json:"at"`
	RSSKiB  int64         `json:"rss_kib"`
	CPUTime time.Duration `json:"cpu_ns"`
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
	cpu, err := readCPUTime(filepath.Join(dir, "stat"))
	if err != nil {
		return ProcSample{}, err
	}
	return ProcSample{At: time.Now(), RSSKiB: rss, CPUTime: cpu}, nil
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

func readCPUTime(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read server cpu time: %w", err)
	}
	// The command name (field 2) is in parentheses and may itself hold
	// spaces or parentheses, so count fields from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: no ')' in %q", path, b)
	}
	fields := strings.Fields(string(b[i+1:]))
	// After the name: state(3) ... utime(14) stime(15), so indexes 11 and 12.
	if len(fields) < 13 {
		return 0, fmt.Errorf("%s: %d fields after the name, want at least 13", path, len(fields))
	}
	var ticks int64
	for _, s := range fields[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: cpu field %q: %w", path, s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// ServerUsage is what the server process used during the measured phase.
type ServerUsage struct {
	PID    int        `json:"pid"`
	Before ProcSample `json:"before"`
	After  ProcSample `json:"after"`
	// RSSDeltaKiB is After.RSSKiB - Before.RSSKiB.
	RSSDeltaKiB int64 `json:"rss_delta_kib"`
	// CPUSeconds is the server's user+system CPU time between the samples.
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUPercent is CPUSeconds over the wall time between the samples.
	CPUPercent float64 `json:"cpu_percent"`
	// KiBPerConn is RSSDeltaKiB per connection held (hold).
	KiBPerConn float64 `json:"kib_per_conn,omitempty"`
	// CPUMicrosPerMsg is server CPU per delivered message (fanout, throughput).
	CPUMicrosPerMsg float64 `json:"cpu_us_per_msg,omitempty"`
	// CPUMicrosPerOp is server CPU per presence join or leave
	// (pusher-presence).
	CPUMicrosPerOp float64 `json:"cpu_us_per_op,omitempty"`
	// CPUMicrosPerEvent is CPU per channel event triggered (the Pusher
	// event modes; for a redis-server, per stream entry).
	CPUMicrosPerEvent float64 `json:"cpu_us_per_event,omitempty"`
}

func newServerUsage(pid int, before, after ProcSample) *ServerUsage {
	u := &ServerUsage{PID: pid, Before: before, After: after}
	u.RSSDeltaKiB = after.RSSKiB - before.RSSKiB
	cpu := after.CPUTime - before.CPUTime
	u.CPUSeconds = cpu.Seconds()
	if wall := after.At.Sub(before.At); wall > 0 {
		u.CPUPercent = 100 * cpu.Seconds() / wall.Seconds()
	}
	return u
}

// perDelivery spreads the server's CPU time over the messages it delivered.
func (u *ServerUsage) perDelivery(delivered int64) {
	if delivered > 0 {
		u.CPUMicrosPerMsg = u.CPUSeconds * 1e6 / float64(delivered)
	}
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
