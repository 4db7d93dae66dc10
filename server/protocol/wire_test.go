package protocol_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/wsfargate/websocket-service/server/protocol"
)

func TestTextFrame(t *testing.T) {
	tests := []struct {
		n      int
		header []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{0xFFFF, []byte{0x81, 126, 0xFF, 0xFF}},
		{0x10000, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	}
	for _, tt := range tests {
		msg := []byte(strings.Repeat("x", tt.n))
		f := protocol.TextFrame(msg)
		if !bytes.Equal(f[:len(tt.header)], tt.header) || !bytes.Equal(f[len(tt.header):], msg) {
			t.Errorf("n=%d: header % x, want % x", tt.n, f[:min(len(f), len(tt.header))], tt.header)
		}
	}
}

// Whatever the length, the header decodes back to it by the RFC's rules.
func FuzzTextFrame(f *testing.F) {
	f.Add(uint32(0))
	f.Add(uint32(126))
	f.Add(uint32(70000))
	f.Fuzz(func(t *testing.T, n uint32) {
		n %= 1 << 20
		frame := protocol.TextFrame(make([]byte, n))
		if frame[0] != 0x81 || frame[1]&0x80 != 0 {
			t.Fatalf("first bytes % x: want FIN+text, unmasked", frame[:2])
		}
		var got, hdr int
		switch l := int(frame[1]); {
		case l < 126:
			got, hdr = l, 2
		case l == 126:
			got, hdr = int(binary.BigEndian.Uint16(frame[2:])), 4
		default:
			got, hdr = int(binary.BigEndian.Uint64(frame[2:])), 10
		}
		if got != int(n) || len(frame) != hdr+int(n) {
			t.Fatalf("n=%d decoded as %d with %d header bytes, frame %d bytes", n, got, hdr, len(frame))
		}
		// The shortest encoding is required.
		if (n < 126 && hdr != 2) || (n >= 126 && n <= 0xFFFF && hdr != 4) {
			t.Fatalf("n=%d used a %d-byte header", n, hdr)
		}
		if got := protocol.TextHeaderLen(frame); got != hdr {
			t.Fatalf("TextHeaderLen = %d, want %d", got, hdr)
		}
	})
}

func TestClientControl(t *testing.T) {
	tests := []struct {
		name string
		head []byte
		op   byte
		size int
	}{
		{"empty masked pong", []byte{0x8A, 0x80}, protocol.OpPong, 6},
		{"pong with the longest control payload", []byte{0x8A, 0x80 | 125}, protocol.OpPong, 131},
		{"masked ping", []byte{0x89, 0x80 | 3}, protocol.OpPing, 9},
		{"too short to tell", []byte{0x8A}, 0, 0},
		{"unmasked pong is a protocol error", []byte{0x8A, 0x00}, 0, 0},
		{"unmasked ping is a protocol error", []byte{0x89, 0x03}, 0, 0},
		{"control payload over 125", []byte{0x89, 0x80 | 126}, 0, 0},
		{"fragmented pong is a protocol error", []byte{0x0A, 0x80}, 0, 0},
		{"reserved bit set", []byte{0x8A | 0x40, 0x80}, 0, 0},
		{"text frame", []byte{0x81, 0x85}, 0, 0},
		{"masked close", []byte{0x88, 0x82}, protocol.OpClose, 8},
		{"unmasked close is a protocol error", []byte{0x88, 0x02}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if op, size := protocol.ClientControl(tt.head); op != tt.op || size != tt.size {
				t.Errorf("ClientControl(% x) = %#x, %d; want %#x, %d", tt.head, op, size, tt.op, tt.size)
			}
		})
	}
}

// maskedClose builds a client's close frame with the given payload.
func maskedClose(payload []byte) []byte {
	key := []byte{7, 1, 9, 3}
	frame := []byte{0x88, 0x80 | byte(len(payload)), key[0], key[1], key[2], key[3]}
	for i, b := range payload {
		frame = append(frame, b^key[i%4])
	}
	return frame
}

func TestCloseReply(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		ok      bool
		code    int
		reason  string
	}{
		{"normal with a reason", []byte("\x03\xe8bye"), true, 1000, "bye"},
		{"going away, no reason", []byte{0x03, 0xe9}, true, 1001, ""},
		{"application code", []byte("\x0f\xa0done"), true, 4000, "done"},
		{"no payload stands for 1005", nil, true, 1005, ""},
		{"one byte cannot hold a code", []byte{0x03}, false, 0, ""},
		{"1005 must not be sent", []byte{0x03, 0xed}, false, 0, ""},
		{"1006 must not be sent", []byte{0x03, 0xee}, false, 0, ""},
		{"below the defined range", []byte{0x03, 0xe7}, false, 0, ""},
		{"unassigned range", []byte{0x07, 0xd0}, false, 0, ""},
		{"reason not UTF-8", []byte{0x03, 0xe8, 0xff, 0xfe}, false, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := maskedClose(tt.payload)
			if op, size := protocol.ClientControl(frame); op != protocol.OpClose || size != len(frame) {
				t.Fatalf("ClientControl = %#x, %d; want a close of %d bytes", op, size, len(frame))
			}
			reply, code, reason, ok := protocol.CloseReply(frame)
			if ok != tt.ok || code != tt.code || reason != tt.reason {
				t.Fatalf("CloseReply = %d %q %v; want %d %q %v", code, reason, ok, tt.code, tt.reason, tt.ok)
			}
			if !ok {
				return
			}
			// The reply echoes the payload, unmasked.
			if want := append([]byte{0x88, byte(len(tt.payload))}, tt.payload...); !bytes.Equal(reply, want) {
				t.Errorf("reply = % x, want % x", reply, want)
			}
		})
	}
}

func TestPongFor(t *testing.T) {
	key := []byte{1, 2, 3, 4}
	ping := []byte{0x89, 0x80 | 5, key[0], key[1], key[2], key[3]}
	for i, b := range []byte("hello") {
		ping = append(ping, b^key[i%4])
	}
	if got, want := protocol.PongFor(ping), append([]byte{0x8A, 5}, "hello"...); !bytes.Equal(got, want) {
		t.Errorf("PongFor = % x, want % x", got, want)
	}
	if got := protocol.PongFor([]byte{0x89, 0x80, 9, 9, 9, 9}); !bytes.Equal(got, []byte{0x8A, 0}) {
		t.Errorf("PongFor(empty ping) = % x, want 8a 00", got)
	}
}

func TestPingFrame(t *testing.T) {
	if got := protocol.PingFrame(); !bytes.Equal(got, []byte{0x89, 0}) {
		t.Errorf("PingFrame() = % x, want 89 00", got)
	}
}
