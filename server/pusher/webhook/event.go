package webhook

import "encoding/json"

// The event names Pusher documents for webhooks. Config.Events takes these.
const (
	ChannelOccupied   = "channel_occupied"
	ChannelVacated    = "channel_vacated"
	MemberAdded       = "member_added"
	MemberRemoved     = "member_removed"
	ClientEvent       = "client_event"
	CacheMiss         = "cache_miss"
	SubscriptionCount = "subscription_count"
)

// Names lists every event name the Sender accepts in Config.Events.
func Names() []string {
	return []string{ChannelOccupied, ChannelVacated, MemberAdded, MemberRemoved, ClientEvent, CacheMiss, SubscriptionCount}
}

// Event is one entry of a webhook's "events" array.
//
// Which fields go on the wire depends on Name, as Pusher documents them:
//
//	channel_occupied, channel_vacated, cache_miss: name, channel
//	member_added, member_removed:                  name, channel, user_id
//	client_event:                                  name, channel, event, data, socket_id, and user_id on presence channels
//	subscription_count:                            name, channel, subscription_count (a number)
//
// Fields that do not belong to Name are left out even when set, so a caller's
// mistake cannot leak, say, a socket id into channel_occupied. The struct tags
// describe the same shape for decoding.
type Event struct {
	Name     string `json:"name"`
	Channel  string `json:"channel"`
	Event    string `json:"event,omitempty"`
	Data     string `json:"data,omitempty"` // client_event: the event's data as a string, as Pusher sends it
	SocketID string `json:"socket_id,omitempty"`
	UserID   string `json:"user_id,omitempty"`
	// SubscriptionCount is only sent with subscription_count, which Pusher
	// never sends with zero (a channel going to zero is channel_vacated).
	SubscriptionCount int `json:"subscription_count,omitempty"`
}

// Payload is the body of one webhook POST.
type Payload struct {
	// TimeMS is when the webhook was created, in Unix milliseconds. Retries
	// resend the same body, so a receiver can tell a late delivery.
	TimeMS int64   `json:"time_ms"`
	Events []Event `json:"events"`
}

// wireEvent has a pointer where a field must be present even when empty, so
// that omitempty leaves out exactly the fields Pusher leaves out.
type wireEvent struct {
	Name              string  `json:"name"`
	Channel           string  `json:"channel"`
	Event             *string `json:"event,omitempty"`
	Data              *string `json:"data,omitempty"`
	SocketID          *string `json:"socket_id,omitempty"`
	UserID            *string `json:"user_id,omitempty"`
	SubscriptionCount *int    `json:"subscription_count,omitempty"`
}

// MarshalJSON writes the fields Pusher sends for e.Name and no others.
func (e Event) MarshalJSON() ([]byte, error) {
	w := wireEvent{Name: e.Name, Channel: e.Channel}
	switch e.Name {
	case ChannelOccupied, ChannelVacated, CacheMiss:
	case MemberAdded, MemberRemoved:
		w.UserID = &e.UserID
	case ClientEvent:
		w.Event, w.Data, w.SocketID = &e.Event, &e.Data, &e.SocketID
		if e.UserID != "" { // only presence channels have a user
			w.UserID = &e.UserID
		}
	case SubscriptionCount:
		w.SubscriptionCount = &e.SubscriptionCount
	default:
		// A name this package does not know: keep whatever was set.
		w.Event, w.Data, w.SocketID, w.UserID = nonEmpty(e.Event), nonEmpty(e.Data), nonEmpty(e.SocketID), nonEmpty(e.UserID)
		if e.SubscriptionCount != 0 {
			w.SubscriptionCount = &e.SubscriptionCount
		}
	}
	return json.Marshal(w)
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// eventOverhead approximates what one queued event costs beyond its strings:
// the struct in the queue's buffer and its JSON punctuation.
const eventOverhead = 128

// size is what an event counts against Config.MaxQueueBytes.
func (e *Event) size() int64 {
	return int64(eventOverhead + len(e.Name) + len(e.Channel) + len(e.Event) + len(e.Data) + len(e.SocketID) + len(e.UserID))
}
