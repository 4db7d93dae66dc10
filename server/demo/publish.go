package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/wsfargate/websocket-service/server/contract"
	"github.com/wsfargate/websocket-service/server/pusher/auth"
)

// PublishError is a refusal of the HTTP API: its status and message.
type PublishError struct {
	Status     int
	Message    string
	RetryAfter string // the Retry-After of a 429, if any
}

func (e *PublishError) Error() string {
	return fmt.Sprintf("the HTTP API answered %d: %s", e.Status, e.Message)
}

// visitorKey carries the request of the visitor a publish is made for.
type visitorKey struct{}

// APIPublisher returns a PublishFunc that publishes as an app's backend
// does, through the Pusher HTTP API: a POST /apps/{appID}/events signed with
// the key and secret (auth.SignRequest), served in process by api, the
// server's handler that routes /apps/. The event so takes the same path as
// any backend's: the same checks and limits, and every task's subscribers.
//
// When the publish is made for a visitor's request (PusherHandler's
// trigger), the API sees that visitor's address, so the per-source API
// limit (SOURCE_API_RATE) counts the visitor, not the server. A refusal is
// a *PublishError.
func APIPublisher(api http.Handler, appID, key, secret string) PublishFunc {
	path := contract.PusherAPIPrefix + appID + "/events"
	return func(ctx context.Context, channel, event, data string) error {
		body, err := json.Marshal(struct {
			Name    string `json:"name"`
			Channel string `json:"channel"`
			Data    string `json:"data"`
		}{event, channel, data})
		if err != nil {
			return err
		}
		query := auth.SignRequest(http.MethodPost, path, nil, body, key, secret, time.Now())
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, path+"?"+query.Encode(), bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "127.0.0.1:0"
		if v, ok := ctx.Value(visitorKey{}).(*http.Request); ok {
			req.Host, req.RemoteAddr = v.Host, v.RemoteAddr
			for _, a := range v.Header.Values(contract.ViewerAddressHeader) {
				req.Header.Add(contract.ViewerAddressHeader, a)
			}
		}
		rec := &recorder{header: make(http.Header)}
		api.ServeHTTP(rec, req)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		if rec.status == http.StatusOK {
			return nil
		}
		e := &PublishError{Status: rec.status, Message: strings.TrimSpace(rec.body.String()), RetryAfter: rec.header.Get("Retry-After")}
		var answer struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(rec.body.Bytes(), &answer) == nil && answer.Error != "" {
			e.Message = answer.Error
		}
		return e
	}
}

// recorder is the response writer of an in-process API call; it keeps the
// first KiB of the body, enough for an error message.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

const recordLimit = 1 << 10

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	if room := recordLimit - r.body.Len(); room > 0 {
		r.body.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}
