package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"syscall"

	"github.com/coder/websocket"
)

// Error kinds that are not derived from a status or close code.
const (
	KindTimeoutConnect = "timeout_connect" // TCP, TLS or the HTTP upgrade did not finish in time
	KindTimeoutHello   = "timeout_hello"   // upgraded, but no greeting in time
	KindTimeoutEcho    = "timeout_echo"    // throughput: own message did not come back in time
	KindDialRefused    = "dial_refused"
	KindDialReset      = "dial_reset"
	KindDialNoFD       = "dial_no_fd"    // EMFILE/ENFILE: the generator ran out of descriptors
	KindDialNoAddr     = "dial_no_addr"  // EADDRNOTAVAIL: no free local port for the 4-tuple
	KindDialOther      = "dial_other"    // any other failure before the upgrade answer
	KindProtocol       = "protocol"      // a frame that does not follow the protocol
	KindConnLost       = "conn_lost"     // the TCP connection ended without a close frame
	KindWrite          = "write"         // a send failed for a reason other than a close
	KindRead           = "read"          // a read failed for a reason other than a close
	KindServerErrorPre = "server_error_" // prefix: an {"error":{"code":...}} frame
)

// KindHTTPStatus names a handshake answered with an HTTP status other than 101.
func KindHTTPStatus(status int) string { return fmt.Sprintf("http_%d", status) }

// KindClose names a connection closed by the server with a close frame.
func KindClose(code websocket.StatusCode) string { return fmt.Sprintf("close_%d", int(code)) }

// ErrorCounts counts failures by kind. It is safe for concurrent use.
type ErrorCounts struct {
	mu sync.Mutex
	m  map[string]int64
}

// Add counts one failure of the given kind.
func (e *ErrorCounts) Add(kind string) {
	e.mu.Lock()
	if e.m == nil {
		e.m = make(map[string]int64)
	}
	e.m[kind]++
	e.mu.Unlock()
}

// Snapshot returns a copy of the counts; nil when there were none.
func (e *ErrorCounts) Snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.m) == 0 {
		return nil
	}
	out := make(map[string]int64, len(e.m))
	for k, v := range e.m {
		out[k] = v
	}
	return out
}

// Total is the number of failures of every kind.
func (e *ErrorCounts) Total() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n int64
	for _, v := range e.m {
		n += v
	}
	return n
}

// sortedKinds lists the kinds of m in a stable order for printing.
func sortedKinds(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// classifyDial maps an error from websocket.Dial to a kind. resp is the
// handshake response, if the server answered at all.
func classifyDial(err error, resp *http.Response) string {
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		return KindHTTPStatus(resp.StatusCode)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return KindTimeoutConnect
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindDialRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindDialReset
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return KindDialNoFD
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return KindDialNoAddr
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return KindTimeoutConnect
	}
	return KindDialOther
}

// classifyRead maps an error from reading an established connection to a
// kind: the close code when the server sent one, otherwise how it ended.
func classifyRead(err error) string {
	if code := websocket.CloseStatus(err); code != -1 {
		return KindClose(code)
	}
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return KindConnLost
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return KindTimeoutHello
	}
	return KindRead
}
