package pusher_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsfargate/websocket-service/server/pusher/auth"
	"github.com/wsfargate/websocket-service/server/pusher/webhook"
)

func TestConnectionEstablished(t *testing.T) {
	a := startApp(t, nil)
	c := dialURL(t, a.WS)
	f := c.next("pusher:connection_established")
	var est struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}
	// The protocol sends data as a JSON-encoded string.
	var s string
	if err := json.Unmarshal(f.Data, &s); err != nil {
		t.Fatalf("data %s is not a JSON string: %v", f.Data, err)
	}
	if err := json.Unmarshal([]byte(s), &est); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d+\.\d+$`).MatchString(est.SocketID) || est.ActivityTimeout != 120 {
		t.Fatalf("socket_id %q activity_timeout %d", est.SocketID, est.ActivityTimeout)
	}
	other := a.dial(t)
	if other.SocketID == est.SocketID {
		t.Fatal("two connections got the same socket_id")
	}
}

func TestConnectionRefusals(t *testing.T) {
	a := startApp(t, nil)
	base := strings.TrimSuffix(a.WS, "/app/"+appKey+"?protocol=7&client=go-test&version=1")
	tests := []struct {
		name string
		path string
		code websocket.StatusCode
	}{
		{"unknown key", "/app/otherkey?protocol=7", 4001},
		{"old protocol", "/app/" + appKey + "?protocol=6", 4007},
		{"no protocol", "/app/" + appKey, 4007},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialURL(t, base+tt.path)
			f := c.next("pusher:error")
			var e struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(f.data(), &e); err != nil || e.Code != int(tt.code) || e.Message == "" {
				t.Fatalf("pusher:error %s, want code %d with a message", f.Data, tt.code)
			}
			c.closedWith(tt.code)
		})
	}
}

func TestPingPong(t *testing.T) {
	a := startApp(t, nil)
	c := a.dial(t)
	c.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	c.next("pusher:pong")
}

// The keepalive sweep asks Pusher clients in the protocol's own terms too,
// and closes one that answers neither with 4201.
func TestServerPingAndPongTimeout(t *testing.T) {
	a := startApp(t, map[string]string{"PING_INTERVAL": "300ms", "PING_TIMEOUT": "200ms"})
	c := a.dial(t)
	c.next("pusher:ping")
	c.send(map[string]any{"event": "pusher:pong", "data": map[string]any{}})
	c.next("pusher:ping") // still connected a round later

	// A client that reads nothing answers no WebSocket ping either.
	silent, _, err := websocket.Dial(testContext(t, 5*time.Second), a.WS, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.CloseNow()
	time.Sleep(800 * time.Millisecond)
	// Reading now answers pings too late: the close is already on its way.
	for {
		_, _, err := silent.Read(testContext(t, 5*time.Second))
		if err != nil {
			if code := websocket.CloseStatus(err); code != 4201 {
				t.Fatalf("closed with %d (%v), want 4201", code, err)
			}
			return
		}
	}
}

func TestPublicChannelAndSocketExclusion(t *testing.T) {
	a := startApp(t, nil)
	c1, c2 := a.dial(t), a.dial(t)
	for _, c := range []*client{c1, c2} {
		c.subscribe("news", "")
		f := c.next("pusher_internal:subscription_succeeded")
		if f.Channel != "news" {
			t.Fatalf("succeeded on %q", f.Channel)
		}
	}
	a.trigger(t, "news", "headline", `{"n":1}`, nil)
	for _, c := range []*client{c1, c2} {
		f := c.next("headline")
		if f.Channel != "news" || string(f.data()) != `{"n":1}` {
			t.Fatalf("event %+v data %s", f, f.data())
		}
	}
	a.trigger(t, "news", "headline", `{"n":2}`, map[string]any{"socket_id": c1.SocketID})
	if f := c2.next("headline"); string(f.data()) != `{"n":2}` {
		t.Fatalf("data %s", f.data())
	}
	c1.quiet(200 * time.Millisecond)
}

func TestPrivateChannelAuthorization(t *testing.T) {
	a := startApp(t, nil)
	c := a.dial(t)
	c.subscribe("private-orders", "")
	c.next("pusher_internal:subscription_succeeded")

	tests := []struct {
		name string
		auth string
	}{
		{"no auth", ""},
		{"forged signature", appKey + ":" + strings.Repeat("ab", 32)},
		{"other key", "otherkey:" + strings.Repeat("ab", 32)},
		{"malformed", "nocolon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := map[string]string{"channel": "private-secret"}
			if tt.auth != "" {
				data["auth"] = tt.auth
			}
			c.send(map[string]any{"event": "pusher:subscribe", "data": data})
			f := c.next("pusher:subscription_error")
			var e struct {
				Type   string `json:"type"`
				Error  string `json:"error"`
				Status int    `json:"status"`
			}
			if err := json.Unmarshal(f.data(), &e); err != nil || e.Status != 401 || e.Error == "" || f.Channel != "private-secret" {
				t.Fatalf("subscription_error %s on %q, want status 401 with a message", f.Data, f.Channel)
			}
		})
	}
	// The connection is still up and still subscribed where it was allowed.
	a.trigger(t, "private-orders", "shipped", `"x"`, nil)
	c.next("shipped")
}

func TestPresenceCountsUsersNotConnections(t *testing.T) {
	a := startApp(t, nil)
	const ch = "presence-room"
	observer := a.dial(t)
	observer.subscribe(ch, presenceData("observer", nil))
	observer.next("pusher_internal:subscription_succeeded")

	alice1 := a.dial(t)
	alice1.subscribe(ch, presenceData("alice", map[string]string{"name": "Alice"}))
	f := alice1.next("pusher_internal:subscription_succeeded")
	var p struct {
		Presence struct {
			IDs   []string                   `json:"ids"`
			Hash  map[string]json.RawMessage `json:"hash"`
			Count int                        `json:"count"`
		} `json:"presence"`
	}
	if err := json.Unmarshal(f.data(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Presence.Count != 2 || len(p.Presence.IDs) != 2 || string(p.Presence.Hash["alice"]) != `{"name":"Alice"}` {
		t.Fatalf("presence %+v", p.Presence)
	}
	added := observer.next("pusher_internal:member_added")
	if string(added.data()) != `{"user_id":"alice","user_info":{"name":"Alice"}}` {
		t.Fatalf("member_added %s", added.data())
	}

	// Alice's second tab, then Bob: one member_added, for Bob.
	alice2 := a.dial(t)
	alice2.subscribe(ch, presenceData("alice", map[string]string{"name": "Alice"}))
	alice2.next("pusher_internal:subscription_succeeded")
	bob := a.dial(t)
	bob.subscribe(ch, presenceData("bob", nil))
	bob.next("pusher_internal:subscription_succeeded")
	if f := observer.next("pusher_internal:member_added"); !strings.Contains(string(f.data()), `"bob"`) {
		t.Fatalf("member_added %s, want bob", f.data())
	}
	code, out := a.api(t, "GET", "/channels/"+ch, map[string][]string{"info": {"user_count,subscription_count"}}, nil, appSecret)
	if code != 200 || out["user_count"] != 3.0 || out["subscription_count"] != 4.0 || out["occupied"] != true {
		t.Fatalf("channel info %d %v, want 3 users on 4 subscriptions", code, out)
	}

	// Alice closes one tab: nothing. Then the other: member_removed once.
	_ = alice1.conn.Close(websocket.StatusNormalClosure, "")
	observer.quiet(300 * time.Millisecond)
	_ = alice2.conn.Close(websocket.StatusNormalClosure, "")
	if f := observer.next("pusher_internal:member_removed"); string(f.data()) != `{"user_id":"alice"}` {
		t.Fatalf("member_removed %s", f.data())
	}
	observer.quiet(200 * time.Millisecond)
	code, out = a.api(t, "GET", "/channels/"+ch+"/users", nil, nil, appSecret)
	if code != 200 || mustJSON(out["users"]) != `[{"id":"bob"},{"id":"observer"}]` {
		t.Fatalf("users %d %v", code, out)
	}
}

func TestPresenceMemberCap(t *testing.T) {
	a := startApp(t, map[string]string{"PUSHER_MAX_PRESENCE_MEMBERS": "2"})
	for _, id := range []string{"a", "b", "a"} { // a second connection of a fits
		c := a.dial(t)
		c.subscribe("presence-small", presenceData(id, nil))
		c.next("pusher_internal:subscription_succeeded")
	}
	c := a.dial(t)
	c.subscribe("presence-small", presenceData("c", nil))
	f := c.next("pusher:subscription_error")
	if !strings.Contains(string(f.data()), "full") {
		t.Fatalf("subscription_error %s", f.data())
	}
}

func TestClientEvents(t *testing.T) {
	a := startApp(t, nil)
	sender, receiver := a.dial(t), a.dial(t)
	for _, c := range []*client{sender, receiver} {
		c.subscribe("private-chat", "")
		c.next("pusher_internal:subscription_succeeded")
		c.subscribe("presence-chat", presenceData("u-"+c.SocketID, nil))
		c.next("pusher_internal:subscription_succeeded")
		c.subscribe("public", "")
		c.next("pusher_internal:subscription_succeeded")
	}
	sender.next("pusher_internal:member_added") // the receiver joined after

	sender.send(map[string]any{"event": "client-typing", "channel": "private-chat", "data": map[string]any{"on": true}})
	if f := receiver.next("client-typing"); string(f.data()) != `{"on":true}` || f.UserID != "" {
		t.Fatalf("client event %+v", f)
	}
	sender.send(map[string]any{"event": "client-typing", "channel": "presence-chat", "data": map[string]any{"on": true}})
	if f := receiver.next("client-typing"); f.UserID != "u-"+sender.SocketID {
		t.Fatalf("presence client event user_id %q, want the sender's", f.UserID)
	}
	sender.quiet(200 * time.Millisecond) // never echoed

	tests := []struct {
		name  string
		frame map[string]any
	}{
		{"public channel", map[string]any{"event": "client-x", "channel": "public", "data": "{}"}},
		{"not subscribed", map[string]any{"event": "client-x", "channel": "private-other", "data": "{}"}},
		{"oversized", map[string]any{"event": "client-x", "channel": "private-chat", "data": strings.Repeat("x", 10241)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sender.send(tt.frame)
			sender.next("pusher:error")
		})
	}
	receiver.quiet(200 * time.Millisecond)
}

func TestClientEventsOffByDefault(t *testing.T) {
	a := startApp(t, map[string]string{"PUSHER_CLIENT_EVENTS": "false"})
	c := a.dial(t)
	c.subscribe("private-chat", "")
	c.next("pusher_internal:subscription_succeeded")
	c.send(map[string]any{"event": "client-x", "channel": "private-chat", "data": "{}"})
	if f := c.next("pusher:error"); !strings.Contains(string(f.data()), "PUSHER_CLIENT_EVENTS") {
		t.Fatalf("error %s", f.data())
	}
}

func TestClientEventRateLimit(t *testing.T) {
	a := startApp(t, map[string]string{"PUSHER_CLIENT_EVENT_RATE": "2"})
	c := a.dial(t)
	c.subscribe("private-chat", "")
	c.next("pusher_internal:subscription_succeeded")
	for range 5 {
		// The server may close before the last ones are written.
		_ = c.conn.Write(testContext(t, 5*time.Second), websocket.MessageText, []byte(`{"event":"client-x","channel":"private-chat","data":"{}"}`))
	}
	c.closedWith(4301)
}

func TestCacheChannel(t *testing.T) {
	a := startApp(t, nil)
	c := a.dial(t)
	c.subscribe("cache-prices", "")
	c.next("pusher_internal:subscription_succeeded")
	if f := c.next("pusher:cache_miss"); f.Channel != "cache-prices" {
		t.Fatalf("cache_miss on %q", f.Channel)
	}
	a.trigger(t, "cache-prices", "price", `{"v":1}`, nil)
	a.trigger(t, "cache-prices", "price", `{"v":2}`, nil)
	c.next("price")
	c.next("price")

	late := a.dial(t)
	late.subscribe("cache-prices", "")
	late.next("pusher_internal:subscription_succeeded")
	if f := late.next("price"); string(f.data()) != `{"v":2}` {
		t.Fatalf("replayed %s, want the last event", f.data())
	}
	late.quiet(200 * time.Millisecond)
}

func TestSigninUserEventsAndTermination(t *testing.T) {
	a := startApp(t, nil)
	signin := func(c *client, id string) {
		userData := mustJSON(map[string]any{"id": id, "user_info": map[string]string{"name": id}})
		c.send(map[string]any{"event": "pusher:signin", "data": map[string]string{
			"user_data": userData, "auth": appKey + ":" + auth.SignUser(appSecret, c.SocketID, userData),
		}})
		c.next("pusher:signin_success")
		c.subscribe("#server-to-user-"+id, "")
		c.next("pusher_internal:subscription_succeeded")
	}
	tab1, tab2, other := a.dial(t), a.dial(t), a.dial(t)
	signin(tab1, "carol")
	signin(tab2, "carol")
	signin(other, "dave")

	a.trigger(t, "#server-to-user-carol", "notice", `{"hi":1}`, nil)
	tab1.next("notice")
	tab2.next("notice")
	other.quiet(200 * time.Millisecond)

	// A connection cannot listen to another user's channel.
	other.subscribe("#server-to-user-carol", "")
	other.next("pusher:subscription_error")

	// A forged signin is refused and the connection stays up.
	other.send(map[string]any{"event": "pusher:signin", "data": map[string]string{
		"user_data": `{"id":"carol"}`, "auth": appKey + ":" + strings.Repeat("00", 32),
	}})
	other.next("pusher:error")

	if code, out := a.api(t, "POST", "/users/carol/terminate_connections", nil, map[string]any{}, appSecret); code != 200 {
		t.Fatalf("terminate: %d %v", code, out)
	}
	tab1.closedWith(4009)
	tab2.closedWith(4009)
	other.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	other.next("pusher:pong")
}

func TestSigninRequired(t *testing.T) {
	a := startApp(t, map[string]string{"PUSHER_REQUIRE_SIGNIN": "true", "PUSHER_SIGNIN_TIMEOUT": "300ms"})
	c := a.dial(t)
	c.closedWith(4009)
}

func TestBadFrames(t *testing.T) {
	a := startApp(t, map[string]string{"PUSHER_MAX_SUBSCRIPTIONS": "2"})
	bystander := a.dial(t)
	bystander.subscribe("news", "")
	bystander.next("pusher_internal:subscription_succeeded")
	c := a.dial(t)
	tests := []struct {
		name  string
		frame []byte
		want  string
	}{
		{"not JSON", []byte(`{"event":`), "pusher:error"},
		{"no event", []byte(`{"data":{}}`), "pusher:error"},
		{"unknown event", []byte(`{"event":"pusher:teleport","data":{}}`), "pusher:error"},
		{"subscribe without data", []byte(`{"event":"pusher:subscribe"}`), "pusher:error"},
		{"bad channel name", []byte(`{"event":"pusher:subscribe","data":{"channel":"no spaces allowed"}}`), "pusher:subscription_error"},
		{"long channel name", []byte(`{"event":"pusher:subscribe","data":{"channel":"` + strings.Repeat("a", 201) + `"}}`), "pusher:subscription_error"},
		{"presence without channel_data", []byte(`{"event":"pusher:subscribe","data":{"channel":"presence-x","auth":"testkey:00"}}`), "pusher:subscription_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.send(tt.frame)
			c.next(tt.want)
		})
	}
	t.Run("too many subscriptions", func(t *testing.T) {
		for _, ch := range []string{"a", "b"} {
			c.subscribe(ch, "")
			c.next("pusher_internal:subscription_succeeded")
		}
		c.subscribe("c", "")
		c.next("pusher:subscription_error")
	})
	// Nobody else noticed.
	a.trigger(t, "news", "still-here", `{}`, nil)
	bystander.next("still-here")
	c.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	c.next("pusher:pong")
}

func TestDrainClosesWith4200(t *testing.T) {
	a := startApp(t, nil)
	c := a.dial(t)
	a.StartDraining()
	go func() { _ = a.CloseAll(testContext(t, 5*time.Second), 0) }()
	c.closedWith(4200)
}

func TestOverCapacityClosesWith4100(t *testing.T) {
	a := startApp(t, map[string]string{"MAX_CONNECTIONS": "1"})
	a.dial(t)
	c := dialURL(t, a.WS)
	c.closedWith(4100)
}

func TestSeedEndpointSwitch(t *testing.T) {
	for _, on := range []string{"true", "false"} {
		a := startApp(t, map[string]string{"WSS_ENABLED": on})
		resp, err := httpGet(a.HTTP + "/wss")
		if err != nil {
			t.Fatal(err)
		}
		// A plain GET to a WebSocket endpoint gets 426; to no endpoint, 404.
		want := map[string]int{"true": 426, "false": 404}[on]
		if resp != want {
			t.Errorf("WSS_ENABLED=%s: GET /wss answered %d, want %d", on, resp, want)
		}
	}
}

// Webhooks report occupancy, membership and client events, signed with
// the app secret, once each.
func TestWebhooks(t *testing.T) {
	got := make(chan webhook.Event, 64)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Pusher-Key") != appKey || !webhook.Verify(appSecret, body, r.Header.Get("X-Pusher-Signature")) {
			t.Errorf("webhook with key %q and a signature that does not verify", r.Header.Get("X-Pusher-Key"))
		}
		var p webhook.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("webhook body %s: %v", body, err)
		}
		for _, e := range p.Events {
			got <- e
		}
	}))
	defer receiver.Close()
	a := startApp(t, map[string]string{"PUSHER_WEBHOOK_URL": receiver.URL})
	c1, c2 := a.dial(t), a.dial(t)
	c1.subscribe("presence-hooks", presenceData("u1", nil))
	c1.next("pusher_internal:subscription_succeeded")
	c2.subscribe("presence-hooks", presenceData("u1", nil)) // the same user: no second member_added
	c2.next("pusher_internal:subscription_succeeded")
	c1.send(map[string]any{"event": "client-ping", "channel": "presence-hooks", "data": map[string]int{"n": 1}})
	_ = c1.conn.Close(websocket.StatusNormalClosure, "")
	_ = c2.conn.Close(websocket.StatusNormalClosure, "")

	want := []string{"channel_occupied", "member_added", "client_event", "member_removed", "channel_vacated"}
	var names []string
	deadline := time.After(5 * time.Second)
	for len(names) < len(want) {
		select {
		case e := <-got:
			names = append(names, e.Name)
			if e.Channel != "presence-hooks" {
				t.Fatalf("webhook %+v on another channel", e)
			}
			if e.Name == "client_event" && (e.Event != "client-ping" || e.UserID != "u1" || e.SocketID != c1.SocketID) {
				t.Fatalf("client_event %+v", e)
			}
		case <-deadline:
			t.Fatalf("webhooks %v, want %v", names, want)
		}
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("webhooks %v, want %v", names, want)
	}
	select {
	case e := <-got:
		t.Fatalf("extra webhook %+v", e)
	case <-time.After(500 * time.Millisecond):
	}
}
