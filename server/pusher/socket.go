package pusher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/wsfargate/websocket-service/server/pusher/auth"
	"github.com/wsfargate/websocket-service/server/pusher/state"
	"github.com/wsfargate/websocket-service/server/pusher/webhook"
	"github.com/wsfargate/websocket-service/server/pusher/wire"
	"github.com/wsfargate/websocket-service/server/transport"
)

// protocolVersion is the only version of the protocol this server speaks;
// pusher-js 7 and 8 and Laravel Echo send it.
const protocolVersion = "7"

// errClosed ends a connection the adapter has closed itself.
var errClosed = errors.New("closed by the server")

// session is one Pusher connection's state. Everything but signin's timer
// runs on the connection's reading goroutine, one message at a time.
type session struct {
	socketID string
	// subs is a slice, not a map: a connection has a handful of
	// subscriptions, and an empty map costs an idle connection more than
	// the search it saves.
	subs     []*subscription
	userID   string // set by a successful signin
	userInfo []byte // the signed-in user's user_info
	signedIn chan struct{}
	limiter  *rate.Limiter // client events
}

type subscription struct {
	name   string
	local  *localChannel
	feed   *transport.Feed
	member *state.Member // presence channels only
}

func sess(c *transport.Conn) *session { return c.Session.(*session) }

// sub returns the subscription to channel, or nil.
func (s *session) sub(channel string) *subscription {
	for _, sub := range s.subs {
		if sub.name == channel {
			return sub
		}
	}
	return nil
}

// Open implements transport.Protocol: it checks the app key and protocol
// version and sends connection_established.
func (a *App) Open(c *transport.Conn, r *http.Request) error {
	if r.PathValue("key") != a.cfg.PusherAppKey {
		return a.refuse(c, wire.CodeAppNotFound, "unknown app key")
	}
	if v := r.URL.Query().Get("protocol"); v != protocolVersion {
		return a.refuse(c, wire.CodeUnsupportedProtocol, fmt.Sprintf("unsupported protocol version %q; this server speaks %s", v, protocolVersion))
	}
	s := &session{socketID: wire.NewSocketID()}
	c.SetID(s.socketID)
	c.Session = s
	if err := c.Send(wire.AppendConnectionEstablished(nil, s.socketID, int(a.cfg.PusherActivityTimeout/time.Second))); err != nil {
		return err
	}
	if a.cfg.PusherRequireSignin {
		s.signedIn = make(chan struct{})
		go a.awaitSignin(c, s)
	}
	return nil
}

// awaitSignin closes a connection that has not signed in within
// PUSHER_SIGNIN_TIMEOUT, when signing in is required.
func (a *App) awaitSignin(c *transport.Conn, s *session) {
	t := time.NewTimer(a.cfg.PusherSigninTimeout)
	defer t.Stop()
	select {
	case <-s.signedIn:
	case <-t.C:
		c.Close(websocket.StatusCode(wire.CodeUnauthorized), "connection not signed in within the timeout")
	}
}

// refuse tells the client why in a pusher:error, then closes with code.
func (a *App) refuse(c *transport.Conn, code int, msg string) error {
	_ = c.Send(wire.AppendError(nil, code, msg))
	c.Close(websocket.StatusCode(code), msg)
	return errClosed
}

// Message implements transport.Protocol.
func (a *App) Message(c *transport.Conn, data []byte) error {
	s := sess(c)
	f, err := wire.ParseFrame(data)
	if err != nil {
		return c.Send(wire.AppendError(nil, wire.CodeBadFrame, err.Error()))
	}
	switch {
	case f.Event == "pusher:ping":
		return c.Send(wire.AppendPong(nil))
	case f.Event == "pusher:pong":
		c.Ponged()
		return nil
	case f.Event == "pusher:subscribe":
		return a.subscribe(c, s, f)
	case f.Event == "pusher:unsubscribe":
		u, err := wire.ParseUnsubscribe(f.Data)
		if err != nil {
			return c.Send(wire.AppendError(nil, wire.CodeBadFrame, err.Error()))
		}
		a.unsubscribe(c, s, u.Channel)
		return nil
	case f.Event == "pusher:signin":
		return a.signin(c, s, f)
	case strings.HasPrefix(f.Event, "client-"):
		return a.clientEvent(c, s, f)
	}
	return c.Send(wire.AppendError(nil, wire.CodeBadFrame, fmt.Sprintf("unknown event %q", truncate(f.Event, 64))))
}

// subscribe handles pusher:subscribe: it checks the channel name, the
// signature where the channel needs one and the presence cap, then
// confirms, replays a cache channel's last event, and starts delivery.
func (a *App) subscribe(c *transport.Conn, s *session, f wire.Frame) error {
	sub, err := wire.ParseSubscribe(f.Data)
	if err != nil {
		return c.Send(wire.AppendError(nil, wire.CodeBadFrame, err.Error()))
	}
	name := sub.Channel
	refuse := func(result string, status int, typ, msg string) error {
		a.metrics.subscriptions.WithLabelValues(result).Inc()
		return c.Send(wire.AppendSubscriptionError(nil, name, typ, msg, status))
	}
	kind := wire.KindOf(name)
	if kind == wire.ServerToUser {
		// pusher-js subscribes to its own user's channel after signin.
		if id, ok := wire.UserChannelID(name); !ok || s.userID == "" || id != s.userID {
			return refuse("forbidden", http.StatusForbidden, "AuthError", "only the signed-in user may subscribe to its own user channel")
		}
	} else if err := wire.ValidChannel(name); err != nil {
		return refuse("bad_name", http.StatusBadRequest, "InvalidChannel", err.Error())
	}
	if s.sub(name) != nil {
		return nil // already subscribed: nothing changes
	}
	if len(s.subs) >= a.cfg.PusherMaxSubscriptions {
		return refuse("too_many", http.StatusTooManyRequests, "LimitReached", fmt.Sprintf("at most %d subscriptions per connection (PUSHER_MAX_SUBSCRIPTIONS)", a.cfg.PusherMaxSubscriptions))
	}
	var member *state.Member
	if kind.RequiresAuth() {
		channelData := ""
		if kind == wire.Presence {
			channelData = sub.ChannelData
		}
		if err := auth.VerifyChannel(a.cfg.PusherAppKey, a.cfg.PusherAppSecret, s.socketID, name, channelData, sub.Auth); err != nil {
			return refuse("unauthorized", http.StatusUnauthorized, "AuthError", err.Error())
		}
		if kind == wire.Presence {
			m, err := a.member(s, sub.ChannelData)
			if err != nil {
				return refuse("bad_channel_data", http.StatusBadRequest, "InvalidChannelData", err.Error())
			}
			member = m
		}
	}

	ctx := context.Background()
	joined, err := a.state.Join(ctx, name, s.socketID, member, a.cfg.PusherMaxPresenceMembers)
	switch {
	case errors.Is(err, state.ErrFull):
		return refuse("full", http.StatusForbidden, "LimitReached", fmt.Sprintf("presence channel is full: at most %d members (PUSHER_MAX_PRESENCE_MEMBERS)", a.cfg.PusherMaxPresenceMembers))
	case err != nil:
		c.Log(slog.LevelWarn, "subscription state unavailable", "channel", name, "err", err)
		return refuse("unavailable", http.StatusServiceUnavailable, "Unavailable", "subscription could not be recorded; try again")
	}
	local := a.channels.join(name)
	s.subs = append(s.subs, &subscription{name: name, local: local, member: member})
	a.metrics.subscriptions.WithLabelValues("ok").Inc()
	if member != nil && joined.UserAdded {
		// Published first: this subscriber's own list waits for it below.
		m := Message{Channel: name, Frame: wire.AppendMemberAdded(nil, name, member.UserID, member.UserInfo), Skip: s.socketID,
			User: member.UserID, Info: member.UserInfo, Version: joined.Version, Added: true}
		if err := a.bus.Publish(ctx, m); err != nil {
			c.Log(slog.LevelWarn, "member_added not published", "channel", name, "err", err)
		}
	}
	feed, confirm := a.follow(ctx, c, local, member, joined.Version)
	s.subs[len(s.subs)-1].feed = feed
	if err := c.Send(confirm); err != nil {
		return err
	}
	if wire.IsCache(name) {
		last, ok, err := a.state.Last(ctx, name)
		switch {
		case err != nil:
			c.Log(slog.LevelWarn, "cache channel state unavailable", "channel", name, "err", err)
		case ok:
			err = c.Send(last)
		default:
			err = c.Send(wire.AppendCacheMiss(nil, name))
		}
		if err != nil {
			return err
		}
	}
	feed.Start()

	if joined.Occupied {
		a.hook(webhook.Event{Name: webhook.ChannelOccupied, Channel: name})
	}
	if joined.UserAdded {
		a.hook(webhook.Event{Name: webhook.MemberAdded, Channel: name, UserID: member.UserID})
	}
	return nil
}

// memberWait bounds how long a presence subscriber waits for its own
// member_added to come back from the shared state before it is answered.
const memberWait = 2 * time.Second

// follow starts a feed of the local channel for c and returns it with the
// subscription's confirmation. A presence subscriber's member list is
// this task's view of the channel (seeded from the shared state when the
// channel is new here), read under the channel's lock at the point the
// feed starts, after the view has caught up with the subscriber's own
// join: every member event before that point is in the list, every one
// after it comes through the feed.
func (a *App) follow(ctx context.Context, c *transport.Conn, local *localChannel, member *state.Member, version uint64) (*transport.Feed, []byte) {
	if member == nil {
		return c.Follow(local.log), wire.AppendSubscriptionSucceeded(nil, local.name, nil)
	}
	local.mu.Lock()
	seeded := local.seeded
	local.mu.Unlock()
	if !seeded {
		snap, err := a.state.Snapshot(ctx, local.name)
		if err != nil {
			c.Log(slog.LevelWarn, "presence members unavailable", "channel", local.name, "err", err)
		} else {
			local.seed(snap)
		}
	}
	local.await(member.UserID, version, memberWait)
	local.mu.Lock()
	defer local.mu.Unlock()
	members := local.members()
	if !slices.ContainsFunc(members, func(m state.Member) bool { return m.UserID == member.UserID }) {
		members = append(members, *member) // its own member_added is late
	}
	list := make([]wire.Member, len(members))
	for i, m := range members {
		list[i] = wire.Member{UserID: m.UserID, UserInfo: m.UserInfo}
	}
	return c.Follow(local.log), wire.AppendSubscriptionSucceeded(nil, local.name, list)
}

// member is who a presence subscription adds: the signed channel_data's
// user or, when the authorizer sent none (pusher-js allows that after a
// signin), the signed-in user.
func (a *App) member(s *session, channelData string) (*state.Member, error) {
	if channelData == "" && s.userID != "" {
		return &state.Member{UserID: s.userID, UserInfo: s.userInfo}, nil
	}
	m, err := wire.ParsePresenceData(channelData)
	if err != nil {
		return nil, err
	}
	return &state.Member{UserID: m.UserID, UserInfo: m.UserInfo}, nil
}

// unsubscribe ends one subscription, and tells the others when that
// was the user's last connection in a presence channel.
func (a *App) unsubscribe(c *transport.Conn, s *session, name string) {
	i := slices.IndexFunc(s.subs, func(sub *subscription) bool { return sub.name == name })
	if i < 0 {
		return
	}
	sub := s.subs[i]
	s.subs = slices.Delete(s.subs, i, i+1)
	sub.feed.Stop()
	a.channels.leave(sub.local)
	ctx := context.Background()
	left, err := a.state.Leave(ctx, name, s.socketID, sub.member)
	if err != nil {
		c.Log(slog.LevelWarn, "unsubscription state unavailable", "channel", name, "err", err)
		return
	}
	uid := ""
	if sub.member != nil {
		uid = sub.member.UserID
	}
	a.left(ctx, name, uid, left)
}

// Closed implements transport.Protocol: every subscription ends.
func (a *App) Closed(c *transport.Conn) {
	s, ok := c.Session.(*session)
	if !ok {
		return // refused before the session began
	}
	for len(s.subs) > 0 {
		a.unsubscribe(c, s, s.subs[len(s.subs)-1].name)
	}
	if s.signedIn != nil && s.userID == "" {
		close(s.signedIn) // ends awaitSignin now rather than at its timeout
	}
	if s.userID != "" {
		a.mu.Lock()
		delete(a.users[s.userID], c)
		if len(a.users[s.userID]) == 0 {
			delete(a.users, s.userID)
		}
		a.mu.Unlock()
	}
}

// signin handles pusher:signin: a signed user_data makes the connection
// that user's, reachable by user events and terminations.
func (a *App) signin(c *transport.Conn, s *session, f wire.Frame) error {
	in, err := wire.ParseSignin(f.Data)
	if err != nil {
		return c.Send(wire.AppendError(nil, wire.CodeBadFrame, err.Error()))
	}
	if err := auth.VerifyUser(a.cfg.PusherAppKey, a.cfg.PusherAppSecret, s.socketID, in.UserData, in.Auth); err != nil {
		return c.Send(wire.AppendError(nil, wire.CodeBadFrame, "signin refused: "+err.Error()))
	}
	user, err := wire.ParseUserData(in.UserData)
	if err != nil {
		return c.Send(wire.AppendError(nil, wire.CodeBadFrame, "signin refused: "+err.Error()))
	}
	if s.userID != "" && s.userID != user.ID {
		return c.Send(wire.AppendError(nil, wire.CodeBadFrame, "signin refused: this connection is already signed in as another user"))
	}
	if s.userID == "" {
		s.userID, s.userInfo = user.ID, user.Info
		a.mu.Lock()
		if a.users[user.ID] == nil {
			a.users[user.ID] = make(map[*transport.Conn]struct{})
		}
		a.users[user.ID][c] = struct{}{}
		a.mu.Unlock()
		if s.signedIn != nil {
			close(s.signedIn)
		}
	}
	return c.Send(wire.AppendSigninSuccess(nil, in.UserData))
}

// clientEvent relays a client- event to the channel's other subscribers,
// when client events are on and the sender is subscribed to the private or
// presence channel it names.
func (a *App) clientEvent(c *transport.Conn, s *session, f wire.Frame) error {
	refuse := func(msg string) error { return c.Send(wire.AppendError(nil, wire.CodeClientEventRejected, msg)) }
	if !a.cfg.PusherClientEvents {
		return refuse("client events are not enabled for this app (PUSHER_CLIENT_EVENTS)")
	}
	sub := s.sub(f.Channel)
	if sub == nil {
		return refuse(fmt.Sprintf("client event on %q: not subscribed to that channel", truncate(f.Channel, 64)))
	}
	switch wire.KindOf(f.Channel) {
	case wire.Private, wire.Presence:
	default:
		return refuse("client events are only accepted on private and presence channels")
	}
	if err := wire.ValidEvent(f.Event); err != nil {
		return refuse(err.Error())
	}
	if len(f.Data) > a.cfg.PusherMaxEventBytes {
		return refuse(fmt.Sprintf("event data is %d bytes, over the %d allowed (PUSHER_MAX_EVENT_BYTES)", len(f.Data), a.cfg.PusherMaxEventBytes))
	}
	if a.cfg.PusherClientEventRate > 0 && s.limiter == nil {
		// Made on the first client event: most connections never send one.
		s.limiter = rate.NewLimiter(rate.Limit(a.cfg.PusherClientEventRate), max(1, int(a.cfg.PusherClientEventRate)))
	}
	if s.limiter != nil && !s.limiter.Allow() {
		msg := "client event rate limit exceeded (PUSHER_CLIENT_EVENT_RATE)"
		return a.refuse(c, wire.CodeClientEventRate, msg)
	}
	userID := ""
	if sub.member != nil {
		userID = sub.member.UserID
	}
	ctx := context.Background()
	if err := a.publish(ctx, f.Channel, wire.AppendEvent(nil, f.Event, f.Channel, f.Data, false, userID), s.socketID); err != nil {
		return refuse("client event not delivered: " + err.Error())
	}
	a.metrics.clientEvents.Inc()
	a.hook(webhook.Event{Name: webhook.ClientEvent, Channel: f.Channel, Event: f.Event, Data: string(f.Data), SocketID: s.socketID, UserID: userID})
	return nil
}

// truncate keeps error messages that echo client input short.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
