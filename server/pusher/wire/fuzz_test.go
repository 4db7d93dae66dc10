package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"testing"
	"unicode/utf8"
)

var parseErrors = []error{ErrInvalidJSON, ErrNotObject, ErrMissingEvent, ErrMissingField, ErrFieldType, ErrDuplicateField, ErrInvalidUserID}

// checkParseError fails unless err wraps one of the parsers' sentinels.
func checkParseError(t *testing.T, err error) {
	t.Helper()
	for _, s := range parseErrors {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %v wraps none of the package's errors", err)
}

func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{
		`{"event":"pusher:ping","data":{}}`,
		`{"event":"pusher:subscribe","data":{"auth":"k:s","channel":"private-a","channel_data":"{\"user_id\":1}"}}`,
		`{"event":"client-x","channel":"presence-a","data":"text"}`,
		`{"event":"\u00e9","channel":null,"data":[1,{"a":"}"}]}`,
		`{"event":"a","event":"b"}`,
		`{"Event":"a"}`,
		`[]`, `{`, "{\"event\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFrame(b)
		if err != nil {
			checkParseError(t, err)
			if errors.Is(err, ErrInvalidJSON) && json.Valid(b) {
				t.Fatalf("ParseFrame(%q) = %v, but encoding/json finds it valid", b, err)
			}
			return
		}
		// Cross-check with encoding/json, whose map keys match exactly.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("ParseFrame(%q) accepted what encoding/json refuses: %v", b, err)
		}
		var event string
		if err := json.Unmarshal(m["event"], &event); err != nil || event != fr.Event || event == "" {
			t.Fatalf("event = %q, encoding/json says %q (%v)", fr.Event, event, err)
		}
		if raw, ok := m["channel"]; ok {
			var ch *string
			if err := json.Unmarshal(raw, &ch); err != nil || deref(ch) != fr.Channel {
				t.Fatalf("channel = %q, encoding/json says %v (%v)", fr.Channel, ch, err)
			}
		}
		if raw := m["data"]; string(raw) != "null" && !bytes.Equal(raw, fr.Data) {
			t.Fatalf("data = %s, encoding/json says %s", fr.Data, raw)
		}
		// A client event relays its data verbatim: the frame must decode.
		out := AppendEvent(nil, fr.Event, fr.Channel, fr.Data, false, "u")
		var back struct {
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("relayed frame %s: %v", out, err)
		}
		if back.Event != jsonRoundTrip(fr.Event) || !bytes.Equal(back.Data, fr.Data) {
			t.Fatalf("relayed frame %s lost the event or data", out)
		}
	})
}

func FuzzParseSubscribe(f *testing.F) {
	for _, s := range []string{
		`{"auth":"","channel":"my-channel"}`,
		`{"channel":"presence-a","auth":"k:s","channel_data":"{\"user_id\":\"1\"}"}`,
		`"{\"channel\":\"private-a\"}"`,
		`{"channel":1}`, `{"channel":"a","channel":"a"}`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSubscribe(b)
		if err != nil {
			checkParseError(t, err)
			return
		}
		if s.Channel == "" {
			t.Fatalf("ParseSubscribe(%q) gave no channel", b)
		}
		obj := b
		if b[0] == '"' {
			var inner string
			if err := json.Unmarshal(b, &inner); err != nil {
				t.Fatal(err)
			}
			obj = []byte(inner)
		}
		var want struct {
			Channel     string  `json:"channel"`
			Auth        *string `json:"auth"`
			ChannelData *string `json:"channel_data"`
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(obj, &m); err != nil {
			t.Fatalf("ParseSubscribe(%q) accepted what encoding/json refuses: %v", b, err)
		}
		_ = json.Unmarshal(m["channel"], &want.Channel)
		_ = json.Unmarshal(m["auth"], &want.Auth)
		_ = json.Unmarshal(m["channel_data"], &want.ChannelData)
		if want.Channel != s.Channel || deref(want.Auth) != s.Auth || deref(want.ChannelData) != s.ChannelData {
			t.Fatalf("ParseSubscribe(%q) = %+v, encoding/json says %+v", b, s, want)
		}
	})
}

func FuzzParseUnsubscribe(f *testing.F) {
	for _, s := range []string{`{"channel":"my-channel"}`, `{"channel":null}`, `"{}"`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseUnsubscribe(b)
		if err != nil {
			checkParseError(t, err)
			return
		}
		if u.Channel == "" {
			t.Fatalf("ParseUnsubscribe(%q) gave no channel", b)
		}
	})
}

func FuzzParseSignin(f *testing.F) {
	for _, s := range []string{
		`{"auth":"k:s","user_data":"{\"id\":\"1\"}"}`,
		`{"auth":"k:s","user_data":{"id":"1"}}`,
		`{"auth":"","user_data":""}`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSignin(b)
		if err != nil {
			checkParseError(t, err)
			return
		}
		if s.Auth == "" || s.UserData == "" {
			t.Fatalf("ParseSignin(%q) = %+v, with an empty field", b, s)
		}
		// The success frame must carry user_data back unchanged.
		var back struct {
			Data struct {
				UserData string `json:"user_data"`
			} `json:"data"`
		}
		if err := json.Unmarshal(AppendSigninSuccess(nil, s.UserData), &back); err != nil || back.Data.UserData != s.UserData {
			t.Fatalf("signin_success lost user_data %q: %q, %v", s.UserData, back.Data.UserData, err)
		}
	})
}

func FuzzParsePresenceData(f *testing.F) {
	for _, s := range []string{
		`{"user_id":"abc","user_info":{"name":"Phil"}}`,
		`{"user_id":10,"user_info":{"name":"Mr. Pusher"}}`,
		`{"user_id":-0}`, `{"user_id":1e3}`, `{"user_id":9007199254740992}`,
		`{"user_id":"","user_info":null}`, `{"user_id":true}`, `[]`, `{`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParsePresenceData(s)
		if err != nil {
			checkParseError(t, err)
			return
		}
		if m.UserID == "" || utf8.RuneCountInString(m.UserID) > MaxUserIDLen {
			t.Fatalf("ParsePresenceData(%q) gave user id %q", s, m.UserID)
		}
		if m.UserInfo != nil && !json.Valid(m.UserInfo) {
			t.Fatalf("ParsePresenceData(%q) gave user info %q", s, m.UserInfo)
		}
		// What the member's data becomes must decode, at both levels.
		for _, b := range [][]byte{
			AppendMemberAdded(nil, "presence-a", m.UserID, m.UserInfo),
			AppendSubscriptionSucceeded(nil, "presence-a", []Member{m}),
		} {
			var outer struct {
				Data string `json:"data"`
			}
			if err := json.Unmarshal(b, &outer); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			if !json.Valid([]byte(outer.Data)) {
				t.Fatalf("%s: data does not hold JSON", b)
			}
		}
	})
}

func FuzzParseUserData(f *testing.F) {
	for _, s := range []string{
		`{"id":"12345"}`,
		`{"id":"1","user_info":{"name":"A"},"watchlist":["2","3"]}`,
		`{"id":1}`, `{"id":"1","watchlist":[2]}`, `{}`, `{`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUserData(s)
		if err != nil {
			checkParseError(t, err)
			return
		}
		if u.ID == "" || utf8.RuneCountInString(u.ID) > MaxUserIDLen {
			t.Fatalf("ParseUserData(%q) gave id %q", s, u.ID)
		}
		if u.Info != nil && !json.Valid(u.Info) {
			t.Fatalf("ParseUserData(%q) gave info %q", s, u.Info)
		}
		if id, ok := UserChannelID(UserChannel(u.ID)); !ok || id != u.ID {
			t.Fatalf("UserChannelID(UserChannel(%q)) = %q, %v", u.ID, id, ok)
		}
	})
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", hostile, "\xed\xa0\x80", "\xf4\x90\x80\x80", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkJSONString(t, s)
		for i := 0; i < len(s); i++ {
			r1, n1 := decodeRune(s[i:])
			r2, n2 := utf8.DecodeRuneInString(s[i:])
			if r1 != r2 || n1 != n2 {
				t.Fatalf("decodeRune(%q) = %U, %d; utf8 says %U, %d", s[i:], r1, n1, r2, n2)
			}
		}
	})
}

var socketIDPattern = regexp.MustCompile(`^[0-9]{1,20}\.[0-9]{1,20}$`)

func FuzzNames(f *testing.F) {
	for _, s := range []string{"my-channel", "private-encrypted-cache-x", "#server-to-user-1", "1234.1234", "a b", "\xff", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidChannel(s) == nil {
			if len(s) == 0 || len(s) > MaxChannelLen {
				t.Fatalf("ValidChannel accepted %q", s)
			}
			for i := 0; i < len(s); i++ {
				if !isChannelByte(s[i]) {
					t.Fatalf("ValidChannel accepted %q", s)
				}
			}
			if KindOf(s) == ServerToUser {
				t.Fatalf("a valid channel %q is a server-to-user channel", s)
			}
		}
		if ValidEvent(s) == nil && (!utf8.ValidString(s) || s == "") {
			t.Fatalf("ValidEvent accepted %q", s)
		}
		if got, want := ValidSocketID(s), socketIDPattern.MatchString(s); got != want {
			t.Fatalf("ValidSocketID(%q) = %v, want %v", s, got, want)
		}
		if id, ok := UserChannelID(s); ok && UserChannel(id) != s {
			t.Fatalf("UserChannelID(%q) = %q", s, id)
		}
		_ = IsCache(s)
		_ = KindOf(s).String()
	})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
