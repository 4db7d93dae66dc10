//go:build !linux

package transport

import (
	"errors"
	"net"
)

// poller has no implementation here: every connection waits for input on
// a goroutine of its own.
type poller struct{}

func newPoller() (*poller, error)                    { return nil, errors.ErrUnsupported }
func (p *poller) close()                             {}
func (p *poller) add(*Conn) bool                     { return false }
func (p *poller) wrap(nc net.Conn, _ *Conn) net.Conn { return nc }
