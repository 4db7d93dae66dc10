package auth

import (
	"errors"
	"strings"
	"testing"
)

// The credentials of the worked examples in Pusher's docs.
const (
	docKey    = "278d425bdf160c739803"
	docSecret = "7ad3773142a6692b25b8"
	docSocket = "1234.1234"
)

// TestSignKnownAnswers checks the signatures against the worked examples of
// the "Authentication and authorization signatures" page.
func TestSignKnownAnswers(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"private channel", SignChannel(docSecret, docSocket, "private-foobar", ""),
			"58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"},
		// The page's presence example prints this signature next to
		// "Mr. Channels", but it is the signature of "Mr. Pusher", the
		// name before the product's rename (the page was edited, the
		// digest was not).
		{"presence channel", SignChannel(docSecret, docSocket, "presence-foobar", `{"user_id":10,"user_info":{"name":"Mr. Pusher"}}`),
			"afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c"},
		{"user", SignUser(docSecret, docSocket, `{"id":"12345"}`),
			"4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"},
		// Computed with openssl dgst -sha256 -hmac over the body.
		{"webhook", SignWebhook(docSecret, []byte(`{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"test_channel"}]}`)),
			"709fdb84c03664445f7698120b0edf0acc1ab1c8c6e93a0368c61841d6b998aa"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: signature %s, want %s", tt.name, tt.got, tt.want)
		}
	}
}

func TestVerifyChannel(t *testing.T) {
	const (
		channelData = `{"user_id":10,"user_info":{"name":"Mr. Pusher"}}`
		privateSig  = "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
		presenceSig = "afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c"
	)
	tests := []struct {
		name                        string
		socket, channel, data, auth string
		wantErr                     error
	}{
		{"private", docSocket, "private-foobar", "", docKey + ":" + privateSig, nil},
		{"uppercase hex", docSocket, "private-foobar", "", docKey + ":" + strings.ToUpper(privateSig), nil},
		{"presence", docSocket, "presence-foobar", channelData, docKey + ":" + presenceSig, nil},
		{"encrypted is private", docSocket, "private-encrypted-x", "", docKey + ":" + SignChannel(docSecret, docSocket, "private-encrypted-x", ""), nil},
		{"no auth", docSocket, "private-foobar", "", "", ErrMissing},
		{"no colon", docSocket, "private-foobar", "", privateSig, ErrMalformed},
		{"other key", docSocket, "private-foobar", "", "otherkey:" + privateSig, ErrBadKey},
		{"empty key", docSocket, "private-foobar", "", ":" + privateSig, ErrBadKey},
		{"not hex", docSocket, "private-foobar", "", docKey + ":" + strings.Repeat("z", 64), ErrMalformed},
		{"short", docSocket, "private-foobar", "", docKey + ":" + privateSig[:62], ErrMalformed},
		{"long", docSocket, "private-foobar", "", docKey + ":" + privateSig + "00", ErrMalformed},
		{"other socket", "1234.1235", "private-foobar", "", docKey + ":" + privateSig, ErrBadSignature},
		{"other channel", docSocket, "private-foobaz", "", docKey + ":" + privateSig, ErrBadSignature},
		{"data not signed", docSocket, "presence-foobar", channelData, docKey + ":" + SignChannel(docSecret, docSocket, "presence-foobar", ""), ErrBadSignature},
		{"data changed", docSocket, "presence-foobar", `{"user_id":11}`, docKey + ":" + presenceSig, ErrBadSignature},
		{"other secret", docSocket, "private-foobar", "", docKey + ":" + SignChannel("other", docSocket, "private-foobar", ""), ErrBadSignature},
	}
	for _, tt := range tests {
		err := VerifyChannel(docKey, docSecret, tt.socket, tt.channel, tt.data, tt.auth)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("%s: VerifyChannel = %v, want %v", tt.name, err, tt.wantErr)
		}
		if err != nil {
			checkNoLeak(t, err, SignChannel(docSecret, tt.socket, tt.channel, tt.data))
		}
	}
}

func TestVerifyChannelSaysWhatToSign(t *testing.T) {
	err := VerifyChannel(docKey, docSecret, docSocket, "private-foobar", "", docKey+":"+strings.Repeat("0", 64))
	if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), `"1234.1234:private-foobar"`) {
		t.Errorf("error %q does not name the string to sign", err)
	}
}

func TestVerifyUser(t *testing.T) {
	const (
		userData = `{"id":"12345"}`
		sig      = "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"
	)
	tests := []struct {
		name         string
		socket, data string
		auth         string
		wantErr      error
	}{
		{"signed", docSocket, userData, docKey + ":" + sig, nil},
		{"no auth", docSocket, userData, "", ErrMissing},
		{"no colon", docSocket, userData, sig, ErrMalformed},
		{"other key", docSocket, userData, "k:" + sig, ErrBadKey},
		{"other socket", "1.1", userData, docKey + ":" + sig, ErrBadSignature},
		{"other user", docSocket, `{"id":"12346"}`, docKey + ":" + sig, ErrBadSignature},
		{"reformatted user data", docSocket, `{"id": "12345"}`, docKey + ":" + sig, ErrBadSignature},
		// A channel signature does not pass for a user's. (It would for
		// the channel ":user:", which is why channel names may not hold
		// ':'; see VerifyChannel.)
		{"channel signature", docSocket, userData, docKey + ":" + SignChannel(docSecret, docSocket, "presence-user", userData), ErrBadSignature},
	}
	for _, tt := range tests {
		err := VerifyUser(docKey, docSecret, tt.socket, tt.data, tt.auth)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("%s: VerifyUser = %v, want %v", tt.name, err, tt.wantErr)
		}
		if err != nil {
			checkNoLeak(t, err, SignUser(docSecret, tt.socket, tt.data))
		}
	}
}

// checkNoLeak fails if an error holds the signature that was expected.
func checkNoLeak(t *testing.T, err error, expected string) {
	t.Helper()
	if msg := strings.ToLower(err.Error()); strings.Contains(msg, expected) {
		t.Errorf("error %q leaks the expected signature", err)
	}
}
