package auth

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The HTTP API's authentication parameters (the HTTP API reference,
// "Authentication").
const (
	paramKey       = "auth_key"
	paramTimestamp = "auth_timestamp"
	paramVersion   = "auth_version"
	paramSignature = "auth_signature"
	paramBodyMD5   = "body_md5"

	// authVersion is the only auth_version there is.
	authVersion = "1.0"
)

// MaxClockSkew is how far an HTTP API request's auth_timestamp may be from
// the server's clock, either way: "the server will only accept requests
// where the timestamp is within 600s of the current time".
const MaxClockSkew = 600 * time.Second

// VerifyRequest checks the signature of an HTTP API request (the HTTP API
// reference, "Generating authentication signatures"):
//
//   - auth_key is appKey;
//   - auth_version is 1.0;
//   - auth_timestamp, in Unix seconds, is within MaxClockSkew of now;
//   - body_md5, the hex MD5 of the body, is present when the body is not
//     empty and, when present, matches the body, empty or not (the Python
//     SDK sends it on GET requests too, for the empty body);
//   - auth_signature is the hex HMAC-SHA256, keyed with secret, of
//     "METHOD\nPATH\nQUERY", where QUERY is every parameter but
//     auth_signature, keys lowercased, sorted by key and joined as k=v with
//     '&', values not URL-escaped.
//
// path is the request's path as the client signed it, e.g.
// r.URL.EscapedPath() or r.URL.Path (the same for every valid channel
// name), and query its parsed query string, e.g. r.URL.Query().
//
// The docs do not say what to do with a parameter given more than once:
// the authentication parameters may appear once only, and any other
// parameter signs as k=v once per value, in order, which is what
// url.Values.Encode, and so pusher-http-go, produces. Keys are lowercased
// in ASCII only, so no byte of a key is ever rewritten.
func VerifyRequest(method, path string, query url.Values, body []byte, appKey, secret string, now time.Time) error {
	params := lowerParams(query)
	sig, err := single(params, paramSignature)
	if err != nil {
		return err
	}
	key, err := single(params, paramKey)
	if err != nil {
		return err
	}
	if key != appKey {
		return fmt.Errorf("%w: auth_key is not this app's key", ErrBadKey)
	}
	version, err := single(params, paramVersion)
	if err != nil {
		return err
	}
	if version != authVersion {
		return fmt.Errorf("%w: auth_version is %q; the only version is %s", ErrBadVersion, version, authVersion)
	}
	ts, err := single(params, paramTimestamp)
	if err != nil {
		return err
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: auth_timestamp %q is not a number of seconds", ErrMalformed, ts)
	}
	skew := int64(MaxClockSkew / time.Second)
	if n := now.Unix(); sec < n-skew || sec > n+skew {
		return fmt.Errorf("%w: auth_timestamp %d is not within %d s of the server's time %d", ErrStale, sec, skew, n)
	}
	if vs := params[paramBodyMD5]; len(vs) > 0 || len(body) > 0 {
		sum, err := single(params, paramBodyMD5)
		if err != nil {
			return fmt.Errorf("%w (required with a request body)", err)
		}
		got, err := hex.DecodeString(sum)
		want := md5.Sum(body)
		if err != nil || !hmac.Equal(got, want[:]) {
			return fmt.Errorf("%w: body_md5 is %q but the body's MD5 is %x", ErrBodyMD5, sum, want)
		}
	}
	toSign := stringToSign(method, path, params)
	if err := checkHexMAC(sig, requestMAC(secret, toSign)); err != nil {
		if errors.Is(err, ErrBadSignature) {
			return fmt.Errorf("%w: expected the HMAC-SHA256 hex digest of %q", err, toSign)
		}
		return fmt.Errorf("auth_signature: %w", err)
	}
	return nil
}

// SignRequest returns the query of an HTTP API request signed as
// VerifyRequest checks it, as the SDKs sign theirs: a copy of query with
// auth_key, auth_timestamp (now), auth_version, body_md5 (when the body is
// not empty) and auth_signature set. Any authentication parameter already
// in query, in any letter case, is replaced. Encode the result as the
// request's query string.
func SignRequest(method, path string, query url.Values, body []byte, appKey, secret string, now time.Time) url.Values {
	q := make(url.Values, len(query)+5)
	for k, vs := range query {
		switch asciiLower(k) {
		case paramKey, paramTimestamp, paramVersion, paramSignature, paramBodyMD5:
			continue
		}
		q[k] = slices.Clone(vs)
	}
	q.Set(paramKey, appKey)
	q.Set(paramTimestamp, strconv.FormatInt(now.Unix(), 10))
	q.Set(paramVersion, authVersion)
	if len(body) > 0 {
		sum := md5.Sum(body)
		q.Set(paramBodyMD5, hex.EncodeToString(sum[:]))
	}
	toSign := stringToSign(method, path, lowerParams(q))
	q.Set(paramSignature, hex.EncodeToString(requestMAC(secret, toSign)))
	return q
}

// lowerParams returns query with its keys lowercased. Values of keys that
// lowercase alike are merged in the order of their original keys, so the
// result does not depend on map order.
func lowerParams(query url.Values) url.Values {
	keys := make([]string, 0, len(query))
	for k := range query {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	params := make(url.Values, len(query))
	for _, k := range keys {
		lk := asciiLower(k)
		params[lk] = append(params[lk], query[k]...)
	}
	return params
}

// single returns the one value of a required parameter.
func single(params url.Values, name string) (string, error) {
	switch vs := params[name]; {
	case len(vs) == 0 || vs[0] == "":
		return "", fmt.Errorf("%w: the %s parameter", ErrMissing, name)
	case len(vs) > 1:
		return "", fmt.Errorf("%w: the %s parameter is given %d times", ErrMalformed, name, len(vs))
	default:
		return vs[0], nil
	}
}

// stringToSign builds "METHOD\nPATH\nQUERY" from lowercased params.
func stringToSign(method, path string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != paramSignature {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(strings.ToUpper(method))
	b.WriteByte('\n')
	b.WriteString(path)
	b.WriteByte('\n')
	first := true
	for _, k := range keys {
		for _, v := range params[k] {
			if !first {
				b.WriteByte('&')
			}
			first = false
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(v)
		}
	}
	return b.String()
}

func requestMAC(secret, toSign string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(toSign))
	return m.Sum(nil)
}

// asciiLower lowercases ASCII letters only: strings.ToLower would also
// rewrite invalid UTF-8, changing what was signed.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return s
}
