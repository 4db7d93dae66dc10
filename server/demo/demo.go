// Package demo serves a small browser page that speaks the service's
// WebSocket protocol: it connects to /wss on its own origin, shows the live
// broadcast with offsets and error frames, lets the visitor send JSON, and
// resumes with ?since= after a disconnect. The page, its script and its
// style sheet are embedded in the binary; nothing is loaded from elsewhere,
// which the Content-Security-Policy enforces.
//
// A second page, PusherHandler's, shows the Pusher Channels endpoints with
// the official pusher-js client (embedded too; see static/vendor): a
// presence channel, client events and events triggered through the HTTP
// API, with the small signing backend a Pusher app needs, limited to demo
// channels.
package demo

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"
)

// Paths the handler answers; every other path under /demo/ is 404.
const (
	PagePath   = "/demo"
	ScriptPath = "/demo/app.js"
	StylePath  = "/demo/app.css"
	StatsPath  = "/demo/stats"
)

// ContentSecurityPolicy is sent with every response of the handler. The
// page runs only its own script and style, talks only to its own origin
// ('self' in connect-src covers ws: and wss: to the same host), and cannot
// be framed.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed static
var static embed.FS

// Stats are the live figures the page shows for the server it is talking to.
type Stats struct {
	// Connections is the number of open WebSocket connections on this
	// server process (this task, on ECS).
	Connections int64 `json:"connections"`
	// MessagesPerSecond is the recent rate of messages broadcast.
	MessagesPerSecond float64 `json:"messagesPerSecond"`
}

// Handler serves the page under /demo and its assets, and the stats at /demo/stats.
//
// It is meant to be mounted for "GET /demo" and "GET /demo/"; it routes those
// paths itself and answers 404 for anything else under /demo/. stats is
// called once per request to /demo/stats and must not be nil.
func Handler(stats func() Stats) http.Handler {
	if stats == nil {
		panic("demo.Handler: stats function is nil")
	}
	page := mustAsset("static/index.html", "text/html; charset=utf-8")
	mux := http.NewServeMux()
	mux.Handle("GET "+PagePath, page)
	mux.Handle("GET "+PagePath+"/{$}", page)
	mux.Handle("GET "+ScriptPath, mustAsset("static/app.js", "text/javascript; charset=utf-8"))
	mux.Handle("GET "+StylePath, mustAsset("static/app.css", "text/css; charset=utf-8"))
	mux.Handle("GET "+StatsPath, statsHandler(stats))
	return withSecurityHeaders(mux)
}

func withSecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// mustAsset serves one embedded file with a content-hash ETag, so browsers
// revalidate cheaply and always pick up a new binary's page. A missing file
// is a build mistake, caught by the package's tests.
func mustAsset(name, contentType string) http.Handler {
	body, err := static.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("demo: embedded %s: %v", name, err))
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", etag)
		// ServeContent answers If-None-Match with 304 and HEAD without a body.
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
	})
}

func statsHandler(stats func() Stats) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		s := stats()
		// JSON has no NaN or infinity; a rate computed over an empty
		// window must not turn into a 500 for the page.
		if math.IsNaN(s.MessagesPerSecond) || math.IsInf(s.MessagesPerSecond, 0) {
			s.MessagesPerSecond = 0
		}
		body, err := json.Marshal(s)
		if err != nil {
			http.Error(w, "stats: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append(body, '\n'))
	})
}
