//go:build !unix

package transport

import "errors"

// writev is not available here; every write takes the blocking path.
func writev(int, [][]byte) (int, error) { return 0, errors.ErrUnsupported }
