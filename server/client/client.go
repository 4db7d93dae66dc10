// Package client is a Go client for the broadcast service that survives
// server restarts: it reconnects with jittered exponential backoff and
// resumes from the last offset it received, so a deploy or scale-in costs a
// reconnect, not messages.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Message is one broadcast.
type Message struct {
	// Offset identifies the message; it is a decimal string that may
	// exceed 2^53, so keep it as text.
	Offset  string
	Payload json.RawMessage
}

// Event tells the caller what happened to the connection.
type Event struct {
	Kind Kind
	// Err is why a connection ended or an attempt failed.
	Err error
	// Down is, for Connected after a disconnect, how long the client was
	// without a connection.
	Down time.Duration
	// Code and Detail are set for ErrorFrame.
	Code, Detail string
}

// Kind is the kind of an Event.
type Kind int

// Event kinds.
const (
	Connected      Kind = iota // greeted by a server
	Disconnected               // the connection ended
	DialFailed                 // a connection attempt failed
	ErrorFrame                 // the server refused something this client sent
	RecoveryFailed             // messages since the last offset could not be recovered
)

// Options configure a Client. Only URL is required.
type Options struct {
	URL        string // ws:// or wss:// URL of the /wss endpoint
	MinBackoff time.Duration
	MaxBackoff time.Duration
	Dial       *websocket.DialOptions
	OnMessage  func(Message) // called in order, from one goroutine
	OnEvent    func(Event)   // called from the same goroutine
}

// Client is a reconnecting, resuming connection. Create it with New and
// call Run.
type Client struct {
	opts Options

	mu   sync.Mutex
	conn *websocket.Conn
	last string
}

// New returns a client for opts.
func New(opts Options) *Client {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(10*time.Second, opts.MinBackoff)
	}
	if opts.OnMessage == nil {
		opts.OnMessage = func(Message) {}
	}
	if opts.OnEvent == nil {
		opts.OnEvent = func(Event) {}
	}
	return &Client{opts: opts}
}

// ErrNotConnected is returned by Publish between connections.
var ErrNotConnected = errors.New("client: not connected")

// Publish sends payload for broadcast on the current connection. Success
// means the frame was written, not that it was accepted: acceptance shows as
// the broadcast arriving (or an ErrorFrame event).
func (c *Client) Publish(ctx context.Context, payload json.RawMessage) error {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return ErrNotConnected
	}
	if err := conn.Write(ctx, websocket.MessageText, payload); err != nil {
		return fmt.Errorf("client: publish: %w", err)
	}
	return nil
}

// LastOffset returns the offset of the last message received.
func (c *Client) LastOffset() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Run connects, delivers messages and reconnects until ctx ends. It returns
// ctx's error.
func (c *Client) Run(ctx context.Context) error {
	backoff := c.opts.MinBackoff
	var downSince time.Time
	for {
		err := c.session(ctx, &downSince, &backoff)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if downSince.IsZero() {
			downSince = time.Now()
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		var ce websocket.CloseError
		if errors.As(err, &ce) && ce.Code == websocket.StatusGoingAway {
			// A server going away asks for a prompt reconnect elsewhere;
			// the server already spread its closes, so only a little jitter.
			wait = rand.N(c.opts.MinBackoff + 1)
		} else {
			backoff = min(backoff*2, c.opts.MaxBackoff)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// session runs one connection from dial to its end.
func (c *Client) session(ctx context.Context, downSince *time.Time, backoff *time.Duration) error {
	target, err := c.target()
	if err != nil {
		return err
	}
	conn, _, err := websocket.Dial(ctx, target, c.opts.Dial)
	if err != nil {
		c.opts.OnEvent(Event{Kind: DialFailed, Err: err})
		return err
	}
	conn.SetReadLimit(1 << 20)
	defer conn.CloseNow()
	greeted := false
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			c.mu.Lock()
			c.conn = nil
			c.mu.Unlock()
			if greeted {
				c.opts.OnEvent(Event{Kind: Disconnected, Err: err})
			}
			return err
		}
		var f struct {
			Connection string          `json:"connection"`
			Message    json.RawMessage `json:"message"`
			Offset     string          `json:"offset"`
			Error      *struct {
				Code   string `json:"code"`
				Detail string `json:"detail"`
			} `json:"error"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			return fmt.Errorf("client: frame %q: %w", data, err)
		}
		switch {
		case f.Connection == "ok" && !greeted:
			greeted = true
			*backoff = c.opts.MinBackoff
			ev := Event{Kind: Connected}
			if !downSince.IsZero() {
				ev.Down = time.Since(*downSince)
				*downSince = time.Time{}
			}
			c.mu.Lock()
			c.conn = conn
			c.mu.Unlock()
			c.opts.OnEvent(ev)
		case f.Error != nil && f.Error.Code == "recovery_failed":
			c.opts.OnEvent(Event{Kind: RecoveryFailed, Code: f.Error.Code, Detail: f.Error.Detail})
		case f.Error != nil:
			c.opts.OnEvent(Event{Kind: ErrorFrame, Code: f.Error.Code, Detail: f.Error.Detail})
		case f.Offset != "":
			c.mu.Lock()
			c.last = f.Offset
			c.mu.Unlock()
			c.opts.OnMessage(Message{Offset: f.Offset, Payload: f.Message})
		}
	}
}

// target is the URL to dial: with ?since= once a message has arrived.
func (c *Client) target() (string, error) {
	u, err := url.Parse(c.opts.URL)
	if err != nil {
		return "", fmt.Errorf("client: URL: %w", err)
	}
	if last := c.LastOffset(); last != "" {
		q := u.Query()
		q.Set("since", last)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}
