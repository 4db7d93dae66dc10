package transport

import (
	"syscall"
	"unsafe"
)

// The system calls the delivery and readiness paths make on sockets set to
// O_NONBLOCK, where none of them can block. They are raw: the runtime is
// not told a system call is under way. With the ordinary entry, a
// goroutine writing to thousands of sockets back to back looks to the
// runtime's monitor like a processor stuck in system calls: with one
// processor (GOMAXPROCS=1, a one-vCPU task) it hands the processor to
// another thread and wakes every 20 µs to check again, costing a context
// switch each time. Measured in the fan-out benchmark, that was about a
// sixth of the server's system CPU.

// maxIovecs bounds one writev: a batch of entries and the handshake's
// response. A write of more frames is cut short there, like any partial
// write, and the caller writes the rest.
const maxIovecs = batchSize + 1

// writev is one non-blocking gather write; EAGAIN comes back as an error
// with nothing written.
func writev(fd int, frames [][]byte) (int, error) {
	var iov [maxIovecs]syscall.Iovec
	n := 0
	for _, f := range frames {
		if len(f) == 0 {
			continue
		}
		if n == len(iov) {
			break
		}
		iov[n].Base = &f[0]
		iov[n].SetLen(len(f))
		n++
	}
	if n == 0 {
		return 0, nil
	}
	r, _, errno := syscall.RawSyscall(syscall.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(n))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// write is writev for one frame.
func write(fd int, frame []byte) (int, error) {
	if len(frame) == 0 {
		return 0, nil
	}
	r, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&frame[0])), uintptr(len(frame)))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// canPeek says readable works here.
const canPeek = true

// readable reports whether a read on fd would return at once: bytes are
// waiting, the peer has closed, or the socket has an error. It reads
// nothing, but a pending error (a reset) is consumed by the peek: the next
// read then sees an end of file instead, which ends the connection the
// same way.
func readable(fd int) bool {
	var b [1]byte
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return errno != syscall.EAGAIN
}
