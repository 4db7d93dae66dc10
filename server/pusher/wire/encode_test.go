package wire

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// frame is a server frame as a client decodes it.
type frame struct {
	Event   string          `json:"event"`
	Channel *string         `json:"channel"`
	Data    json.RawMessage `json:"data"`
	UserID  *string         `json:"user_id"`
}

// decodeFrame decodes b strictly with encoding/json.
func decodeFrame(t *testing.T, b []byte) frame {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("not valid JSON: %s", b)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatalf("not a JSON object: %s: %v", b, err)
	}
	for k := range keys {
		switch k {
		case "event", "channel", "data", "user_id":
		default:
			t.Errorf("unexpected key %q in %s", k, b)
		}
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return f
}

// stringData decodes a frame's data that must be a JSON string holding
// JSON (double encoding) into v.
func stringData(t *testing.T, f frame, v any) {
	t.Helper()
	var s string
	if err := json.Unmarshal(f.Data, &s); err != nil {
		t.Fatalf("data %s is not a JSON string: %v", f.Data, err)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("data string %q does not hold JSON: %v", s, err)
	}
}

func objectData(t *testing.T, f frame, v any) {
	t.Helper()
	if len(f.Data) == 0 || f.Data[0] != '{' {
		t.Fatalf("data %s is not an object", f.Data)
	}
	if err := json.Unmarshal(f.Data, v); err != nil {
		t.Fatal(err)
	}
}

func checkEnvelope(t *testing.T, f frame, event, channel string) {
	t.Helper()
	if f.Event != event {
		t.Errorf("event = %q, want %q", f.Event, event)
	}
	switch {
	case channel == "" && f.Channel != nil:
		t.Errorf("channel = %q, want none", *f.Channel)
	case channel != "" && (f.Channel == nil || *f.Channel != channel):
		t.Errorf("channel = %v, want %q", f.Channel, channel)
	}
}

// hostile is text that takes every escaping path.
const hostile = "q\"b\\s/\n\r\t\b\f\x00\x1f\x7f é 😀 \u2028\u2029 \xff\xc3(\xed\xa0\x80 end"

func TestAppendConnectionEstablished(t *testing.T) {
	for _, id := range []string{"123.456", hostile} {
		f := decodeFrame(t, AppendConnectionEstablished(nil, id, 120))
		checkEnvelope(t, f, "pusher:connection_established", "")
		var d struct {
			SocketID        string `json:"socket_id"`
			ActivityTimeout int    `json:"activity_timeout"`
		}
		stringData(t, f, &d)
		if d.SocketID != jsonRoundTrip(id) || d.ActivityTimeout != 120 {
			t.Errorf("data = %+v", d)
		}
	}
}

func TestAppendError(t *testing.T) {
	tests := []struct {
		code    int
		message string
	}{
		{CodeClientEventRate, "too fast"},
		{CodeBadFrame, "invalid JSON: the frame is not valid JSON"},
		{CodeOverCapacity, hostile},
	}
	for _, tt := range tests {
		f := decodeFrame(t, AppendError(nil, tt.code, tt.message))
		checkEnvelope(t, f, "pusher:error", "")
		var d map[string]any
		objectData(t, f, &d)
		if d["message"] != jsonRoundTrip(tt.message) {
			t.Errorf("message = %q", d["message"])
		}
		code, has := d["code"]
		if tt.code == 0 && has {
			t.Errorf("code = %v, want none", code)
		}
		if tt.code != 0 && code != float64(tt.code) {
			t.Errorf("code = %v, want %d", code, tt.code)
		}
	}
}

func TestAppendPingPong(t *testing.T) {
	for event, b := range map[string][]byte{"pusher:ping": AppendPing(nil), "pusher:pong": AppendPong(nil)} {
		f := decodeFrame(t, b)
		checkEnvelope(t, f, event, "")
		var d map[string]any
		objectData(t, f, &d)
		if len(d) != 0 {
			t.Errorf("%s data = %v, want {}", event, d)
		}
	}
}

func TestAppendSubscriptionSucceeded(t *testing.T) {
	for _, ch := range []string{"my-channel", "private-a", "private-encrypted-cache-b", "#server-to-user-1"} {
		// members is ignored off presence channels.
		f := decodeFrame(t, AppendSubscriptionSucceeded(nil, ch, []Member{{UserID: "x"}}))
		checkEnvelope(t, f, "pusher_internal:subscription_succeeded", ch)
		var d map[string]any
		stringData(t, f, &d)
		if len(d) != 0 {
			t.Errorf("%s: data = %v, want {}", ch, d)
		}
	}
}

func TestAppendPresenceSubscriptionSucceeded(t *testing.T) {
	type presence struct {
		Presence struct {
			IDs   []string                   `json:"ids"`
			Hash  map[string]json.RawMessage `json:"hash"`
			Count int                        `json:"count"`
		} `json:"presence"`
	}
	tests := []struct {
		name    string
		members []Member
	}{
		{"none", nil},
		{"one", []Member{{UserID: "1", UserInfo: json.RawMessage(`{"name":"Phil"}`)}}},
		{"several", []Member{
			{UserID: "11814b369700141b222a3f3791cec2d9", UserInfo: json.RawMessage(`{"name":"Phil Leggetter","twitter":"@leggetter"}`)},
			{UserID: "2", UserInfo: json.RawMessage(" [1, \"two\"]\n")},
			{UserID: "no-info"},
			{UserID: "q\"uote\\", UserInfo: json.RawMessage(`"x\"y"`)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := decodeFrame(t, presenceSucceeded(tt.members))
			checkEnvelope(t, f, "pusher_internal:subscription_succeeded", "presence-room")
			var d presence
			stringData(t, f, &d)
			if d.Presence.Count != len(tt.members) || len(d.Presence.IDs) != len(tt.members) || len(d.Presence.Hash) != len(tt.members) {
				t.Fatalf("presence = %+v, want %d members", d.Presence, len(tt.members))
			}
			for i, m := range tt.members {
				if d.Presence.IDs[i] != m.UserID {
					t.Errorf("ids[%d] = %q, want %q", i, d.Presence.IDs[i], m.UserID)
				}
				want := m.UserInfo
				if len(want) == 0 {
					want = json.RawMessage(`{}`)
				}
				if !jsonEqual(t, d.Presence.Hash[m.UserID], want) {
					t.Errorf("hash[%q] = %s, want %s", m.UserID, d.Presence.Hash[m.UserID], want)
				}
			}
		})
	}
}

// presenceSucceeded is the presence case of AppendSubscriptionSucceeded on
// a fixed channel.
func presenceSucceeded(members []Member) []byte {
	return AppendSubscriptionSucceeded(nil, "presence-room", members)
}

func TestAppendSubscriptionError(t *testing.T) {
	tests := []struct {
		typ, message string
		status       int
	}{
		{"AuthError", "invalid signature", 401},
		{"LimitReached", hostile, 0},
	}
	for _, tt := range tests {
		f := decodeFrame(t, AppendSubscriptionError(nil, "private-a", tt.typ, tt.message, tt.status))
		checkEnvelope(t, f, "pusher:subscription_error", "private-a")
		var d map[string]any
		objectData(t, f, &d)
		if d["type"] != tt.typ || d["error"] != jsonRoundTrip(tt.message) {
			t.Errorf("data = %v", d)
		}
		status, has := d["status"]
		if (tt.status == 0) == has || (has && status != float64(tt.status)) {
			t.Errorf("status = %v, want %d", status, tt.status)
		}
	}
}

func TestAppendMembers(t *testing.T) {
	tests := []struct {
		id   string
		info json.RawMessage
		want string
	}{
		{"1", json.RawMessage(`{"name":"A"}`), `{"name":"A"}`},
		{"2", nil, `{}`},
		{hostile, json.RawMessage(`null`), `null`},
	}
	for _, tt := range tests {
		f := decodeFrame(t, AppendMemberAdded(nil, "presence-r", tt.id, tt.info))
		checkEnvelope(t, f, "pusher_internal:member_added", "presence-r")
		var added struct {
			UserID   string          `json:"user_id"`
			UserInfo json.RawMessage `json:"user_info"`
		}
		stringData(t, f, &added)
		if added.UserID != jsonRoundTrip(tt.id) || !jsonEqual(t, added.UserInfo, json.RawMessage(tt.want)) {
			t.Errorf("member_added data = %q %s", added.UserID, added.UserInfo)
		}

		f = decodeFrame(t, AppendMemberRemoved(nil, "presence-r", tt.id))
		checkEnvelope(t, f, "pusher_internal:member_removed", "presence-r")
		var removed map[string]string
		stringData(t, f, &removed)
		if len(removed) != 1 || removed["user_id"] != jsonRoundTrip(tt.id) {
			t.Errorf("member_removed data = %v", removed)
		}
	}
}

func TestAppendCacheMiss(t *testing.T) {
	f := decodeFrame(t, AppendCacheMiss(nil, "cache-x"))
	checkEnvelope(t, f, "pusher:cache_miss", "cache-x")
	var d map[string]any
	stringData(t, f, &d)
	if len(d) != 0 {
		t.Errorf("data = %v", d)
	}
}

func TestAppendSigninSuccess(t *testing.T) {
	userData := `{"id":"12345","user_info":{"name":"A \"quoted\" name"}}`
	f := decodeFrame(t, AppendSigninSuccess(nil, userData))
	checkEnvelope(t, f, "pusher:signin_success", "")
	var d map[string]string
	objectData(t, f, &d)
	if len(d) != 1 || d["user_data"] != userData {
		t.Errorf("data = %v", d)
	}
}

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name         string
		event, ch    string
		data         string
		dataIsString bool
		userID       string
		wantData     string // the data member's JSON, "" for none
	}{
		{"api string", "my-event", "my-channel", `{"some":"data"}`, true, "", `"{\"some\":\"data\"}"`},
		{"api plain text", "e", "c", "hello", true, "", `"hello"`},
		{"api empty string", "e", "c", "", true, "", `""`},
		{"api hostile", hostile, "c", hostile, true, "", quote(jsonRoundTrip(hostile))},
		{"client object", "client-x", "private-a", `{"who": "me"}`, false, "", `{"who": "me"}`},
		{"client string", "client-x", "private-a", `"text"`, false, "", `"text"`},
		{"client number", "client-x", "private-a", `42`, false, "", `42`},
		{"client no data", "client-x", "private-a", ``, false, "", ``},
		{"presence client", "client-x", "presence-a", `{"a":1}`, false, "user-7", `{"a":1}`},
		{"presence no data", "client-x", "presence-a", ``, false, "user-7", ``},
		{"no channel", "e", "", `1`, false, "", `1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendEvent(nil, tt.event, tt.ch, []byte(tt.data), tt.dataIsString, tt.userID)
			f := decodeFrame(t, b)
			checkEnvelope(t, f, jsonRoundTrip(tt.event), tt.ch)
			switch {
			case tt.wantData == "" && f.Data != nil:
				t.Errorf("data = %s, want none", f.Data)
			case tt.wantData != "" && !jsonEqual(t, f.Data, json.RawMessage(tt.wantData)):
				t.Errorf("data = %s, want %s", f.Data, tt.wantData)
			}
			switch {
			case tt.userID == "" && f.UserID != nil:
				t.Errorf("user_id = %q, want none", *f.UserID)
			case tt.userID != "" && (f.UserID == nil || *f.UserID != tt.userID):
				t.Errorf("user_id = %v, want %q", f.UserID, tt.userID)
			}
		})
	}
}

// TestAppendKeepsPrefix checks that every encoder appends after what dst
// holds, including the double-encoding ones, which use dst as scratch.
func TestAppendKeepsPrefix(t *testing.T) {
	encoders := map[string]func([]byte) []byte{
		"established": func(b []byte) []byte { return AppendConnectionEstablished(b, hostile, 30) },
		"error":       func(b []byte) []byte { return AppendError(b, 4009, hostile) },
		"presence": func(b []byte) []byte {
			return AppendSubscriptionSucceeded(b, "presence-a", []Member{{UserID: hostile, UserInfo: json.RawMessage(`{"a":"\n"}`)}})
		},
		"added":   func(b []byte) []byte { return AppendMemberAdded(b, "presence-a", hostile, nil) },
		"removed": func(b []byte) []byte { return AppendMemberRemoved(b, "presence-a", hostile) },
		"event":   func(b []byte) []byte { return AppendEvent(b, "e", "c", []byte(hostile), true, "u") },
	}
	for name, enc := range encoders {
		alone := enc(nil)
		for _, capacity := range []int{0, 10, 4096} { // growing, and writing in place
			dst := append(make([]byte, 0, capacity), "prefix|"...)
			got := enc(dst)
			if string(got) != "prefix|"+string(alone) {
				t.Errorf("%s (cap %d): got %q, want the prefix then %q", name, capacity, got, alone)
			}
		}
	}
}

func TestAppendAllocs(t *testing.T) {
	members := []Member{{UserID: "1", UserInfo: json.RawMessage(`{"name":"A"}`)}, {UserID: "2"}}
	data := []byte(`{"some":"data","more":"line\nbreak"}`)
	buf := make([]byte, 0, 4096)
	encoders := map[string]func(){
		"established": func() { buf = AppendConnectionEstablished(buf[:0], "123.456", 120) },
		"error":       func() { buf = AppendError(buf[:0], 4301, "too fast") },
		"presence":    func() { buf = AppendSubscriptionSucceeded(buf[:0], "presence-a", members) },
		"added":       func() { buf = AppendMemberAdded(buf[:0], "presence-a", "1", members[0].UserInfo) },
		"event":       func() { buf = AppendEvent(buf[:0], "my-event", "my-channel", data, true, "") },
		"client":      func() { buf = AppendEvent(buf[:0], "client-e", "presence-a", data, false, "7") },
		"string":      func() { buf = AppendJSONString(buf[:0], hostile) },
	}
	for name, enc := range encoders {
		if n := testing.AllocsPerRun(100, enc); n != 0 {
			t.Errorf("%s: %v allocations per frame, want 0", name, n)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	tests := []string{
		"", "plain", `"`, `\`, "/", "\n\r\t\b\f", "\x00\x01\x1f", "\x7f",
		"é", "😀", "\u2028\u2029", "\ufffd", "<>&",
		"\xff", "\xc3", "\xc3(", "\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", hostile,
	}
	for _, s := range tests {
		checkJSONString(t, s)
	}
}

// checkJSONString checks that AppendJSONString's output, for string and
// []byte input, decodes with encoding/json to what json.Marshal's does.
func checkJSONString(t *testing.T, s string) {
	t.Helper()
	want := jsonRoundTrip(s)
	for _, b := range [][]byte{AppendJSONString(nil, s), AppendJSONString(nil, []byte(s))} {
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("AppendJSONString(%q) = %s: %v", s, b, err)
		}
		if got != want {
			t.Errorf("AppendJSONString(%q) = %s decodes to %q, want %q", s, b, got, want)
		}
		if strings.ContainsAny(string(b), "\u2028\u2029") {
			t.Errorf("AppendJSONString(%q) = %s holds a raw line separator", s, b)
		}
	}
}

// jsonRoundTrip is what a client decodes when encoding/json encodes s:
// s with invalid UTF-8 replaced.
func jsonRoundTrip(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	var out string
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Errorf("%s: %v", a, err)
		return false
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Errorf("%s: %v", b, err)
		return false
	}
	return reflect.DeepEqual(x, y)
}
