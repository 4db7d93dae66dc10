package loadgen

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// greetServer upgrades with coder/websocket, sends greeting and reports on
// closed how the client ended the connection.
func greetServer(greeting string, closed chan<- websocket.StatusCode) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		if greeting != "" {
			if err := c.Write(r.Context(), websocket.MessageText, []byte(greeting)); err != nil {
				return
			}
		}
		for {
			if _, _, err := c.Read(r.Context()); err != nil {
				if closed != nil {
					closed <- websocket.CloseStatus(err)
				}
				return
			}
		}
	}
}

// rawServer answers the upgrade by hand: it writes the bytes reply returns
// for the request's Sec-WebSocket-Accept in one write, then answers a close
// frame with a close frame and reports its code on closed.
func rawServer(closed chan<- websocket.StatusCode, reply func(accept string) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + websocketGUID))
		accept := base64.StdEncoding.EncodeToString(sum[:])
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.Write([]byte(reply(accept)))
		if code, ok := readCloseFrame(rw.Reader); ok {
			conn.Write([]byte("\x88\x02\x03\xe8"))
			closed <- code
		}
	}
}

// readCloseFrame reads short masked client frames until a close frame,
// whose code it returns, or an error.
func readCloseFrame(br *bufio.Reader) (websocket.StatusCode, bool) {
	for {
		var h [6]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return 0, false
		}
		p := make([]byte, h[1]&0x7f)
		if _, err := io.ReadFull(br, p); err != nil {
			return 0, false
		}
		for i := range p {
			p[i] ^= h[2+i%4]
		}
		if h[0]&0x0f == opClose && len(p) >= 2 {
			return websocket.StatusCode(binary.BigEndian.Uint16(p)), true
		}
	}
}

func upgradeHead(accept string) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n"
}

// serverFrame is an unmasked server frame of a short payload.
func serverFrame(b0 byte, payload string) string {
	return string([]byte{b0, byte(len(payload))}) + payload
}

const greeting = `{"connection":"ok"}`

func TestRawDial(t *testing.T) {
	tests := []struct {
		name     string
		handler  func(closed chan<- websocket.StatusCode) http.Handler
		timeout  time.Duration
		origin   string
		wantKind string // "" for a greeted connection
	}{
		{
			name: "coder/websocket server with greeting",
			handler: func(closed chan<- websocket.StatusCode) http.Handler {
				return greetServer(greeting, closed)
			},
		},
		{
			name: "greeting with extra fields",
			handler: func(closed chan<- websocket.StatusCode) http.Handler {
				return greetServer(`{"connection":"ok","replay":3}`, closed)
			},
		},
		{
			name: "origin checked by the server",
			handler: func(closed chan<- websocket.StatusCode) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Header.Get("Origin") != "https://example.test" || r.URL.RawQuery != "a=1" {
						http.Error(w, "forbidden", http.StatusForbidden)
						return
					}
					c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
					if err != nil {
						return
					}
					defer c.CloseNow()
					c.Write(r.Context(), websocket.MessageText, []byte(greeting))
					_, _, err = c.Read(r.Context())
					closed <- websocket.CloseStatus(err)
				})
			},
			origin: "https://example.test",
		},
		{
			name: "greeting in the same write as the upgrade",
			handler: func(closed chan<- websocket.StatusCode) http.Handler {
				return rawServer(closed, func(accept string) string {
					return upgradeHead(accept) + serverFrame(0x81, greeting)
				})
			},
		},
		{
			name: "ping and a fragmented greeting",
			handler: func(closed chan<- websocket.StatusCode) http.Handler {
				return rawServer(closed, func(accept string) string {
					return upgradeHead(accept) + serverFrame(0x89, "p") +
						serverFrame(0x01, greeting[:5]) + serverFrame(0x8a, "") + serverFrame(0x80, greeting[5:])
				})
			},
		},
		{
			name: "503 is counted as its status",
			handler: func(chan<- websocket.StatusCode) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Error(w, "over capacity", http.StatusServiceUnavailable)
				})
			},
			wantKind: "http_503",
		},
		{
			name: "wrong first frame",
			handler: func(chan<- websocket.StatusCode) http.Handler {
				return greetServer(`{"hello":1}`, nil)
			},
			wantKind: KindProtocol,
		},
		{
			name: "binary greeting",
			handler: func(chan<- websocket.StatusCode) http.Handler {
				return rawServer(nil, func(accept string) string {
					return upgradeHead(accept) + serverFrame(0x82, greeting)
				})
			},
			wantKind: KindProtocol,
		},
		{
			name: "wrong Sec-WebSocket-Accept",
			handler: func(chan<- websocket.StatusCode) http.Handler {
				return rawServer(nil, func(string) string {
					return upgradeHead("dGhlIHNhbXBsZSBub25jZQ==") + serverFrame(0x81, greeting)
				})
			},
			wantKind: KindProtocol,
		},
		{
			name: "101 without Upgrade",
			handler: func(chan<- websocket.StatusCode) http.Handler {
				return rawServer(nil, func(accept string) string {
					return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n"
				})
			},
			wantKind: KindProtocol,
		},
		{
			name: "close before the greeting",
			handler: func(chan<- websocket.StatusCode) http.Handler {
				return rawServer(nil, func(accept string) string {
					return upgradeHead(accept) + serverFrame(0x88, "\x03\xf0full")
				})
			},
			wantKind: "close_1008",
		},
		{
			name: "connection dropped during the upgrade",
			handler: func(chan<- websocket.StatusCode) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					conn, _, err := http.NewResponseController(w).Hijack()
					if err == nil {
						conn.Close()
					}
				})
			},
			wantKind: KindDialReset,
		},
		{
			name: "connection dropped before the greeting",
			handler: func(chan<- websocket.StatusCode) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					c, err := websocket.Accept(w, r, nil)
					if err == nil {
						c.CloseNow()
					}
				})
			},
			wantKind: KindConnLost,
		},
		{
			name: "no greeting times out",
			handler: func(chan<- websocket.StatusCode) http.Handler {
				return greetServer("", nil)
			},
			timeout:  200 * time.Millisecond,
			wantKind: KindTimeoutHello,
		},
		{
			name: "no upgrade answer times out",
			handler: func(chan<- websocket.StatusCode) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					<-r.Context().Done()
				})
			},
			timeout:  200 * time.Millisecond,
			wantKind: KindTimeoutConnect,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			closed := make(chan websocket.StatusCode, 1)
			srv := httptest.NewServer(tt.handler(closed))
			defer srv.Close()
			cfg := testConfig(ModeChurn, "ws"+strings.TrimPrefix(srv.URL, "http")+"/wss?a=1")
			cfg.Origin = tt.origin
			if tt.timeout != 0 {
				cfg.DialTimeout = tt.timeout
			}
			d, err := newRawDialer(cfg)
			if err != nil {
				t.Fatal(err)
			}
			w := d.newWorker(context.Background())
			defer w.stop()
			for range 3 { // the worker's buffers are reused across cycles
				start := time.Now()
				took, err := w.connect()
				if tt.wantKind != "" {
					var de *dialError
					if !errors.As(err, &de) || de.kind != tt.wantKind {
						t.Fatalf("connect: %v, want a %s error", err, tt.wantKind)
					}
					if tt.timeout != 0 && time.Since(start) > 10*tt.timeout {
						t.Errorf("timed out after %v, want about %v", time.Since(start), tt.timeout)
					}
					continue
				}
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				if took <= 0 || took > time.Since(start) {
					t.Errorf("connect took %v, want within the %v of the call", took, time.Since(start))
				}
				w.closeConn()
				select {
				case code := <-closed:
					if code != websocket.StatusNormalClosure {
						t.Errorf("server saw close %d, want %d", code, websocket.StatusNormalClosure)
					}
				case <-time.After(5 * time.Second):
					t.Error("server saw no close")
				}
			}
		})
	}
}

func TestRawDialTLS(t *testing.T) {
	closed := make(chan websocket.StatusCode, 1)
	srv := httptest.NewTLSServer(greetServer(greeting, closed))
	defer srv.Close()
	cfg := testConfig(ModeChurn, "wss"+strings.TrimPrefix(srv.URL, "https")+"/wss")
	d, err := newRawDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d.tls == nil || d.tls.ServerName != "127.0.0.1" {
		t.Fatalf("tls config %+v, want one for 127.0.0.1", d.tls)
	}
	d.tls.RootCAs = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	w := d.newWorker(context.Background())
	defer w.stop()
	if _, err := w.connect(); err != nil {
		t.Fatalf("connect: %v", err)
	}
	w.closeConn()
	if code := <-closed; code != websocket.StatusNormalClosure {
		t.Errorf("server saw close %d, want %d", code, websocket.StatusNormalClosure)
	}
	// Without the test CA the certificate is refused, before the upgrade.
	d.tls.RootCAs = nil
	if _, err := w.connect(); err == nil {
		t.Error("connect with an untrusted certificate succeeded")
	} else if de := (*dialError)(nil); !errors.As(err, &de) || de.kind != KindDialOther {
		t.Errorf("connect: %v, want dial_other", err)
	}
}

func TestRawDialStopsWithContext(t *testing.T) {
	srv := httptest.NewServer(greetServer("", nil)) // never greets
	defer srv.Close()
	cfg := testConfig(ModeChurn, "ws"+strings.TrimPrefix(srv.URL, "http")+"/wss")
	cfg.DialTimeout = time.Minute
	d, err := newRawDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := d.newWorker(ctx)
	defer w.stop()
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, err := w.connect(); !errors.Is(err, context.Canceled) {
		t.Errorf("connect: %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("connect returned %v after the cancel", took)
	}
}

func TestRawDialRequest(t *testing.T) {
	cfg := DefaultConfig(ModeChurn)
	cfg.URL = "wss://d111111abcdef8.cloudfront.net/wss?x=y"
	cfg.Origin = "https://app.example"
	d, err := newRawDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d.addr != "d111111abcdef8.cloudfront.net:443" {
		t.Errorf("addr %q, want the host on 443", d.addr)
	}
	if d.tls == nil || d.tls.ServerName != "d111111abcdef8.cloudfront.net" {
		t.Errorf("tls config %+v, want SNI of the host", d.tls)
	}
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(string(d.request))))
	if err != nil {
		t.Fatalf("request %q: %v", d.request, err)
	}
	if req.Method != "GET" || req.RequestURI != "/wss?x=y" || req.Host != "d111111abcdef8.cloudfront.net" ||
		req.Header.Get("Upgrade") != "websocket" || req.Header.Get("Connection") != "Upgrade" ||
		req.Header.Get("Sec-WebSocket-Version") != "13" || req.Header.Get("Origin") != "https://app.example" {
		t.Errorf("request %q", d.request)
	}
	sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + websocketGUID))
	if string(d.accept) != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Errorf("accept %q does not match key %q", d.accept, req.Header.Get("Sec-WebSocket-Key"))
	}
}

// BenchmarkChurnCycle is one churn cycle of the lean client (dial, upgrade,
// greeting, close) against an in-process coder/websocket server. The
// allocations include the server's.
func BenchmarkChurnCycle(b *testing.B) {
	srv := httptest.NewServer(greetServer(greeting, nil))
	defer srv.Close()
	cfg := testConfig(ModeChurn, "ws"+strings.TrimPrefix(srv.URL, "http")+"/wss")
	d, err := newRawDialer(cfg)
	if err != nil {
		b.Fatal(err)
	}
	w := d.newWorker(context.Background())
	defer w.stop()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.connect(); err != nil {
			b.Fatal(err)
		}
		w.closeConn()
	}
}
