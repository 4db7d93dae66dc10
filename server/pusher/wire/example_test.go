package wire_test

import (
	"fmt"

	"github.com/wsfargate/websocket-service/server/pusher/wire"
)

// A client event on a presence channel is relayed with the sender's user
// id added and its data exactly as the client sent it.
func Example() {
	f, err := wire.ParseFrame([]byte(`{"event":"client-typing","channel":"presence-room","data":{"typing":true}}`))
	if err != nil {
		fmt.Println(wire.AppendError(nil, wire.CodeBadFrame, err.Error()))
		return
	}
	if wire.IsClientEvent(f.Event) && wire.KindOf(f.Channel).RequiresAuth() {
		fmt.Printf("%s\n", wire.AppendEvent(nil, f.Event, f.Channel, f.Data, false, "42"))
	}
	// Output: {"event":"client-typing","channel":"presence-room","data":{"typing":true},"user_id":"42"}
}

// An event published through the HTTP API carries its data as a string.
func ExampleAppendEvent() {
	fmt.Printf("%s\n", wire.AppendEvent(nil, "my-event", "my-channel", []byte(`{"message":"hello"}`), true, ""))
	// Output: {"event":"my-event","channel":"my-channel","data":"{\"message\":\"hello\"}"}
}

func ExampleParseFrame_badFrame() {
	_, err := wire.ParseFrame([]byte(`{"data":{}}`))
	fmt.Printf("%s\n", wire.AppendError(nil, wire.CodeBadFrame, err.Error()))
	// Output: {"event":"pusher:error","data":{"message":"missing event: the frame has no event name"}}
}

func ExampleAppendSubscriptionSucceeded() {
	members := []wire.Member{{UserID: "1", UserInfo: []byte(`{"name":"Ann"}`)}}
	fmt.Printf("%s\n", wire.AppendSubscriptionSucceeded(nil, "presence-room", members))
	fmt.Printf("%s\n", wire.AppendSubscriptionSucceeded(nil, "private-room", nil))
	// Output:
	// {"event":"pusher_internal:subscription_succeeded","channel":"presence-room","data":"{\"presence\":{\"ids\":[\"1\"],\"hash\":{\"1\":{\"name\":\"Ann\"}},\"count\":1}}"}
	// {"event":"pusher_internal:subscription_succeeded","channel":"private-room","data":"{}"}
}

func ExampleParsePresenceData() {
	m, _ := wire.ParsePresenceData(`{"user_id":10,"user_info":{"name":"Mr. Pusher"}}`)
	fmt.Printf("%q %s\n", m.UserID, m.UserInfo)
	// Output: "10" {"name":"Mr. Pusher"}
}
