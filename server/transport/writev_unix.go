//go:build unix

package transport

import "golang.org/x/sys/unix"

// writev is one non-blocking gather write on a socket the runtime set to
// O_NONBLOCK; EAGAIN comes back as an error with nothing written.
func writev(fd int, frames [][]byte) (int, error) { return unix.Writev(fd, frames) }
