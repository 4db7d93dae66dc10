package webhook_test

import (
	"encoding/json"
	"testing"

	"github.com/wsfargate/websocket-service/server/pusher/webhook"
)

func TestEventJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   webhook.Event
		want string
	}{
		{"occupied drops fields it has not", webhook.Event{Name: "channel_occupied", Channel: "c", Event: "e", Data: "d", SocketID: "1.1", UserID: "u", SubscriptionCount: 3}, `{"name":"channel_occupied","channel":"c"}`},
		{"member keeps an empty user id", webhook.Event{Name: "member_removed", Channel: "presence-c"}, `{"name":"member_removed","channel":"presence-c","user_id":""}`},
		{"client event on a private channel", webhook.Event{Name: "client_event", Channel: "private-c", Event: "client-e", Data: `{"a":1}`, SocketID: "1.2"}, `{"name":"client_event","channel":"private-c","event":"client-e","data":"{\"a\":1}","socket_id":"1.2"}`},
		{"subscription count is a number", webhook.Event{Name: "subscription_count", Channel: "c", SubscriptionCount: 12}, `{"name":"subscription_count","channel":"c","subscription_count":12}`},
		{"unknown name keeps what is set", webhook.Event{Name: "future_event", Channel: "c", UserID: "u"}, `{"name":"future_event","channel":"c","user_id":"u"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// Decoding a body into Payload gives back the events that were sent.
func TestPayloadRoundTrip(t *testing.T) {
	in := webhook.Payload{TimeMS: 1327078148132, Events: []webhook.Event{
		{Name: "member_added", Channel: "presence-x", UserID: "1"},
		{Name: "client_event", Channel: "presence-x", Event: "client-y", Data: "<string>", SocketID: "1.2", UserID: "1"},
	}}
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out webhook.Payload
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	if out.TimeMS != in.TimeMS || len(out.Events) != 2 || out.Events[0] != in.Events[0] || out.Events[1] != in.Events[1] {
		t.Errorf("round trip: got %+v, want %+v", out, in)
	}
}
