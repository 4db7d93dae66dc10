package auth

import (
	"errors"
	"net/url"
	"testing"
	"time"
)

var authErrors = []error{ErrMissing, ErrMalformed, ErrBadKey, ErrBadSignature, ErrStale, ErrBadVersion, ErrBodyMD5}

func checkAuthError(t *testing.T, err error) {
	t.Helper()
	for _, s := range authErrors {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %v wraps none of the package's errors", err)
}

// flip changes one hex digit of a signature.
func flip(sig string) string {
	b := []byte(sig)
	if b[0] == '0' {
		b[0] = '1'
	} else {
		b[0] = '0'
	}
	return string(b)
}

func FuzzVerifyChannel(f *testing.F) {
	f.Add(docKey, docSecret, docSocket, "private-foobar", "", docKey+":58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4")
	f.Add(docKey, docSecret, docSocket, "presence-foobar", `{"user_id":10}`, "")
	f.Add("k", "", "1.1", "", "", ":")
	f.Add("k:x", "s", "1.1", "c", "d", "k:x:00")
	f.Fuzz(func(t *testing.T, key, secret, socketID, channel, channelData, auth string) {
		if err := VerifyChannel(key, secret, socketID, channel, channelData, auth); err != nil {
			checkAuthError(t, err)
		}
		if err := VerifyUser(key, secret, socketID, channelData, auth); err != nil {
			checkAuthError(t, err)
		}
		sig := SignChannel(secret, socketID, channel, channelData)
		err := VerifyChannel(key, secret, socketID, channel, channelData, key+":"+sig)
		// A key holding ':' cannot be told from the signature: the auth
		// string's form rules such keys out.
		if keyOK := !containsColon(key); keyOK && err != nil {
			t.Fatalf("a signature made by SignChannel does not verify: %v", err)
		}
		if err := VerifyChannel(key, secret, socketID, channel, channelData, key+":"+flip(sig)); err == nil {
			t.Fatal("a changed signature verifies")
		}
		usig := SignUser(secret, socketID, channelData)
		if err := VerifyUser(key, secret, socketID, channelData, key+":"+usig); !containsColon(key) && err != nil {
			t.Fatalf("a signature made by SignUser does not verify: %v", err)
		}
	})
}

func FuzzVerifyRequest(f *testing.F) {
	f.Add("POST", docPath, docQuery, []byte(docBody), int64(0))
	f.Add("GET", "/apps/3/channels", "info=user_count&filter_by_prefix=presence-", []byte(nil), int64(-600))
	f.Add("get", "/", "auth_key=x&AUTH_KEY=y&auth_signature=&body_md5=zz", []byte("x"), int64(601))
	f.Add("POST", "/a b", "a=1&a=2&B=3&b=4&%ff=%fe", []byte{0xff}, int64(1<<40))
	f.Fuzz(func(t *testing.T, method, path, rawQuery string, body []byte, skew int64) {
		query, _ := url.ParseQuery(rawQuery) // keeps what parses
		now := docTime
		if err := VerifyRequest(method, path, query, body, docKey, docSecret, now.Add(time.Duration(skew)*time.Second)); err != nil {
			checkAuthError(t, err)
		}
		signed := SignRequest(method, path, query, body, docKey, docSecret, now)
		if err := VerifyRequest(method, path, signed, body, docKey, docSecret, now); err != nil {
			t.Fatalf("a request signed by SignRequest does not verify: %v", err)
		}
		// As a client sends it: encoded into a URL and parsed back.
		sent, err := url.ParseQuery(signed.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyRequest(method, path, sent, body, docKey, docSecret, now); err != nil {
			t.Fatalf("a signed request does not verify after URL encoding: %v", err)
		}
		if err := VerifyRequest(method, path, sent, body, docKey, docSecret, now.Add(MaxClockSkew+time.Second)); !errors.Is(err, ErrStale) {
			t.Fatalf("a stale request gives %v", err)
		}
		sent.Set("auth_signature", flip(sent.Get("auth_signature")))
		if err := VerifyRequest(method, path, sent, body, docKey, docSecret, now); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("a changed signature gives %v", err)
		}
	})
}

func containsColon(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return true
		}
	}
	return false
}
