package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/pusher/webhook"
)

const (
	testKey    = "app-key-1234"
	testSecret = "s3cr3t-never-in-logs-7f9a2c"
)

// post is one request as the receiver saw it.
type post struct {
	Header  http.Header
	Body    []byte
	Payload webhook.Payload
	Status  int // what the receiver answered; 0 when it dropped the connection
	At      time.Time
}

// receiver is a webhook endpoint that records every request. handle answers
// request number i (from 0) and returns the status it wrote; nil answers 200.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	handle func(i int, w http.ResponseWriter, r *http.Request) int

	mu      sync.Mutex
	posts   []post
	arrived chan int
}

func newReceiver(t *testing.T, handle func(i int, w http.ResponseWriter, r *http.Request) int) *receiver {
	t.Helper()
	rc := &receiver{t: t, handle: handle, arrived: make(chan int, 1<<16)}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rc.t.Errorf("receiver: read body: %v", err)
	}
	p := post{Header: r.Header.Clone(), Body: body, At: time.Now()}
	if err := json.Unmarshal(body, &p.Payload); err != nil {
		rc.t.Errorf("receiver: body is not a webhook payload: %v\n%s", err, body)
	}
	rc.mu.Lock()
	i := len(rc.posts)
	rc.posts = append(rc.posts, p)
	rc.mu.Unlock()
	rc.arrived <- i

	status := http.StatusOK
	if rc.handle != nil {
		status = rc.handle(i, w, r)
	} else {
		w.WriteHeader(status)
	}
	rc.mu.Lock()
	rc.posts[i].Status = status
	rc.mu.Unlock()
}

func (rc *receiver) all() []post {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]post(nil), rc.posts...)
}

// accepted is every event the receiver answered with a 2xx, in order.
func (rc *receiver) accepted() []webhook.Event {
	var evs []webhook.Event
	for _, p := range rc.all() {
		if p.Status >= 200 && p.Status < 300 {
			evs = append(evs, p.Payload.Events...)
		}
	}
	return evs
}

// waitArrival waits for the receiver's next request.
func (rc *receiver) waitArrival(t *testing.T) int {
	t.Helper()
	select {
	case i := <-rc.arrived:
		return i
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook request arrived")
		return -1
	}
}

// hijackClose drops the connection without an answer: a network error.
func hijackClose(w http.ResponseWriter) int {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
	return 0
}

// counts records the Sender's hooks.
type counts struct{ dropped, sent, failed atomic.Int64 }

func (c *counts) hook(cfg *webhook.Config) {
	cfg.OnDropped = func(n int) { c.dropped.Add(int64(n)) }
	cfg.OnSent = func(n int) { c.sent.Add(int64(n)) }
	cfg.OnFailed = func(n int) { c.failed.Add(int64(n)) }
}

func (c *counts) total() int64 { return c.dropped.Load() + c.sent.Load() + c.failed.Load() }

// baseConfig points at rc, sends every event, and retries fast.
func baseConfig(rc *receiver, c *counts) webhook.Config {
	cfg := webhook.Config{
		URL:          rc.srv.URL + "/hook",
		Key:          testKey,
		Secret:       testSecret,
		Events:       webhook.Names(),
		BatchWait:    10 * time.Millisecond,
		BackoffBase:  time.Millisecond,
		BackoffMax:   5 * time.Millisecond,
		FlushTimeout: 5 * time.Second,
	}
	if c != nil {
		c.hook(&cfg)
	}
	return cfg
}

// run starts s.Run and returns a stop function that cancels it and waits for
// it to return; the test's cleanup calls it too.
func run(t *testing.T, s *webhook.Sender) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(15 * time.Second):
				t.Error("Run did not return after its context ended")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
