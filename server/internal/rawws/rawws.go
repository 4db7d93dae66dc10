// Package rawws opens WebSocket connections on bare sockets for tests that
// need to control every byte a client sends, or that must not spend a
// goroutine per client.
package rawws

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// Dial sends the upgrade request for /wss with extra right behind it in
// the same write, checks the 101, and returns the socket and a reader
// positioned at the first frame. The socket is closed when the test ends.
func Dial(t testing.TB, hostport string, extra []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	req := "GET /wss HTTP/1.1\r\nHost: " + hostport + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := nc.Write(append([]byte(req), extra...)); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	return nc, br
}

// Masked frames payload as a final frame of opcode op the way a client
// must: masked (with key 1 2 3 4). payload must be shorter than 126 bytes.
func Masked(op byte, payload string) []byte {
	key := [4]byte{1, 2, 3, 4}
	f := []byte{0x80 | op, 0x80 | byte(len(payload)), key[0], key[1], key[2], key[3]}
	for i := range len(payload) {
		f = append(f, payload[i]^key[i%4])
	}
	return f
}

// MaskedText frames msg as a client's text frame.
func MaskedText(msg string) []byte { return Masked(0x1, msg) }

// ReadFrame reads one final, unmasked frame shorter than 126 bytes and
// returns its opcode and payload.
func ReadFrame(t testing.TB, br *bufio.Reader) (op byte, payload string) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatal(err)
	}
	if h[0]&0xF0 != 0x80 || h[1] >= 126 {
		t.Fatalf("frame header % x, want a short, final, unmasked frame", h)
	}
	b := make([]byte, h[1])
	if _, err := io.ReadFull(br, b); err != nil {
		t.Fatal(err)
	}
	return h[0] & 0x0F, string(b)
}

// ReadText reads one text frame shorter than 126 bytes.
func ReadText(t testing.TB, br *bufio.Reader) string {
	t.Helper()
	op, payload := ReadFrame(t, br)
	if op != 0x1 {
		t.Fatalf("opcode %#x, want a text frame", op)
	}
	return payload
}
