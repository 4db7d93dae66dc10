//go:build linux

package transport_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/config"
)

// rawClient is a WebSocket client written by hand, so that the test can
// close its socket in every way a real client does: with a close frame,
// by dropping it, halfway through a frame.
type rawClient struct {
	nc  net.Conn
	buf []byte
}

func rawDial(addr string) (*rawClient, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &rawClient{nc: nc, buf: make([]byte, 1024)}
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	const request = "GET /wss HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := nc.Write([]byte(request)); err != nil {
		nc.Close()
		return nil, err
	}
	got := 0
	for {
		n, err := nc.Read(c.buf[got:])
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("handshake: %w (have %q)", err, c.buf[:got])
		}
		got += n
		end := bytes.Index(c.buf[:got], []byte("\r\n\r\n"))
		if end < 0 {
			continue
		}
		if !bytes.HasPrefix(c.buf, []byte("HTTP/1.1 101 ")) {
			nc.Close()
			return nil, fmt.Errorf("handshake answered %q", c.buf[:end])
		}
		if !bytes.Contains(c.buf[:end+2], []byte(": s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n")) { // RFC 6455's example key
			nc.Close()
			return nil, fmt.Errorf("101 without the right Sec-WebSocket-Accept: %q", c.buf[:end])
		}
		frame := c.buf[end+4 : got]
		if len(frame) >= 2 && len(frame) == 2+int(frame[1]) {
			if !bytes.Equal(frame[2:], []byte(`{"connection":"ok"}`)) {
				nc.Close()
				return nil, fmt.Errorf("greeting %q", frame[2:])
			}
			return c, nil
		}
	}
}

// send writes one masked frame.
func (c *rawClient) send(op byte, payload []byte) error {
	key := [4]byte{0x11, 0x22, 0x33, 0x44}
	frame := []byte{0x80 | op}
	switch {
	case len(payload) < 126:
		frame = append(frame, 0x80|byte(len(payload)))
	default:
		frame = append(frame, 0x80|126)
		frame = binary.BigEndian.AppendUint16(frame, uint16(len(payload)))
	}
	frame = append(frame, key[:]...)
	for i, b := range payload {
		frame = append(frame, b^key[i%4])
	}
	_, err := c.nc.Write(frame)
	return err
}

// next reads one short frame from the server: its opcode and payload.
func (c *rawClient) next() (byte, []byte, error) {
	head := c.buf[:2]
	if _, err := io.ReadFull(c.nc, head); err != nil {
		return 0, nil, err
	}
	op, n := head[0]&0x0f, int(head[1])
	if n > 125 {
		return 0, nil, fmt.Errorf("frame of %d bytes, want a short one", n)
	}
	payload := c.buf[2 : 2+n]
	if _, err := io.ReadFull(c.nc, payload); err != nil {
		return 0, nil, err
	}
	return op, payload, nil
}

// ping sends a ping with a payload no other connection uses and checks
// that the pong carries it back.
func (c *rawClient) ping(token string) error {
	_ = c.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.send(0x9, []byte(token)); err != nil {
		return err
	}
	op, payload, err := c.next()
	if err != nil {
		return fmt.Errorf("pong for %s: %w", token, err)
	}
	if op != 0xA || string(payload) != token {
		return fmt.Errorf("sent ping %s, got opcode %#x with %q", token, op, payload)
	}
	return nil
}

// closeWith sends a close frame with code and expects it echoed.
func (c *rawClient) closeWith(code uint16) error {
	defer c.nc.Close()
	if err := c.send(0x8, binary.BigEndian.AppendUint16(nil, code)); err != nil {
		return err
	}
	op, payload, err := c.next()
	if err != nil || op != 0x8 || len(payload) < 2 || binary.BigEndian.Uint16(payload) != code {
		return fmt.Errorf("close %d answered with opcode %#x % x, %v", code, op, payload, err)
	}
	return nil
}

// refused sends what the server must close with want, and checks that it
// does.
func (c *rawClient) refused(op byte, payload []byte, want uint16) error {
	defer c.nc.Close()
	if err := c.send(op, payload); err != nil {
		return err
	}
	got, reply, err := c.next()
	if err != nil || got != 0x8 || len(reply) < 2 || binary.BigEndian.Uint16(reply) != want {
		return fmt.Errorf("want a close with %d, got opcode %#x % x, %v", want, got, reply, err)
	}
	_ = c.send(0x8, reply[:2])
	return nil
}

// Idle connections hold no goroutine: they park on the server's epoll
// poller, which hands each readable one to a new reader. Descriptor
// numbers are reused as fast as connections come and go, so this churns
// connections closed in every way, from both sides, while long-lived
// connections are pinged throughout: a live connection must never miss
// its input (an event of the old descriptor's owner delivered to it, or
// its own lost), and every connection that ends must be noticed.
func TestPollerUnderChurn(t *testing.T) {
	srv := start(t, func(c *config.Config) {
		c.SourceConnectRate, c.SourceMaxConnections = 0, 0
		c.MaxMessageBytes = 256
	})
	addr := strings.TrimPrefix(srv.HTTP, "http://")

	const sentinels, workers = 20, 8
	duration := 2 * time.Second
	var wg sync.WaitGroup
	var cycles, pings atomic.Int64
	stop := make(chan struct{})
	time.AfterFunc(duration, func() { close(stop) })

	// Long-lived connections, pinged with their own tokens.
	for i := range sentinels {
		c, err := rawDial(addr)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.nc.Close()
			for n := 0; ; n++ {
				select {
				case <-stop:
					if err := c.closeWith(1000); err != nil {
						t.Errorf("sentinel %d: %v", i, err)
					}
					return
				case <-time.After(time.Duration(rand.IntN(20)) * time.Millisecond):
				}
				if err := c.ping(fmt.Sprintf("s%d-%d", i, n)); err != nil {
					t.Errorf("sentinel %d: %v", i, err)
					return
				}
				pings.Add(1)
			}
		}()
	}

	// Connections opened and ended every way there is, as fast as can be.
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				c, err := rawDial(addr)
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				token := fmt.Sprintf("w%d-%d", w, n)
				switch rand.IntN(7) {
				case 0: // a clean close
					err = c.closeWith(1000)
				case 1: // gone without a word
					err = c.nc.Close()
				case 2: // a reset
					_ = c.nc.(*net.TCPConn).SetLinger(0)
					err = c.nc.Close()
				case 3: // half a frame, then gone
					_, _ = c.nc.Write([]byte{0x81, 0x85, 1, 2})
					err = c.nc.Close()
				case 4: // the server closes: binary is refused
					err = c.refused(0x2, []byte("bin"), 1003)
				case 5: // the server closes: over MAX_MESSAGE_BYTES
					err = c.refused(0x1, bytes.Repeat([]byte("x"), 300), 1009)
				case 6: // idle a moment, ping, then a clean close
					time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
					if err = c.ping(token); err == nil {
						err = c.closeWith(4000)
					}
				}
				if err != nil {
					t.Errorf("worker %d, cycle %d: %v", w, n, err)
					return
				}
				cycles.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d connections churned, %d pings answered on %d long-lived connections", cycles.Load(), pings.Load(), sentinels)
	if cycles.Load() < 100 {
		t.Errorf("only %d connections churned; the test did not exercise the poller", cycles.Load())
	}
	// Every connection that ended was noticed by the server.
	eventually(t, 10*time.Second, "every connection closed on the server", func() bool { return srv.Connections() == 0 })
}

// The client's close frame is answered by the server itself: a legal one
// is echoed, code and reason; one RFC 6455 forbids is left to the library,
// which answers 1002 (protocol error) with a reason of its own. The
// library echoes a reason that is not UTF-8, as it did before.
func TestClientCloseFrames(t *testing.T) {
	srv := start(t, nil)
	addr := strings.TrimPrefix(srv.HTTP, "http://")
	protocolError := []byte{0x03, 0xea}
	tests := []struct {
		name    string
		payload []byte
		want    []byte // the server's close payload, or its start for a 1002
	}{
		{"code and reason echoed", []byte("\x0f\xa0bye"), []byte("\x0f\xa0bye")},
		{"no code echoed empty", nil, nil},
		{"one byte", []byte{0x03}, protocolError},
		{"1005 may not be sent", []byte{0x03, 0xed}, protocolError},
		{"below the defined codes", []byte{0x03, 0xe7}, protocolError},
		{"reason not UTF-8, echoed by the library", []byte{0x03, 0xe8, 0xff}, []byte{0x03, 0xe8, 0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := rawDial(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.nc.Close()
			if err := c.send(0x8, tt.payload); err != nil {
				t.Fatal(err)
			}
			op, payload, err := c.next()
			if err != nil || op != 0x8 {
				t.Fatalf("answer: opcode %#x, %v; want a close frame", op, err)
			}
			match := bytes.Equal(payload, tt.want)
			if bytes.Equal(tt.want, protocolError) {
				match = bytes.HasPrefix(payload, protocolError)
			}
			if !match {
				t.Errorf("close payload % x, want % x", payload, tt.want)
			}
		})
	}
}
