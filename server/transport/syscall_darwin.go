package transport

import (
	"errors"

	"golang.org/x/sys/unix"
)

// writev is one non-blocking gather write on a socket the runtime set to
// O_NONBLOCK; EAGAIN comes back as an error with nothing written.
func writev(fd int, frames [][]byte) (int, error) { return unix.Writev(fd, frames) }

// write is writev for one frame.
func write(fd int, frame []byte) (int, error) { return unix.Write(fd, frame) }

// canPeek says readable works here.
const canPeek = true

// readable reports whether a read on fd would return at once: bytes are
// waiting, the peer has closed, or the socket has an error. It reads
// nothing, but a pending error (a reset) is consumed by the peek: the next
// read then sees an end of file instead, which ends the connection the
// same way.
func readable(fd int) bool {
	var b [1]byte
	_, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return !errors.Is(err, unix.EAGAIN)
}
