package loadgen

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// broadcastServer speaks the service's protocol in a few lines, with knobs
// for the failures the generator must count.
type broadcastServer struct {
	// reject answers every upgrade with this HTTP status when non-zero.
	reject int
	// closeWith closes every connection right after the greeting.
	closeWith websocket.StatusCode
	// greeting replaces {"connection":"ok"} when set.
	greeting string

	mu      sync.Mutex
	clients map[chan []byte]struct{}
}

func startServer(t *testing.T, s *broadcastServer) string {
	t.Helper()
	s.clients = make(map[chan []byte]struct{})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/wss"
}

func (s *broadcastServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/wss" {
		w.WriteHeader(http.StatusOK)
		return
	}
	if s.reject != 0 {
		http.Error(w, "over capacity", s.reject)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	// Register before the greeting: a client that has been greeted must
	// receive every broadcast from then on.
	out := make(chan []byte, 4096)
	s.mu.Lock()
	s.clients[out] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.clients, out)
		s.mu.Unlock()
	}()
	greeting := s.greeting
	if greeting == "" {
		greeting = `{"connection":"ok","id":"x"}`
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(greeting)); err != nil {
		return
	}
	if s.closeWith != 0 {
		c.Close(s.closeWith, "test")
		return
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case msg := <-out:
				if c.Write(ctx, websocket.MessageText, msg) != nil {
					c.CloseNow()
					return
				}
			}
		}
	}()
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if !json.Valid(msg) {
			out <- []byte(`{"error":{"code":"invalid_json","detail":"not JSON"}}`)
			continue
		}
		frame := append(append([]byte(`{"offset":"1-0","message":`), msg...), '}')
		s.mu.Lock()
		for ch := range s.clients {
			ch <- frame
		}
		s.mu.Unlock()
	}
}

// testConfig is a short run of mode against url.
func testConfig(mode Mode, url string) Config {
	c := DefaultConfig(mode)
	c.URL = url
	c.Duration = 700 * time.Millisecond
	c.Settle = 100 * time.Millisecond
	c.Drain = 2 * time.Second
	c.DialTimeout = 5 * time.Second
	return c
}

func runTest(t *testing.T, cfg Config) *Result {
	t.Helper()
	res, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}
