package auth

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The worked example of the HTTP API reference.
const (
	docBody      = `{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`
	docPath      = "/apps/3/events"
	docBodyMD5   = "ec365a775a4cd0599faeb73354201b6f"
	docSignature = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
	docQuery     = "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
)

var docTime = time.Unix(1353088179, 0)

func TestVerifyRequestWorkedExample(t *testing.T) {
	q, err := url.ParseQuery(docQuery)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyRequest("POST", docPath, q, []byte(docBody), docKey, docSecret, docTime); err != nil {
		t.Fatalf("the docs' worked example does not verify: %v", err)
	}
}

func TestSignRequestWorkedExample(t *testing.T) {
	q := SignRequest("POST", docPath, nil, []byte(docBody), docKey, docSecret, docTime)
	want := url.Values{
		"auth_key":       {docKey},
		"auth_timestamp": {"1353088179"},
		"auth_version":   {"1.0"},
		"body_md5":       {docBodyMD5},
		"auth_signature": {docSignature},
	}
	if q.Encode() != want.Encode() {
		t.Errorf("SignRequest = %s\nwant          %s", q.Encode(), want.Encode())
	}
}

func TestStringToSign(t *testing.T) {
	tests := []struct {
		method, path string
		query        url.Values
		want         string
	}{
		// The reference's note: keys lowercased, nothing URL-escaped.
		{"post", "/some/resource", url.Values{"auth_key": {"foo"}, "Name": {"Something else"}},
			"POST\n/some/resource\nauth_key=foo&name=Something else"},
		{"GET", "/apps/3/channels", url.Values{"info": {"user_count,subscription_count"}, "filter_by_prefix": {"presence-"}, "auth_signature": {"x"}},
			"GET\n/apps/3/channels\nfilter_by_prefix=presence-&info=user_count,subscription_count"},
		{"GET", "/p", url.Values{"b": {"2", "1"}, "a": {"&="}},
			"GET\n/p\na=&=&b=2&b=1"},
		{"GET", "/p", nil, "GET\n/p\n"},
	}
	for _, tt := range tests {
		if got := stringToSign(tt.method, tt.path, lowerParams(tt.query)); got != tt.want {
			t.Errorf("stringToSign(%v) = %q, want %q", tt.query, got, tt.want)
		}
	}
}

func TestVerifyRequest(t *testing.T) {
	body := []byte(docBody)
	signed := func(method string, query url.Values, body []byte, at time.Time) url.Values {
		return SignRequest(method, docPath, query, body, docKey, docSecret, at)
	}
	with := func(q url.Values, k string, vs ...string) url.Values {
		q = cloneValues(q)
		if vs == nil {
			delete(q, k)
		} else {
			q[k] = vs
		}
		return q
	}
	base := signed("POST", url.Values{"x": {"1"}}, body, docTime)
	tests := []struct {
		name    string
		method  string
		query   url.Values
		body    []byte
		now     time.Time
		wantErr error
	}{
		{"signed", "POST", base, body, docTime, nil},
		{"600 s early", "POST", base, body, docTime.Add(-MaxClockSkew), nil},
		{"600 s late", "POST", base, body, docTime.Add(MaxClockSkew), nil},
		{"601 s late", "POST", base, body, docTime.Add(MaxClockSkew + time.Second), ErrStale},
		{"601 s early", "POST", base, body, docTime.Add(-MaxClockSkew - time.Second), ErrStale},
		{"get without body", "GET", signed("GET", url.Values{"info": {"user_count"}}, nil, docTime), nil, docTime, nil},
		{"lowercase method", "get", signed("GET", nil, nil, docTime), nil, docTime, nil},
		{"no signature", "POST", with(base, "auth_signature"), body, docTime, ErrMissing},
		{"no key", "POST", with(base, "auth_key"), body, docTime, ErrMissing},
		{"no version", "POST", with(base, "auth_version"), body, docTime, ErrMissing},
		{"no timestamp", "POST", with(base, "auth_timestamp"), body, docTime, ErrMissing},
		{"no body_md5 with a body", "POST", with(base, "body_md5"), body, docTime, ErrMissing},
		{"empty signature", "POST", with(base, "auth_signature", ""), body, docTime, ErrMissing},
		{"other key", "POST", with(base, "auth_key", "other"), body, docTime, ErrBadKey},
		{"version 2", "POST", with(base, "auth_version", "2.0"), body, docTime, ErrBadVersion},
		{"timestamp not a number", "POST", with(base, "auth_timestamp", "soon"), body, docTime, ErrMalformed},
		{"timestamp in ms", "POST", with(base, "auth_timestamp", "1353088179000"), body, docTime, ErrStale},
		{"two keys", "POST", with(base, "auth_key", docKey, docKey), body, docTime, ErrMalformed},
		{"two signatures", "POST", with(base, "auth_signature", docSignature, docSignature), body, docTime, ErrMalformed},
		{"key in capitals too", "POST", with(base, "AUTH_KEY", docKey), body, docTime, ErrMalformed},
		{"body changed", "POST", base, []byte(docBody + " "), docTime, ErrBodyMD5},
		{"body_md5 not hex", "POST", with(base, "body_md5", "zz"), body, docTime, ErrBodyMD5},
		{"body dropped", "POST", base, nil, docTime, ErrBodyMD5},
		{"signature not hex", "POST", with(base, "auth_signature", "xyz"), body, docTime, ErrMalformed},
		{"parameter added", "POST", with(base, "y", "2"), body, docTime, ErrBadSignature},
		{"parameter changed", "POST", with(base, "x", "2"), body, docTime, ErrBadSignature},
		{"parameter dropped", "POST", with(base, "x"), body, docTime, ErrBadSignature},
		{"other method", "PUT", base, body, docTime, ErrBadSignature},
		{"other secret", "POST", SignRequest("POST", docPath, nil, body, docKey, "other", docTime), body, docTime, ErrBadSignature},
	}
	for _, tt := range tests {
		err := VerifyRequest(tt.method, docPath, tt.query, tt.body, docKey, docSecret, tt.now)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("%s: VerifyRequest = %v, want %v", tt.name, err, tt.wantErr)
		}
		if err != nil {
			want := SignRequest(tt.method, docPath, tt.query, tt.body, docKey, docSecret, tt.now).Get("auth_signature")
			checkNoLeak(t, err, want)
		}
	}
}

// TestVerifyRequestOtherPath checks that the path is signed.
func TestVerifyRequestOtherPath(t *testing.T) {
	q := SignRequest("GET", "/apps/3/channels", nil, nil, docKey, docSecret, docTime)
	err := VerifyRequest("GET", "/apps/4/channels", q, nil, docKey, docSecret, docTime)
	if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "/apps/4/channels") {
		t.Errorf("VerifyRequest = %v, want ErrBadSignature naming the string to sign", err)
	}
}

// TestVerifyRequestAsSDKsSign builds requests the way each server SDK does,
// independently of SignRequest, and checks that they verify.
func TestVerifyRequestAsSDKsSign(t *testing.T) {
	ts := strconv.FormatInt(docTime.Unix(), 10)
	sign := func(s string) string {
		m := hmac.New(sha256.New, []byte(docSecret))
		m.Write([]byte(s))
		return hex.EncodeToString(m.Sum(nil))
	}
	md5hex := func(b []byte) string {
		s := md5.Sum(b)
		return hex.EncodeToString(s[:])
	}
	// pusher-http-node (lib/requests.js): sorted k=v joined with '&', not
	// escaped, used as is for the URL too; body_md5 only with a body.
	node := func(method, path string, params map[string]string, body []byte) (string, []byte) {
		p := map[string]string{"auth_key": docKey, "auth_timestamp": ts, "auth_version": "1.0"}
		if len(body) > 0 {
			p["body_md5"] = md5hex(body)
		}
		for k, v := range params {
			p[k] = v
		}
		keys := make([]string, 0, len(p))
		for k := range p {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		pairs := make([]string, len(keys))
		for i, k := range keys {
			pairs[i] = k + "=" + p[k]
		}
		qs := strings.Join(pairs, "&")
		return qs + "&auth_signature=" + sign(method+"\n"+path+"\n"+qs), body
	}
	// pusher-http-python (pusher/http.py): body_md5 always, the MD5 of an
	// empty body on GET.
	python := func(method, path string, params map[string]string, body []byte) (string, []byte) {
		p := url.Values{"auth_key": {docKey}, "auth_timestamp": {ts}, "auth_version": {"1.0"}, "body_md5": {md5hex(body)}}
		for k, v := range params {
			p.Set(k, v)
		}
		unescaped, _ := url.QueryUnescape(p.Encode())
		p.Set("auth_signature", sign(method+"\n"+path+"\n"+unescaped))
		return p.Encode(), body
	}
	// pusher-http-go (request_url.go): url.Values.Encode, unescaped, for
	// the signature and as the raw query.
	goSDK := func(method, path string, params map[string]string, body []byte) (string, []byte) {
		p := url.Values{"auth_key": {docKey}, "auth_timestamp": {ts}, "auth_version": {"1.0"}}
		if body != nil {
			p.Add("body_md5", md5hex(body))
		}
		for k, v := range params {
			p.Add(k, v)
		}
		unescaped, _ := url.QueryUnescape(p.Encode())
		p.Add("auth_signature", sign(method+"\n"+path+"\n"+unescaped))
		raw, _ := url.QueryUnescape(p.Encode())
		return raw, body
	}
	sdks := map[string]func(string, string, map[string]string, []byte) (string, []byte){"node": node, "python": python, "go": goSDK}
	requests := []struct {
		method, path string
		params       map[string]string
		body         []byte
	}{
		{"POST", "/apps/3/events", nil, []byte(docBody)},
		{"POST", "/apps/3/batch_events", nil, []byte(`{"batch":[{"name":"e","channel":"c","data":"{}"}]}`)},
		{"GET", "/apps/3/channels", map[string]string{"filter_by_prefix": "presence-", "info": "user_count"}, nil},
		{"GET", "/apps/3/channels/presence-a;b@c", map[string]string{"info": "user_count,subscription_count"}, nil},
		{"GET", "/apps/3/channels/presence-a/users", nil, nil},
		{"POST", "/apps/3/users/42/terminate_connections", nil, []byte(`{}`)},
	}
	for name, sdk := range sdks {
		for _, r := range requests {
			raw, body := sdk(r.method, r.path, r.params, r.body)
			q, err := url.ParseQuery(raw)
			if err != nil {
				t.Fatalf("%s: %s: %v", name, raw, err)
			}
			if err := VerifyRequest(r.method, r.path, q, body, docKey, docSecret, docTime); err != nil {
				t.Errorf("%s %s %s?%s: %v", name, r.method, r.path, raw, err)
			}
		}
	}
}

func cloneValues(q url.Values) url.Values {
	c := make(url.Values, len(q))
	for k, vs := range q {
		c[k] = append([]string(nil), vs...)
	}
	return c
}
