package protocol

import (
	"encoding/binary"
	"unicode/utf8"
)

// MaxHeader is the longest header of an unmasked server-to-client frame.
const MaxHeader = 10

// PutTextHeader writes, right-aligned into buf[:MaxHeader], the header of a
// final, unmasked text frame carrying n payload bytes (RFC 6455 §5.2), and
// returns where it starts. A frame built this way once can be written to
// every client as is, with no per-client framing.
func PutTextHeader(buf []byte, n int) int {
	const finText = 0x80 | 0x1
	switch {
	case n < 126:
		buf[MaxHeader-2], buf[MaxHeader-1] = finText, byte(n)
		return MaxHeader - 2
	case n <= 0xFFFF:
		buf[MaxHeader-4], buf[MaxHeader-3] = finText, 126
		binary.BigEndian.PutUint16(buf[MaxHeader-2:], uint16(n))
		return MaxHeader - 4
	default:
		buf[0], buf[1] = finText, 127
		binary.BigEndian.PutUint64(buf[2:], uint64(n))
		return 0
	}
}

// TextHeaderLen returns the length of the header at the start of frame, a
// frame PutTextHeader framed.
func TextHeaderLen(frame []byte) int {
	switch frame[1] {
	case 126:
		return 4
	case 127:
		return 10
	default:
		return 2
	}
}

// TextFrame returns msg framed as one unmasked text frame.
func TextFrame(msg []byte) []byte {
	buf := make([]byte, MaxHeader, MaxHeader+len(msg))
	start := PutTextHeader(buf, len(msg))
	return append(buf, msg...)[start:]
}

// PingFrame returns an unmasked ping frame with no payload.
func PingFrame() []byte { return []byte{0x80 | 0x9, 0} }

// Opcodes of the control frames a client may send between messages.
const (
	OpClose = 0x8
	OpPing  = 0x9
	OpPong  = 0xA
)

// ClientControl reads the head of a client's frame. For a final, masked
// close, ping or pong with a legal control payload (at most 125 bytes) it
// returns the opcode and the frame's whole length; for anything else, 0
// and 0: that is left to a full frame reader, which answers protocol
// errors properly.
func ClientControl(head []byte) (op byte, size int) {
	const fin, masked = 0x80, 0x80
	if len(head) < 2 || head[1]&masked == 0 {
		return 0, 0
	}
	switch head[0] {
	case fin | OpClose, fin | OpPing, fin | OpPong:
	default:
		return 0, 0
	}
	n := int(head[1] &^ masked)
	if n > 125 {
		return 0, 0
	}
	return head[0] &^ fin, 2 + 4 + n // header, masking key, payload
}

// PongFor returns the unmasked pong answering ping, a complete frame for
// which ClientControl returned OpPing: it carries the ping's payload back,
// as RFC 6455 requires.
func PongFor(ping []byte) []byte {
	key, payload := ping[2:6], ping[6:]
	pong := make([]byte, 2, 2+len(payload))
	pong[0], pong[1] = 0x80|OpPong, byte(len(payload))
	for i, b := range payload {
		pong = append(pong, b^key[i%4])
	}
	return pong
}

// CloseReply answers a client's close frame, a complete frame for which
// ClientControl returned OpClose: the reply carries the client's code and
// reason back, as the library would, and code and reason are what the
// client sent (1005 for an empty payload). ok is false for a payload RFC
// 6455 does not allow (one byte, a code no endpoint may send, a reason
// that is not UTF-8): a full frame reader must answer that with a
// protocol error.
func CloseReply(frame []byte) (reply []byte, code int, reason string, ok bool) {
	key, masked := frame[2:6], frame[6:]
	reply = make([]byte, 2+len(masked))
	reply[0], reply[1] = 0x80|OpClose, byte(len(masked))
	payload := reply[2:]
	for i, b := range masked {
		payload[i] = b ^ key[i%4]
	}
	switch {
	case len(payload) == 0:
		return reply, closeNoStatus, "", true
	case len(payload) == 1:
		return nil, 0, "", false
	}
	code = int(binary.BigEndian.Uint16(payload))
	if !sendableCloseCode(code) || !utf8.Valid(payload[2:]) {
		return nil, 0, "", false
	}
	return reply, code, string(payload[2:]), true
}

// closeNoStatus is the code that stands for a close frame without one; it
// is never sent.
const closeNoStatus = 1005

// sendableCloseCode reports whether an endpoint may put code in a close
// frame (RFC 6455 §7.4): the defined codes less those reserved for local
// use, and the registered and private ranges.
func sendableCloseCode(code int) bool {
	switch {
	case code == 1004 || code == 1005 || code == 1006 || code == 1015:
		return false
	case code >= 1000 && code <= 1014:
		return true
	default:
		return code >= 3000 && code <= 4999
	}
}
