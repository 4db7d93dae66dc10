// Package pusher speaks the Pusher Channels protocol (version 7) and its
// HTTP API, so that pusher-js, Laravel Echo and the Pusher server SDKs work
// against this server unchanged. It is an adapter over the transport's
// connection machinery (limits, keepalive, eviction, drain) and publishes
// into per-channel logs, so an event is framed once and the same bytes go
// to every subscriber.
//
// What every task must agree on (occupancy, presence, cache channels) lives
// in a state.State; events reach every task's subscribers through a Bus.
package pusher

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/contract"
	"github.com/wsfargate/websocket-service/server/protocol"
	"github.com/wsfargate/websocket-service/server/pusher/state"
	"github.com/wsfargate/websocket-service/server/pusher/webhook"
	"github.com/wsfargate/websocket-service/server/pusher/wire"
	"github.com/wsfargate/websocket-service/server/transport"
)

// cacheTTL is how long a cache channel keeps its last event, as Pusher's
// cache channels do (30 minutes).
const cacheTTL = 30 * time.Minute

// Message is one frame for every subscriber of a channel on every task,
// but the connection Skip names.
type Message struct {
	Channel string
	Frame   []byte
	Skip    string
	// A member event (member_added or member_removed) says whose change it
	// is and its version (state.Joined.Version), so that each task applies
	// one user's changes in the order they happened; Version is 0 for any
	// other event.
	User    string
	Info    json.RawMessage // member_added's user_info
	Version uint64
	Added   bool
}

// Bus carries messages and terminations to every task of the app,
// this one included, each in one order for all tasks.
type Bus interface {
	Publish(ctx context.Context, m Message) error
	Terminate(ctx context.Context, userID string) error
}

// Local is what a Bus hands each task: the methods it calls as messages
// arrive.
type Local interface {
	Deliver(m Message)
	TerminateLocal(userID string)
}

// memoryBus is the Bus of a single process: delivery is a call.
type memoryBus struct{ local Local }

func (b memoryBus) Publish(_ context.Context, m Message) error { b.local.Deliver(m); return nil }
func (b memoryBus) Terminate(_ context.Context, id string) error {
	b.local.TerminateLocal(id)
	return nil
}

// App is one Pusher app served by this task.
type App struct {
	cfg      *config.Config
	srv      *transport.Server
	state    state.State
	bus      Bus
	hooks    *webhook.Sender // nil when webhooks are off
	logger   *slog.Logger
	channels *channels
	profile  *transport.Profile
	metrics  *instruments

	mu    sync.Mutex
	users map[string]map[*transport.Conn]struct{} // signed-in connections by user id
}

// Options are an App's parts beyond the configuration; nil ones default to
// a single process's.
type Options struct {
	State    state.State
	Bus      Bus
	Webhooks *webhook.Sender
	Registry prometheus.Registerer
}

// New returns the app the configuration describes, serving its sockets
// through srv.
func New(cfg *config.Config, srv *transport.Server, logger *slog.Logger, opts Options) *App {
	a := &App{
		cfg:      cfg,
		srv:      srv,
		state:    opts.State,
		hooks:    opts.Webhooks,
		logger:   logger,
		channels: newChannels(cfg.SendQueue + 1),
		users:    make(map[string]map[*transport.Conn]struct{}),
		metrics:  newInstruments(opts.Registry),
	}
	if a.state == nil {
		a.state = state.NewMemory()
	}
	a.bus = opts.Bus
	if a.bus == nil {
		a.bus = memoryBus{local: a}
	}
	a.profile = &transport.Profile{
		Name:               "pusher",
		Shutdown:           wire.CodeReconnectNow,
		ShutdownReason:     "server shutting down; reconnect",
		SlowConsumer:       wire.CodeOverCapacity,
		SlowConsumerReason: "slow consumer: send queue full",
		RateLimited:        wire.CodeClientEventRate,
		RateLimitedReason:  "rate limit exceeded",
		RateLimitedFrame:   wire.AppendError(nil, wire.CodeClientEventRate, "message dropped: over the per-connection rate limit; slow down"),
		NoPong:             wire.CodePongTimeout,
		NoPongReason:       "pong reply not received",
		OverCapacity:       wire.CodeOverCapacity,
		Ping:               [][]byte{protocol.PingFrame(), protocol.TextFrame(wire.AppendPing(nil))},
	}
	return a
}

// Webhooks returns the app's webhook sender, or nil when PUSHER_WEBHOOK_URL
// is empty; its outcomes are counted in reg. The caller runs it.
func Webhooks(cfg *config.Config, logger *slog.Logger, reg prometheus.Registerer) *webhook.Sender {
	if cfg.PusherWebhookURL == "" {
		return nil
	}
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pusher_webhook_events_total", Help: "Webhook events by outcome: sent, failed (given up after retries) or dropped (queue full).",
	}, []string{"outcome"})
	reg.MustRegister(events)
	count := func(outcome string) func(int) {
		c := events.WithLabelValues(outcome)
		return func(n int) { c.Add(float64(n)) }
	}
	return webhook.New(webhook.Config{
		URL: cfg.PusherWebhookURL, Key: cfg.PusherAppKey, Secret: cfg.PusherAppSecret, Events: cfg.PusherWebhookEvents,
		Logger: logger, OnSent: count("sent"), OnFailed: count("failed"), OnDropped: count("dropped"),
	})
}

// Routes adds the app's WebSocket endpoint and HTTP API to mux.
func (a *App) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+contract.PusherSocketPrefix+"{key}", a.serveSocket)
	mux.Handle(contract.PusherAPIPrefix+"{app}/", a.api())
}

// Deliver implements Local: a message reaches this task's subscribers.
func (a *App) Deliver(m Message) { a.channels.deliver(m) }

// TerminateLocal implements Local: the user's connections on this task are
// closed.
func (a *App) TerminateLocal(userID string) {
	a.mu.Lock()
	conns := make([]*transport.Conn, 0, len(a.users[userID]))
	for c := range a.users[userID] {
		conns = append(conns, c)
	}
	a.mu.Unlock()
	for _, c := range conns {
		// Close waits for the peer's reply; the caller must not.
		go c.Close(websocket.StatusCode(wire.CodeTerminated), "connection terminated by the app")
	}
}

func (a *App) serveSocket(w http.ResponseWriter, r *http.Request) {
	a.srv.Upgrade(w, r, a, a.profile)
}

// publish sends frame to the channel's subscribers on every task and, for
// a cache channel, keeps it as the channel's last event.
func (a *App) publish(ctx context.Context, channel string, frame []byte, skip string) error {
	if wire.IsCache(channel) {
		if err := a.state.SetLast(ctx, channel, frame, cacheTTL); err != nil {
			return err
		}
	}
	a.metrics.published.Inc()
	return a.bus.Publish(ctx, Message{Channel: channel, Frame: frame, Skip: skip})
}

// Reap takes back, every interval until ctx ends, the subscriptions of
// tasks that died without leaving, and announces what that changed as the
// tasks would have: member_removed to the channel, and webhooks. Only a
// shared State can have dead tasks; with any other Reap returns at once.
func (a *App) Reap(ctx context.Context, interval time.Duration) {
	r, ok := a.state.(state.Reaper)
	if !ok {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		gone, err := r.Reap(ctx)
		if err != nil {
			a.logger.Warn("taking back a dead task's subscriptions failed; retrying", "err", err)
		}
		for _, d := range gone {
			a.left(ctx, d.Channel, d.UserID, d.Left)
		}
		if len(gone) > 0 {
			a.logger.Info("took back a dead task's subscriptions", "subscriptions", len(gone))
		}
	}
}

// left announces what an unsubscription changed: member_removed to the
// channel's subscribers, and the webhooks.
func (a *App) left(ctx context.Context, channel, userID string, l state.Left) {
	if l.UserRemoved {
		m := Message{Channel: channel, Frame: wire.AppendMemberRemoved(nil, channel, userID), User: userID, Version: l.Version}
		if err := a.bus.Publish(ctx, m); err != nil {
			a.logger.Warn("member_removed not published", "channel", channel, "err", err)
		}
		a.hook(webhook.Event{Name: webhook.MemberRemoved, Channel: channel, UserID: userID})
	}
	if l.Vacated {
		a.hook(webhook.Event{Name: webhook.ChannelVacated, Channel: channel})
	}
}

// hook queues a webhook event when webhooks are on.
func (a *App) hook(e webhook.Event) {
	if a.hooks != nil {
		a.hooks.Enqueue(e)
	}
}

// Channels returns how many channels have a subscriber on this task.
func (a *App) Channels() int { return a.channels.len() }

// instruments are the app's own metrics, beside the transport's.
type instruments struct {
	published     prometheus.Counter
	clientEvents  prometheus.Counter
	subscriptions *prometheus.CounterVec
	api           *prometheus.CounterVec
}

func newInstruments(reg prometheus.Registerer) *instruments {
	m := &instruments{
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pusher_events_published_total", Help: "Channel events published, from the HTTP API and client events, before fan-out.",
		}),
		clientEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pusher_client_events_total", Help: "Client events accepted from connections on this task.",
		}),
		subscriptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pusher_subscriptions_total", Help: "Subscription attempts by result (ok, or why refused).",
		}, []string{"result"}),
		api: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pusher_api_requests_total", Help: "HTTP API requests by endpoint and status code.",
		}, []string{"endpoint", "code"}),
	}
	if reg != nil {
		reg.MustRegister(m.published, m.clientEvents, m.subscriptions, m.api)
	}
	return m
}
