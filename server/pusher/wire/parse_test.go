package wire

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseFrame(t *testing.T) {
	tests := []struct {
		in      string
		want    Frame
		wantErr error
	}{
		// What pusher-js sends.
		{in: `{"event":"pusher:ping","data":{}}`, want: Frame{Event: "pusher:ping", Data: json.RawMessage(`{}`)}},
		{in: `{"event":"pusher:subscribe","data":{"auth":"","channel":"my-channel"}}`,
			want: Frame{Event: "pusher:subscribe", Data: json.RawMessage(`{"auth":"","channel":"my-channel"}`)}},
		{in: `{"event":"client-typing","data":{"who":"me"},"channel":"private-chat"}`,
			want: Frame{Event: "client-typing", Channel: "private-chat", Data: json.RawMessage(`{"who":"me"}`)}},
		// Data of any type, absent, or null.
		{in: `{"event":"client-x","channel":"private-a","data":"a string"}`,
			want: Frame{Event: "client-x", Channel: "private-a", Data: json.RawMessage(`"a string"`)}},
		{in: `{"event":"client-x","data":[1, 2]}`, want: Frame{Event: "client-x", Data: json.RawMessage(`[1, 2]`)}},
		{in: `{"event":"client-x","data":12.5e3}`, want: Frame{Event: "client-x", Data: json.RawMessage(`12.5e3`)}},
		{in: `{"event":"pusher:ping"}`, want: Frame{Event: "pusher:ping"}},
		{in: `{"event":"pusher:ping","data":null,"channel":null}`, want: Frame{Event: "pusher:ping"}},
		// Whitespace, unknown fields, escapes.
		{in: " \t\r\n{ \"event\" : \"e\" , \"x\" : {\"event\":1} , \"channel\" : \"c\" } \n",
			want: Frame{Event: "e", Channel: "c"}},
		{in: `{"\u0065vent":"esc\u00e9\n"}`, want: Frame{Event: "escé\n"}},
		{in: `{"event":"a","data":{"s":"}\"]{["}}`, want: Frame{Event: "a", Data: json.RawMessage(`{"s":"}\"]{["}`)}},
		// Refused.
		{in: ``, wantErr: ErrInvalidJSON},
		{in: `{"event":"a"`, wantErr: ErrInvalidJSON},
		{in: `{"event":"a"} x`, wantErr: ErrInvalidJSON},
		{in: `{'event':'a'}`, wantErr: ErrInvalidJSON},
		{in: `["event"]`, wantErr: ErrNotObject},
		{in: `"event"`, wantErr: ErrNotObject},
		{in: `null`, wantErr: ErrNotObject},
		{in: `{}`, wantErr: ErrMissingEvent},
		{in: `{"event":""}`, wantErr: ErrMissingEvent},
		{in: `{"event":null}`, wantErr: ErrMissingEvent},
		{in: `{"Event":"a"}`, wantErr: ErrMissingEvent}, // keys match exactly
		{in: `{"event":1}`, wantErr: ErrFieldType},
		{in: `{"event":{"a":1}}`, wantErr: ErrFieldType},
		{in: `{"event":"a","channel":5}`, wantErr: ErrFieldType},
		{in: `{"event":"a","event":"b"}`, wantErr: ErrDuplicateField},
		{in: `{"event":"a","data":1,"data":2}`, wantErr: ErrDuplicateField},
	}
	for _, tt := range tests {
		got, err := ParseFrame([]byte(tt.in))
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("ParseFrame(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseFrame(%q) error = %v", tt.in, err)
			continue
		}
		if got.Event != tt.want.Event || got.Channel != tt.want.Channel || string(got.Data) != string(tt.want.Data) {
			t.Errorf("ParseFrame(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// TestParseFrameErrorText checks that the errors say what is wrong in words
// a client's developer can act on, since they are sent back as they are.
func TestParseFrameErrorText(t *testing.T) {
	tests := map[string]string{
		`{`:                          "invalid JSON",
		`[]`:                         "must be a JSON object",
		`{"data":{}}`:                "no event",
		`{"event":true}`:             "event must be a string",
		`{"event":"a","channel":[]}`: "channel must be a string",
	}
	for in, want := range tests {
		_, err := ParseFrame([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseFrame(%q) error = %v, want it to say %q", in, err, want)
		}
	}
}

func TestParseSubscribe(t *testing.T) {
	presenceData := `{"user_id":"1","user_info":{"name":"A"}}`
	tests := []struct {
		in      string
		want    Subscribe
		wantErr error
	}{
		{in: `{"auth":"","channel":"my-channel"}`, want: Subscribe{Channel: "my-channel"}},
		{in: `{"channel":"private-a","auth":"key:sig"}`, want: Subscribe{Channel: "private-a", Auth: "key:sig"}},
		{in: `{"channel":"presence-a","auth":"key:sig","channel_data":` + quote(presenceData) + `}`,
			want: Subscribe{Channel: "presence-a", Auth: "key:sig", ChannelData: presenceData}},
		{in: `{"channel":"a","auth":null,"channel_data":null,"other":[1]}`, want: Subscribe{Channel: "a"}},
		// Double encoded, as the protocol allows.
		{in: quote(`{"channel":"private-a","auth":"k:s"}`), want: Subscribe{Channel: "private-a", Auth: "k:s"}},
		{in: ``, wantErr: ErrMissingField},
		{in: `null`, wantErr: ErrMissingField},
		{in: `{}`, wantErr: ErrMissingField},
		{in: `{"channel":""}`, wantErr: ErrMissingField},
		{in: `{"channel":1}`, wantErr: ErrFieldType},
		{in: `{"channel":"a","auth":1}`, wantErr: ErrFieldType},
		{in: `{"channel":"a","channel_data":{"user_id":"1"}}`, wantErr: ErrFieldType}, // unsignable
		{in: `{"channel":"a","channel":"b"}`, wantErr: ErrDuplicateField},
		{in: `"not json"`, wantErr: ErrInvalidJSON},
		{in: `"[1]"`, wantErr: ErrNotObject},
		{in: `[1]`, wantErr: ErrNotObject},
		{in: `{"channel":`, wantErr: ErrInvalidJSON},
	}
	for _, tt := range tests {
		got, err := ParseSubscribe(json.RawMessage(tt.in))
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("ParseSubscribe(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSubscribe(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseUnsubscribe(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr error
	}{
		{in: `{"channel":"my-channel"}`, want: "my-channel"},
		{in: quote(`{"channel":"my-channel"}`), want: "my-channel"},
		{in: `{}`, wantErr: ErrMissingField},
		{in: ``, wantErr: ErrMissingField},
		{in: `{"channel":false}`, wantErr: ErrFieldType},
		{in: `7`, wantErr: ErrNotObject},
	}
	for _, tt := range tests {
		u, err := ParseUnsubscribe(json.RawMessage(tt.in))
		got := u.Channel
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("ParseUnsubscribe(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseUnsubscribe(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseSignin(t *testing.T) {
	userData := `{"id":"12345"}`
	tests := []struct {
		in      string
		want    Signin
		wantErr error
	}{
		{in: `{"auth":"key:sig","user_data":` + quote(userData) + `}`, want: Signin{Auth: "key:sig", UserData: userData}},
		{in: `{"user_data":"{}"}`, wantErr: ErrMissingField},
		{in: `{"auth":"key:sig"}`, wantErr: ErrMissingField},
		{in: `{"auth":"key:sig","user_data":""}`, wantErr: ErrMissingField},
		{in: `{"auth":"key:sig","user_data":{"id":"1"}}`, wantErr: ErrFieldType}, // unsignable
		{in: `{"auth":["key:sig"],"user_data":"{}"}`, wantErr: ErrFieldType},
	}
	for _, tt := range tests {
		got, err := ParseSignin(json.RawMessage(tt.in))
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("ParseSignin(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSignin(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParsePresenceData(t *testing.T) {
	tests := []struct {
		in       string
		id       string
		info     string
		wantErr  error
		errWords string
	}{
		{in: `{"user_id":"abc","user_info":{"name":"Phil"}}`, id: "abc", info: `{"name":"Phil"}`},
		{in: `{"user_id":10,"user_info":{"name":"Mr. Pusher"}}`, id: "10", info: `{"name":"Mr. Pusher"}`},
		{in: `{"user_id":-7}`, id: "-7"},
		{in: `{"user_id":-0}`, id: "0"}, // as JavaScript's String(-0)
		{in: `{"user_id":9007199254740991}`, id: "9007199254740991"},
		{in: `{"user_id":"1","user_info":null}`, id: "1"},
		{in: `{"user_id":"1","user_info":"just a string"}`, id: "1", info: `"just a string"`},
		{in: `{"user_info":{},"user_id":"\u00e9"}`, id: "é", info: `{}`},
		{in: `{"user_id":"` + strings.Repeat("é", MaxUserIDLen) + `"}`, id: strings.Repeat("é", MaxUserIDLen)},
		{in: `{"user_info":{}}`, wantErr: ErrMissingField, errWords: "no user_id"},
		{in: `{"user_id":null}`, wantErr: ErrMissingField},
		{in: `{"user_id":""}`, wantErr: ErrInvalidUserID, errWords: "empty"},
		{in: `{"user_id":"` + strings.Repeat("u", MaxUserIDLen+1) + `"}`, wantErr: ErrInvalidUserID},
		{in: `{"user_id":1.5}`, wantErr: ErrInvalidUserID, errWords: "integer"},
		{in: `{"user_id":1e3}`, wantErr: ErrInvalidUserID},
		{in: `{"user_id":9007199254740992}`, wantErr: ErrInvalidUserID, errWords: "2^53"},
		{in: `{"user_id":99999999999999999999999}`, wantErr: ErrInvalidUserID},
		{in: `{"user_id":true}`, wantErr: ErrFieldType},
		{in: `{"user_id":["1"]}`, wantErr: ErrFieldType},
		{in: `{"user_id":"1","user_id":"2"}`, wantErr: ErrDuplicateField},
		{in: `["user_id"]`, wantErr: ErrNotObject},
		{in: `{"user_id":`, wantErr: ErrInvalidJSON},
		{in: ``, wantErr: ErrInvalidJSON},
	}
	for _, tt := range tests {
		m, err := ParsePresenceData(tt.in)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errWords) {
				t.Errorf("ParsePresenceData(%q) error = %v, want %v saying %q", tt.in, err, tt.wantErr, tt.errWords)
			}
			continue
		}
		if err != nil || m.UserID != tt.id || string(m.UserInfo) != tt.info {
			t.Errorf("ParsePresenceData(%q) = %q, %q, %v; want %q, %q", tt.in, m.UserID, m.UserInfo, err, tt.id, tt.info)
		}
	}
}

func TestParseUserData(t *testing.T) {
	tests := []struct {
		in        string
		id        string
		info      string
		watchlist []string
		wantErr   error
	}{
		{in: `{"id":"12345"}`, id: "12345"},
		{in: `{"id":"1","user_info":{"name":"A"},"watchlist":["2","3"]}`, id: "1", info: `{"name":"A"}`, watchlist: []string{"2", "3"}},
		{in: `{"id":"1","watchlist":[]}`, id: "1", watchlist: []string{}},
		{in: `{"id":"1","watchlist":null,"user_info":null,"extra":true}`, id: "1"},
		{in: `{"id":12345}`, wantErr: ErrFieldType}, // pusher-js requires a string
		{in: `{"id":""}`, wantErr: ErrInvalidUserID},
		{in: `{"id":null}`, wantErr: ErrMissingField},
		{in: `{}`, wantErr: ErrMissingField},
		{in: `{"id":"1","watchlist":[2]}`, wantErr: ErrFieldType},
		{in: `{"id":"1","watchlist":"2"}`, wantErr: ErrFieldType},
		{in: `{"id":"1","id":"1"}`, wantErr: ErrDuplicateField},
		{in: `"{}"`, wantErr: ErrNotObject},
		{in: `{`, wantErr: ErrInvalidJSON},
	}
	for _, tt := range tests {
		u, err := ParseUserData(tt.in)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("ParseUserData(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || u.ID != tt.id || string(u.Info) != tt.info || !equalStrings(u.Watchlist, tt.watchlist) {
			t.Errorf("ParseUserData(%q) = %+v, %v; want id %q info %q watchlist %q", tt.in, u, err, tt.id, tt.info, tt.watchlist)
		}
	}
}

// TestScanBounds feeds the scanner input that json.Valid refuses, which the
// exported parsers never give it, to show that it fails rather than panics.
func TestScanBounds(t *testing.T) {
	for _, in := range []string{``, `{`, `{"`, `{"a`, `{"a"`, `{"a":`, `{"a":"`, `{"a":{`, `{"a":1`, `{"a":1,`, `{"a":1 x`, `{1:2}`, `{"a" 1}`, `{"a":}`, `{"a":"\`} {
		err := forEachMember([]byte(in), func(key, val []byte) error { return nil })
		if err == nil {
			t.Errorf("forEachMember(%q) = nil, want an error", in)
		}
	}
	for _, in := range []string{``, `"`, `{`, `[`, `"\`, `{"a":[}`} {
		if end := skipValue([]byte(in), 0); end >= 0 && in != "" {
			t.Errorf("skipValue(%q) = %d, want -1", in, end)
		}
	}
}

func quote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func equalStrings(a, b []string) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
