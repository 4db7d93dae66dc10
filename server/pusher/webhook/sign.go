package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Sign returns the X-Pusher-Signature for body: the hex HMAC-SHA256 of the
// exact body bytes, keyed with the app secret.
func Sign(secret string, body []byte) string {
	return hex.EncodeToString(mac([]byte(secret), body))
}

// Verify reports whether signature is body's X-Pusher-Signature under secret.
// It compares in constant time, so a receiver can use it on untrusted input.
func Verify(secret string, body []byte, signature string) bool {
	got, err := hex.DecodeString(signature)
	if err != nil {
		return false
	}
	return hmac.Equal(got, mac([]byte(secret), body))
}

func mac(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)
}
