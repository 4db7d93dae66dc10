//go:build !unix

package transport

import "errors"

// writev is not available here; every write takes the blocking path.
func writev(int, [][]byte) (int, error) { return 0, errors.ErrUnsupported }

func write(int, []byte) (int, error) { return 0, errors.ErrUnsupported }

// readable cannot look without reading here, so it says yes and the
// library's reader does the waiting.
func readable(int) bool { return true }
