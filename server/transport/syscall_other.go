//go:build !linux && !darwin

package transport

import "errors"

// writev is not available here; every write takes the blocking path.
func writev(int, [][]byte) (int, error) { return 0, errors.ErrUnsupported }

func write(int, []byte) (int, error) { return 0, errors.ErrUnsupported }

// canPeek says readable does not work here: every connection is read by
// the library's blocking reader.
const canPeek = false

func readable(int) bool { return true }
