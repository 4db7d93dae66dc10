package demo_test

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/wsfargate/websocket-service/server/demo"
)

// mount wires the handler the way the server does: on GET /demo and
// GET /demo/, next to other routes that must stay untouched.
func mount(stats func() demo.Stats) *httptest.Server {
	h := demo.Handler(stats)
	mux := http.NewServeMux()
	mux.Handle("GET /demo", h)
	mux.Handle("GET /demo/", h)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return httptest.NewServer(mux)
}

func fetch(t *testing.T, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestRoutes(t *testing.T) {
	srv := mount(func() demo.Stats { return demo.Stats{Connections: 12, MessagesPerSecond: 3.5} })
	defer srv.Close()

	tests := []struct {
		name, method, path string
		status             int
		contentType        string
		bodyHas            string
	}{
		{"page", "GET", "/demo", 200, "text/html; charset=utf-8", `<script type="module" src="/demo/app.js">`},
		{"page with slash", "GET", "/demo/", 200, "text/html; charset=utf-8", "<h1>WebSocket broadcast</h1>"},
		{"page head", "HEAD", "/demo", 200, "text/html; charset=utf-8", ""},
		{"script", "GET", "/demo/app.js", 200, "text/javascript; charset=utf-8", "new WebSocket("},
		{"style", "GET", "/demo/app.css", 200, "text/css; charset=utf-8", ".log"},
		{"stats", "GET", "/demo/stats", 200, "application/json", `{"connections":12,"messagesPerSecond":3.5}`},
		{"unknown asset", "GET", "/demo/other.js", 404, "text/plain; charset=utf-8", "404"},
		{"embedded dir is not exposed", "GET", "/demo/static/app.js", 404, "text/plain; charset=utf-8", "404"},
		{"asset with trailing slash", "GET", "/demo/app.js/", 404, "text/plain; charset=utf-8", "404"},
		{"nested", "GET", "/demo/stats/x", 404, "text/plain; charset=utf-8", "404"},
		{"post", "POST", "/demo", 405, "text/plain; charset=utf-8", ""},
		{"neighbour route untouched", "GET", "/health", 200, "text/plain; charset=utf-8", "ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := fetch(t, tc.method, srv.URL+tc.path, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %s: status %d, want %d; body %q", tc.method, tc.path, resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
			if !strings.Contains(body, tc.bodyHas) {
				t.Errorf("body does not contain %q:\n%.300s", tc.bodyHas, body)
			}
			if tc.method == "HEAD" && body != "" {
				t.Errorf("HEAD body %q, want empty", body)
			}
			if strings.HasPrefix(tc.path, "/demo") && tc.status != 405 {
				if got := resp.Header.Get("Content-Security-Policy"); got != demo.ContentSecurityPolicy {
					t.Errorf("CSP %q, want %q", got, demo.ContentSecurityPolicy)
				}
				if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
					t.Errorf("X-Content-Type-Options %q, want nosniff", got)
				}
			}
		})
	}
}

// The policy is the one issue 7 asks for, directive by directive.
func TestContentSecurityPolicy(t *testing.T) {
	want := map[string]string{
		"default-src":     "'none'",
		"script-src":      "'self'",
		"style-src":       "'self'",
		"connect-src":     "'self'",
		"img-src":         "'self' data:",
		"base-uri":        "'none'",
		"form-action":     "'none'",
		"frame-ancestors": "'none'",
	}
	got := map[string]string{}
	for _, d := range strings.Split(demo.ContentSecurityPolicy, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		if _, dup := got[name]; dup {
			t.Errorf("directive %s appears twice", name)
		}
		got[name] = value
	}
	if len(got) != len(want) {
		t.Errorf("policy has %d directives, want %d: %q", len(got), len(want), demo.ContentSecurityPolicy)
	}
	for name, value := range want {
		if got[name] != value {
			t.Errorf("%s = %q, want %q", name, got[name], value)
		}
	}
}

func TestAssetsRevalidate(t *testing.T) {
	srv := mount(func() demo.Stats { return demo.Stats{} })
	defer srv.Close()
	for _, path := range []string{"/demo", "/demo/app.js", "/demo/app.css"} {
		t.Run(path, func(t *testing.T) {
			resp, _ := fetch(t, "GET", srv.URL+path, nil)
			etag := resp.Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", cc)
			}
			again, body := fetch(t, "GET", srv.URL+path, http.Header{"If-None-Match": {etag}})
			if again.StatusCode != http.StatusNotModified || body != "" {
				t.Errorf("If-None-Match %s: status %d body %d bytes, want 304 and no body", etag, again.StatusCode, len(body))
			}
		})
	}
}

func TestStats(t *testing.T) {
	tests := []struct {
		name  string
		stats demo.Stats
		want  string
	}{
		{"zero", demo.Stats{}, `{"connections":0,"messagesPerSecond":0}`},
		{"values", demo.Stats{Connections: 50000, MessagesPerSecond: 1234.25}, `{"connections":50000,"messagesPerSecond":1234.25}`},
		{"NaN rate reads as zero", demo.Stats{Connections: 1, MessagesPerSecond: math.NaN()}, `{"connections":1,"messagesPerSecond":0}`},
		{"infinite rate reads as zero", demo.Stats{Connections: 1, MessagesPerSecond: math.Inf(1)}, `{"connections":1,"messagesPerSecond":0}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			srv := mount(func() demo.Stats { calls++; return tc.stats })
			defer srv.Close()
			resp, body := fetch(t, "GET", srv.URL+"/demo/stats", nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := strings.TrimSpace(body); got != tc.want {
				t.Errorf("body %s, want %s", got, tc.want)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if calls != 1 {
				t.Errorf("stats called %d times, want 1", calls)
			}
			var decoded map[string]any
			if err := json.Unmarshal([]byte(body), &decoded); err != nil {
				t.Errorf("not JSON: %v", err)
			}
		})
	}
}

func TestNilStatsPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "stats function is nil") {
			t.Errorf("recover() = %v, want a panic naming the nil stats function", r)
		}
	}()
	demo.Handler(nil)
}

// The CSP forbids inline script and style, so the page must not contain
// any: they would be blocked in the browser, silently.
func TestPageHasNoInlineCode(t *testing.T) {
	srv := mount(func() demo.Stats { return demo.Stats{} })
	defer srv.Close()
	_, page := fetch(t, "GET", srv.URL+"/demo", nil)
	forbidden := []struct {
		what string
		re   *regexp.Regexp
	}{
		{"script with a body", regexp.MustCompile(`<script[^>]*>[^<]`)},
		{"<style> element", regexp.MustCompile(`<style[\s>]`)},
		{"style= attribute", regexp.MustCompile(`\sstyle=`)},
		{"on*= event handler attribute", regexp.MustCompile(`\son[a-z]+=`)},
		{"javascript: URL", regexp.MustCompile(`javascript:`)},
		{"external http(s) resource", regexp.MustCompile(`(?:src|href)="(?:https?:)?//`)},
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1) {
		if !strings.Contains(tag, ` src="/demo/`) {
			t.Errorf("script tag %s does not load a /demo/ asset", tag)
		}
	}
	for _, f := range forbidden {
		if loc := f.re.FindStringIndex(page); loc != nil {
			t.Errorf("page has %s: %q", f.what, page[loc[0]:min(loc[1]+40, len(page))])
		}
	}
}
