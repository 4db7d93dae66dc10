package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/wsfargate/websocket-service/server/pusher/webhook"
)

// A receiver checks the signature before it trusts the body.
func Example() {
	const secret = "the-app-secret-1234"
	got := make(chan webhook.Payload, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !webhook.Verify(secret, body, r.Header.Get("X-Pusher-Signature")) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			got <- webhook.Payload{} // prints nothing, so the example fails
			return
		}
		var p webhook.Payload
		_ = json.Unmarshal(body, &p)
		got <- p
	}))
	defer receiver.Close()

	s := webhook.New(webhook.Config{
		URL:    receiver.URL,
		Key:    "the-app-key",
		Secret: secret,
		Events: []string{webhook.ChannelOccupied, webhook.MemberAdded},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()

	s.Enqueue(webhook.Event{Name: webhook.ChannelOccupied, Channel: "presence-room"})
	s.Enqueue(webhook.Event{Name: webhook.MemberAdded, Channel: "presence-room", UserID: "42"})
	s.Enqueue(webhook.Event{Name: webhook.ChannelVacated, Channel: "presence-room"}) // not asked for

	for _, e := range (<-got).Events { // both within one BatchWait: one POST
		fmt.Printf("%s %s %q\n", e.Name, e.Channel, e.UserID)
	}
	cancel()
	fmt.Println(<-done)
	// Output:
	// channel_occupied presence-room ""
	// member_added presence-room "42"
	// <nil>
}
