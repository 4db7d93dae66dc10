// Package auth makes and checks the signatures of the Pusher Channels
// protocol: channel authorizations, user authentications (signin), HTTP API
// requests and webhooks. Each is a hex HMAC-SHA256 keyed with the app
// secret, as the "Authentication and authorization signatures" and "HTTP API
// reference" pages of Pusher's docs define them, and each check compares in
// constant time.
//
// The errors wrap this package's sentinel errors, so that the caller can
// answer with a specific message (and the HTTP API with 401), and never
// contain the signature that was expected. They may contain the string that
// should have been signed, as Pusher's own errors do: it holds nothing the
// requester did not send.
//
// Encrypted channels ("private-encrypted-") are authorized exactly as
// private ones: the per-channel key that encrypts their events is derived
// from a master key that only the app's server and its clients hold, and
// the server never needs it.
package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// Errors of the checks. Each error returned wraps one of these.
var (
	// ErrMissing: a required value (an auth string, a query parameter) is
	// absent or empty.
	ErrMissing = errors.New("missing")
	// ErrMalformed: a value does not have its documented form.
	ErrMalformed = errors.New("malformed")
	// ErrBadKey: the app key given is not this app's.
	ErrBadKey = errors.New("wrong app key")
	// ErrBadSignature: the signature does not match.
	ErrBadSignature = errors.New("invalid signature")
	// ErrStale: an HTTP API request's auth_timestamp is more than
	// MaxClockSkew away from the server's clock.
	ErrStale = errors.New("timestamp expired")
	// ErrBadVersion: an HTTP API request's auth_version is not 1.0.
	ErrBadVersion = errors.New("unsupported auth_version")
	// ErrBodyMD5: an HTTP API request's body_md5 does not match its body.
	ErrBodyMD5 = errors.New("body_md5 does not match the body")
)

// SignChannel returns the hex signature that authorizes the socket
// socketID to subscribe to channel: HMAC-SHA256, keyed with secret, of
// "<socket_id>:<channel>", or of "<socket_id>:<channel>:<channel_data>"
// when channelData is not empty (presence channels, whose member data the
// signature covers). The auth string a client sends is
// "<app key>:" + SignChannel(...).
func SignChannel(secret, socketID, channel, channelData string) string {
	return hex.EncodeToString(channelMAC(secret, socketID, channel, channelData))
}

// VerifyChannel checks the auth string of a pusher:subscribe,
// "<app key>:<signature>", against the app's key and secret. channelData
// is the subscription's channel_data exactly as sent, "" when it sent none.
// The channel must be a valid name (wire.ValidChannel) before it gets
// here: names hold no ':', which is what keeps the signed strings of
// channels and users apart ("<socket_id>:" + ":user:" + ":<data>" would
// read as a user's).
func VerifyChannel(key, secret, socketID, channel, channelData, auth string) error {
	want := channelMAC(secret, socketID, channel, channelData)
	if err := verifyAuth(key, auth, want); err != nil {
		if errors.Is(err, ErrBadSignature) {
			return fmt.Errorf("%w: expected the HMAC-SHA256 hex digest of %q", err, channelString(socketID, channel, channelData))
		}
		return err
	}
	return nil
}

// SignUser returns the hex signature that authenticates the socket
// socketID as the user of userData (a signin): HMAC-SHA256, keyed with
// secret, of "<socket_id>::user::<user_data>".
func SignUser(secret, socketID, userData string) string {
	return hex.EncodeToString(userMAC(secret, socketID, userData))
}

// VerifyUser checks the auth string of a pusher:signin,
// "<app key>:<signature>", against the app's key and secret. userData is
// the signin's user_data exactly as sent.
func VerifyUser(key, secret, socketID, userData, auth string) error {
	want := userMAC(secret, socketID, userData)
	if err := verifyAuth(key, auth, want); err != nil {
		if errors.Is(err, ErrBadSignature) {
			return fmt.Errorf("%w: expected the HMAC-SHA256 hex digest of %q", err, socketID+"::user::"+userData)
		}
		return err
	}
	return nil
}

// SignWebhook returns the X-Pusher-Signature header of a webhook: the hex
// HMAC-SHA256 of its body, keyed with secret. (The X-Pusher-Key header
// carries the app key.)
func SignWebhook(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func channelString(socketID, channel, channelData string) string {
	if channelData == "" {
		return socketID + ":" + channel
	}
	return socketID + ":" + channel + ":" + channelData
}

func channelMAC(secret, socketID, channel, channelData string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	writeStrings(m, socketID, ":", channel)
	if channelData != "" {
		writeStrings(m, ":", channelData)
	}
	return m.Sum(nil)
}

func userMAC(secret, socketID, userData string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	writeStrings(m, socketID, "::user::", userData)
	return m.Sum(nil)
}

func writeStrings(h hash.Hash, parts ...string) {
	for _, p := range parts {
		_, _ = h.Write([]byte(p))
	}
}

// verifyAuth checks "<app key>:<hex signature>" against key and the
// expected MAC.
func verifyAuth(key, auth string, want []byte) error {
	if auth == "" {
		return fmt.Errorf("%w: no auth was given", ErrMissing)
	}
	gotKey, sig, ok := strings.Cut(auth, ":")
	if !ok {
		return fmt.Errorf("%w: auth must be \"<app key>:<signature>\"", ErrMalformed)
	}
	if gotKey != key {
		// The key is public, so a plain comparison leaks nothing.
		return fmt.Errorf("%w: auth is signed for another app key", ErrBadKey)
	}
	return checkHexMAC(sig, want)
}

// checkHexMAC compares a hex signature with the expected MAC in constant
// time. Hex digits of either case are accepted.
func checkHexMAC(sig string, want []byte) error {
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: the signature must be %d hex digits", ErrMalformed, 2*sha256.Size)
	}
	if !hmac.Equal(got, want) {
		return ErrBadSignature
	}
	return nil
}
