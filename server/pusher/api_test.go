package pusher_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/pusher/auth"
)

func httpGet(u string) (int, error) {
	resp, err := http.Get(u)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestAPIRefusals(t *testing.T) {
	a := startApp(t, map[string]string{"PUSHER_MAX_API_BODY": "2048"})
	event := map[string]any{"name": "e", "channel": "news", "data": "{}"}
	stale := func() string {
		body := []byte(mustJSON(event))
		q := auth.SignRequest("POST", "/apps/"+appID+"/events", nil, body, appKey, appSecret, time.Now().Add(-11*time.Minute))
		return "/apps/" + appID + "/events?" + q.Encode()
	}()
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		secret string
		want   int
	}{
		{"wrong secret", "POST", "/events", event, strings.Repeat("f", 32), 401},
		{"malformed body", "POST", "/events", "not an object", appSecret, 400},
		{"no channel", "POST", "/events", map[string]any{"name": "e", "data": "{}"}, appSecret, 400},
		{"bad channel", "POST", "/events", map[string]any{"name": "e", "channel": "a b", "data": "{}"}, appSecret, 400},
		{"101 channels", "POST", "/events", map[string]any{"name": "e", "channels": make([]string, 101), "data": "{}"}, appSecret, 400},
		{"event data too large", "POST", "/events", map[string]any{"name": "e", "channel": "c", "data": strings.Repeat("x", 10241)}, appSecret, 413},
		{"body too large", "POST", "/events", map[string]any{"name": "e", "channel": "c", "data": strings.Repeat("x", 4096)}, appSecret, 413},
		{"batch of 11", "POST", "/batch_events", map[string]any{"batch": make([]map[string]any, 11)}, appSecret, 400},
		{"users of a public channel", "GET", "/channels/news/users", nil, appSecret, 400},
		{"user_count of a public channel", "GET", "/channels/news?info=user_count", nil, appSecret, 400},
		{"unknown endpoint", "GET", "/nothing", nil, appSecret, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, query := tt.path, url.Values(nil)
			if p, q, ok := strings.Cut(tt.path, "?"); ok {
				path = p
				query, _ = url.ParseQuery(q)
			}
			code, out := a.api(t, tt.method, path, query, tt.body, tt.secret)
			if code != tt.want || out["error"] == "" {
				t.Fatalf("%d %v, want %d with an error message", code, out, tt.want)
			}
		})
	}
	t.Run("stale timestamp", func(t *testing.T) {
		code, out := a.rawAPI(t, "POST", stale, []byte(mustJSON(event)))
		if code != 401 {
			t.Fatalf("%d %v, want 401", code, out)
		}
	})
	t.Run("unknown app", func(t *testing.T) {
		code, _ := a.rawAPI(t, "GET", "/apps/999/channels", nil)
		if code != 404 {
			t.Fatalf("%d, want 404", code)
		}
	})
}

func TestAPIChannelsAndBatch(t *testing.T) {
	a := startApp(t, nil)
	cs := make([]*client, 3)
	for i := range cs {
		cs[i] = a.dial(t)
		cs[i].subscribe("presence-lobby", presenceData("u"+strconv.Itoa(i%2), nil))
		cs[i].next("pusher_internal:subscription_succeeded")
		cs[i].subscribe("news-"+strconv.Itoa(i), "")
		cs[i].next("pusher_internal:subscription_succeeded")
	}
	code, out := a.api(t, "GET", "/channels", url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count"}}, nil, appSecret)
	if code != 200 || mustJSON(out) != `{"channels":{"presence-lobby":{"user_count":2}}}` {
		t.Fatalf("channels %d %s", code, mustJSON(out))
	}
	code, out = a.api(t, "GET", "/channels", url.Values{"filter_by_prefix": {"news-"}}, nil, appSecret)
	if code != 200 || mustJSON(out) != `{"channels":{"news-0":{},"news-1":{},"news-2":{}}}` {
		t.Fatalf("channels %d %s", code, mustJSON(out))
	}
	code, out = a.api(t, "GET", "/channels/empty", url.Values{"info": {"subscription_count"}}, nil, appSecret)
	if code != 200 || mustJSON(out) != `{"occupied":false,"subscription_count":0}` {
		t.Fatalf("vacant channel %d %s", code, mustJSON(out))
	}

	batch := map[string]any{"batch": []map[string]any{
		{"name": "one", "channel": "news-0", "data": "1"},
		{"name": "two", "channel": "news-1", "data": "2", "info": "subscription_count"},
	}}
	code, out = a.api(t, "POST", "/batch_events", nil, batch, appSecret)
	if code != 200 || mustJSON(out) != `{"batch":[{},{"subscription_count":1}]}` {
		t.Fatalf("batch %d %s", code, mustJSON(out))
	}
	if f := cs[0].until("one"); string(f.data()) != "1" {
		t.Fatalf("data %s", f.data())
	}
	cs[1].until("two")

	code, out = a.api(t, "POST", "/events", nil, map[string]any{
		"name": "all", "channels": []string{"news-0", "news-2"}, "data": "x", "info": "subscription_count",
	}, appSecret)
	if code != 200 || mustJSON(out) != `{"channels":{"news-0":{"subscription_count":1},"news-2":{"subscription_count":1}}}` {
		t.Fatalf("multi-channel trigger %d %s", code, mustJSON(out))
	}
	cs[0].until("all")
	cs[2].until("all")
}

// The HTTP API is limited per source like the upgrades: over the rate a
// request gets 429 before its signature is even checked.
func TestAPISourceRate(t *testing.T) {
	a := startApp(t, map[string]string{"SOURCE_API_RATE": "0.001", "SOURCE_API_BURST": "2"})
	for i, want := range []int{200, 200, 429} {
		req, err := http.NewRequest("GET", a.HTTP+"/apps/"+appID+"/channels?"+auth.SignRequest("GET", "/apps/"+appID+"/channels", nil, nil, appKey, appSecret, time.Now()).Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want == 429 && !json.Valid(body) {
			t.Fatalf("429 answer %q is not JSON", body)
		}
		if resp.StatusCode != want || (want == 429 && resp.Header.Get("Retry-After") == "") {
			t.Fatalf("request %d: %d (Retry-After %q), want %d", i, resp.StatusCode, resp.Header.Get("Retry-After"), want)
		}
	}
}
