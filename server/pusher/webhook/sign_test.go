package webhook_test

import (
	"testing"

	"github.com/wsfargate/websocket-service/server/pusher/webhook"
)

// RFC 4231, test case 2: HMAC-SHA256 with key "Jefe".
func TestSignKnownVector(t *testing.T) {
	const want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	body := []byte("what do ya want for nothing?")
	if got := webhook.Sign("Jefe", body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	for _, tc := range []struct {
		name, secret, sig string
		body              string
		want              bool
	}{
		{"valid", "Jefe", want, string(body), true},
		{"upper-case hex", "Jefe", "5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843", string(body), true},
		{"wrong secret", "jefe", want, string(body), false},
		{"changed body", "Jefe", want, string(body) + " ", false},
		{"truncated", "Jefe", want[:62], string(body), false},
		{"not hex", "Jefe", "zz" + want[2:], string(body), false},
		{"empty", "Jefe", "", string(body), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := webhook.Verify(tc.secret, []byte(tc.body), tc.sig); got != tc.want {
				t.Errorf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}
