package protocol

import "encoding/binary"

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

// TextFrame returns msg framed as one unmasked text frame.
func TextFrame(msg []byte) []byte {
	buf := make([]byte, MaxHeader, MaxHeader+len(msg))
	start := PutTextHeader(buf, len(msg))
	return append(buf, msg...)[start:]
}

// PingFrame returns an unmasked ping frame with no payload.
func PingFrame() []byte { return []byte{0x80 | 0x9, 0} }

// PongSize returns the length of the client's pong frame whose header
// starts head, or 0 when head does not start a final, masked pong with a
// legal control payload (at most 125 bytes). Anything else is left to a
// full frame reader, which answers protocol errors properly.
func PongSize(head []byte) int {
	const finPong, masked = 0x80 | 0xA, 0x80
	if len(head) < 2 || head[0] != finPong || head[1]&masked == 0 {
		return 0
	}
	n := int(head[1] &^ masked)
	if n > 125 {
		return 0
	}
	return 2 + 4 + n // header, masking key, payload
}
