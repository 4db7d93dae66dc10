package pusher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wsfargate/websocket-service/server/pusher/auth"
	"github.com/wsfargate/websocket-service/server/pusher/wire"
)

// API limits, as Pusher documents them.
const (
	maxTriggerChannels = 100 // channels in one POST events
	maxBatchEvents     = 10  // events in one POST batch_events
)

// apiError is an HTTP API refusal: its status and a message for the caller.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// api serves /apps/{app}/...: every request is signed with the app secret
// (Pusher's request signature), its body bounded by PUSHER_MAX_API_BODY,
// and every answer is JSON.
func (a *App) api() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern, name string, h func(r *http.Request, body []byte) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { a.serveAPI(w, r, name, h) })
	}
	p := "/apps/{app}/"
	route("POST "+p+"events", "events", a.trigger)
	route("POST "+p+"batch_events", "batch_events", a.triggerBatch)
	route("GET "+p+"channels", "channels", a.listChannels)
	route("GET "+p+"channels/{channel}", "channel", a.channelInfo)
	route("GET "+p+"channels/{channel}/users", "users", a.channelUsers)
	route("POST "+p+"users/{user}/terminate_connections", "terminate", a.terminate)
	mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
		a.metrics.api.WithLabelValues("unknown", "404").Inc()
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return mux
}

// serveAPI authenticates the request, runs h and writes its answer.
func (a *App) serveAPI(w http.ResponseWriter, r *http.Request, name string, h func(*http.Request, []byte) (any, error)) {
	if !a.srv.AdmitAPI(w, r) {
		a.metrics.api.WithLabelValues(name, "429").Inc()
		return
	}
	out, err := a.authenticated(w, r, h)
	status := http.StatusOK
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			a.logger.Warn("HTTP API request failed", "endpoint", name, "err", err)
			ae = &apiError{http.StatusServiceUnavailable, "the request could not be completed: " + err.Error()}
		}
		status, out = ae.status, map[string]string{"error": ae.msg}
	}
	a.metrics.api.WithLabelValues(name, strconv.Itoa(status)).Inc()
	writeJSON(w, status, out)
}

func (a *App) authenticated(w http.ResponseWriter, r *http.Request, h func(*http.Request, []byte) (any, error)) (any, error) {
	if r.PathValue("app") != a.cfg.PusherAppID {
		return nil, &apiError{http.StatusNotFound, "unknown app id"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.PusherMaxAPIBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes (PUSHER_MAX_API_BODY)", a.cfg.PusherMaxAPIBody)}
		}
		return nil, badRequest("reading the request body: %v", err)
	}
	if err := auth.VerifyRequest(r.Method, r.URL.Path, r.URL.Query(), body, a.cfg.PusherAppKey, a.cfg.PusherAppSecret, time.Now()); err != nil {
		return nil, &apiError{http.StatusUnauthorized, err.Error()}
	}
	return h(r, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// event is one event to trigger, as POST events and batch_events take it.
type event struct {
	Name     string   `json:"name"`
	Data     *string  `json:"data"`
	Channel  string   `json:"channel"`
	Channels []string `json:"channels"`
	SocketID string   `json:"socket_id"`
	Info     string   `json:"info"`
}

// channelInfo is a channel's attributes in an answer, each present only
// when asked for.
type channelAttributes struct {
	Occupied          *bool `json:"occupied,omitempty"`
	SubscriptionCount *int  `json:"subscription_count,omitempty"`
	UserCount         *int  `json:"user_count,omitempty"`
}

// check validates an event and returns the channels it goes to.
func (a *App) check(e *event, batch bool) ([]string, error) {
	if err := wire.ValidEvent(e.Name); err != nil {
		return nil, badRequest("name: %v", err)
	}
	if e.Data == nil {
		return nil, badRequest("data: required (a string)")
	}
	if len(*e.Data) > a.cfg.PusherMaxEventBytes {
		return nil, &apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf("data is %d bytes, over the %d allowed (PUSHER_MAX_EVENT_BYTES)", len(*e.Data), a.cfg.PusherMaxEventBytes)}
	}
	channels := e.Channels
	switch {
	case e.Channel != "" && len(e.Channels) > 0:
		return nil, badRequest("give channel or channels, not both")
	case e.Channel != "":
		channels = []string{e.Channel}
	case batch && len(channels) > 0:
		return nil, badRequest("a batch event takes one channel")
	case len(channels) == 0:
		return nil, badRequest("channels: at least one channel is required")
	case len(channels) > maxTriggerChannels:
		return nil, badRequest("channels: at most %d per request", maxTriggerChannels)
	}
	for _, ch := range channels {
		if wire.KindOf(ch) == wire.ServerToUser {
			// sendToUser in the SDKs publishes to the user's channel.
			if _, ok := wire.UserChannelID(ch); !ok {
				return nil, badRequest("channel %q: not a valid user channel", truncate(ch, 64))
			}
		} else if err := wire.ValidChannel(ch); err != nil {
			return nil, badRequest("channel %q: %v", truncate(ch, 64), err)
		}
		if wire.KindOf(ch) == wire.PrivateEncrypted && len(channels) > 1 {
			return nil, badRequest("an event to an encrypted channel must name that channel alone")
		}
	}
	if e.SocketID != "" && !wire.ValidSocketID(e.SocketID) {
		return nil, badRequest("socket_id %q is not a socket id", truncate(e.SocketID, 64))
	}
	return channels, nil
}

// send publishes a checked event to its channels and answers the info
// asked for.
func (a *App) send(ctx context.Context, e *event, channels []string) (map[string]channelAttributes, error) {
	for _, ch := range channels {
		frame := wire.AppendEvent(nil, e.Name, ch, []byte(*e.Data), true, "")
		if err := a.publish(ctx, ch, frame, e.SocketID); err != nil {
			return nil, fmt.Errorf("publish to %s: %w", ch, err)
		}
	}
	if e.Info == "" {
		return nil, nil
	}
	info := make(map[string]channelAttributes, len(channels))
	for _, ch := range channels {
		attrs, err := a.attributes(ctx, ch, e.Info)
		if err != nil {
			return nil, err
		}
		info[ch] = attrs
	}
	return info, nil
}

// trigger is POST /apps/{app}/events.
func (a *App) trigger(r *http.Request, body []byte) (any, error) {
	var e event
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, badRequest("body: %v", err)
	}
	channels, err := a.check(&e, false)
	if err != nil {
		return nil, err
	}
	info, err := a.send(r.Context(), &e, channels)
	if err != nil {
		return nil, err
	}
	if info == nil {
		return struct{}{}, nil
	}
	return map[string]any{"channels": info}, nil
}

// triggerBatch is POST /apps/{app}/batch_events. Every event is checked
// before any is sent, so a bad one refuses the whole batch.
func (a *App) triggerBatch(r *http.Request, body []byte) (any, error) {
	var in struct {
		Batch []event `json:"batch"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, badRequest("body: %v", err)
	}
	if len(in.Batch) == 0 || len(in.Batch) > maxBatchEvents {
		return nil, badRequest("batch: from 1 to %d events", maxBatchEvents)
	}
	targets := make([][]string, len(in.Batch))
	withInfo := false
	for i := range in.Batch {
		channels, err := a.check(&in.Batch[i], true)
		if err != nil {
			return nil, badRequest("batch[%d]: %v", i, err)
		}
		targets[i] = channels
		withInfo = withInfo || in.Batch[i].Info != ""
	}
	out := make([]channelAttributes, len(in.Batch))
	for i := range in.Batch {
		info, err := a.send(r.Context(), &in.Batch[i], targets[i])
		if err != nil {
			return nil, err
		}
		out[i] = info[targets[i][0]]
	}
	if !withInfo {
		return struct{}{}, nil
	}
	return map[string]any{"batch": out}, nil
}

// attributes answers the info asked for a channel: a comma-separated list
// of subscription_count and user_count (presence channels only).
func (a *App) attributes(ctx context.Context, channel, info string) (channelAttributes, error) {
	var attrs channelAttributes
	if info == "" {
		return attrs, nil
	}
	st, err := a.state.Channel(ctx, channel)
	if err != nil {
		return attrs, err
	}
	for _, field := range strings.Split(info, ",") {
		switch strings.TrimSpace(field) {
		case "subscription_count":
			attrs.SubscriptionCount = &st.Subscriptions
		case "user_count":
			if wire.KindOf(channel) != wire.Presence {
				return attrs, badRequest("info=user_count is only for presence channels")
			}
			attrs.UserCount = &st.Users
		case "":
		default:
			return attrs, badRequest("info: unknown attribute %q; want subscription_count or user_count", truncate(field, 32))
		}
	}
	return attrs, nil
}

// listChannels is GET /apps/{app}/channels.
func (a *App) listChannels(r *http.Request, _ []byte) (any, error) {
	q := r.URL.Query()
	prefix, info := q.Get("filter_by_prefix"), q.Get("info")
	if info != "" && info != "user_count" {
		return nil, badRequest("info: only user_count is available when listing channels")
	}
	if info == "user_count" && !strings.HasPrefix(prefix, "presence-") {
		return nil, badRequest("info=user_count needs filter_by_prefix=presence-")
	}
	all, err := a.state.Channels(r.Context(), prefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]channelAttributes, len(all))
	for name, st := range all {
		var attrs channelAttributes
		if info == "user_count" {
			attrs.UserCount = &st.Users
		}
		out[name] = attrs
	}
	return map[string]any{"channels": out}, nil
}

// channelInfo is GET /apps/{app}/channels/{channel}.
func (a *App) channelInfo(r *http.Request, _ []byte) (any, error) {
	name := r.PathValue("channel")
	if err := wire.ValidChannel(name); err != nil {
		return nil, badRequest("channel: %v", err)
	}
	attrs, err := a.attributes(r.Context(), name, r.URL.Query().Get("info"))
	if err != nil {
		return nil, err
	}
	st, err := a.state.Channel(r.Context(), name)
	if err != nil {
		return nil, err
	}
	occupied := st.Subscriptions > 0
	attrs.Occupied = &occupied
	return attrs, nil
}

// channelUsers is GET /apps/{app}/channels/{channel}/users.
func (a *App) channelUsers(r *http.Request, _ []byte) (any, error) {
	name := r.PathValue("channel")
	if err := wire.ValidChannel(name); err != nil {
		return nil, badRequest("channel: %v", err)
	}
	if wire.KindOf(name) != wire.Presence {
		return nil, badRequest("users are only listed for presence channels")
	}
	members, err := a.state.Members(r.Context(), name)
	if err != nil {
		return nil, err
	}
	type user struct {
		ID string `json:"id"`
	}
	users := make([]user, len(members))
	for i, m := range members {
		users[i] = user{m.UserID}
	}
	return map[string]any{"users": users}, nil
}

// terminate is POST /apps/{app}/users/{user}/terminate_connections.
func (a *App) terminate(r *http.Request, _ []byte) (any, error) {
	id := r.PathValue("user")
	if id == "" || len(id) > 200 {
		return nil, badRequest("user id: from 1 to 200 characters")
	}
	if err := a.bus.Terminate(r.Context(), id); err != nil {
		return nil, err
	}
	a.logger.Info("user connections terminated through the API", slog.String("user", id))
	return struct{}{}, nil
}
