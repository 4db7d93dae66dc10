package loadgen

import (
	"errors"
	"strings"
	"testing"
)

func TestWriteTextCPUAndKernel(t *testing.T) {
	split := &ServerUsage{PID: 9, CPUSeconds: 3, UserCPUSeconds: 1, SysCPUSeconds: 2, CPUPercent: 30}
	before := KernelSample{
		Sockstat: &SockStat{SocketsUsed: 100, TCPInUse: 60, TCPMemPages: 10},
		Slabs:    map[string]SlabStat{"TCP": {ActiveObjs: 100, ObjSize: 2048}, "sock_inode_cache": {ActiveObjs: 200, ObjSize: 1024}},
	}
	after := KernelSample{
		Sockstat: &SockStat{SocketsUsed: 2100, TCPInUse: 2060, TCPMemPages: 110},
		Slabs:    map[string]SlabStat{"TCP": {ActiveObjs: 2100, ObjSize: 2048}, "sock_inode_cache": {ActiveObjs: 2200, ObjSize: 1024}},
	}
	withPer := func(u ServerUsage, f func(*ServerUsage)) *ServerUsage { f(&u); return &u }
	tests := []struct {
		name   string
		res    Result
		want   []string
		absent []string
	}{
		{"fanout", Result{Mode: ModeFanout, Server: withPer(*split, func(u *ServerUsage) { u.perDelivery(1_000_000) })},
			[]string{"cpu 3.00s (30%), user 1.00s, sys 2.00s", "server cpu       3.000 µs per delivered message (user 1.000, sys 2.000)"},
			[]string{"kernel"}},
		{"churn", Result{Mode: ModeChurn, Server: withPer(*split, func(u *ServerUsage) { u.perConn(100_000) })},
			[]string{"30.000 µs per connection lifecycle (open, greeting, close) (user 10.000, sys 20.000)"}, nil},
		{"a result from before the split", Result{Mode: ModeFanout, Server: &ServerUsage{CPUSeconds: 3, CPUMicrosPerMsg: 8.85}},
			[]string{"cpu 3.00s (0%)\n", "8.850 µs per delivered message\n"}, []string{"user"}},
		{"hold on loopback", Result{Mode: ModeHold, Held: 1000, Kernel: newKernelSockets(before, after, 1000, 4096, true)},
			[]string{
				"kernel sockets   TCP in use +2000 (2.00 per connection held), sockets used +2000",
				"kernel TCP mem   +400 KiB of socket buffers, 0.40 KiB per connection (server's half 0.20)",
				"kernel slabs     TCP +2000, sock_inode_cache +2000 objects: +6000 KiB, 6.00 KiB per connection (server's half 3.00)",
				"counts both ends of each connection",
			}, nil},
		{"hold, counters unreadable", Result{Mode: ModeHold, Held: 1000, Kernel: newKernelSockets(
			KernelSample{sockErr: errors.New("read kernel socket counters: gone"), slabErr: errors.New("read kernel slabs: permission denied")},
			after, 1000, 4096, false)},
			[]string{"kernel sockets   not measured: read kernel socket counters: gone", "kernel slabs     not measured: read kernel slabs: permission denied", "the server is elsewhere"},
			[]string{"server's half"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := tt.res.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(b.String(), a) {
					t.Errorf("output has %q:\n%s", a, b.String())
				}
			}
		})
	}
}
