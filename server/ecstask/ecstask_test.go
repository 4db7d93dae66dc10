package ecstask_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/ecstask"
)

func TestWaitForStop(t *testing.T) {
	tests := []struct {
		name      string
		responses []string // served in turn, the last one repeated
		status    int
		wantStop  bool
	}{
		{"stop after a few polls", []string{`{"DesiredStatus":"RUNNING"}`, `{"DesiredStatus":"RUNNING"}`, `{"DesiredStatus":"STOPPED","KnownStatus":"RUNNING"}`}, 200, true},
		{"running stays running", []string{`{"DesiredStatus":"RUNNING"}`}, 200, false},
		{"errors do not count as a stop", []string{`not json`}, 200, false},
		{"missing field is an error, not a stop", []string{`{}`}, 200, false},
		{"endpoint failing does not stop the server", []string{`{"DesiredStatus":"STOPPED"}`}, 500, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var polls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v4/abc/task" {
					http.NotFound(w, r)
					return
				}
				n := int(polls.Add(1)) - 1
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.responses[min(n, len(tt.responses)-1)])
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err := ecstask.WaitForStop(ctx, srv.Client(), srv.URL+"/v4/abc", 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if stopped := err == nil; stopped != tt.wantStop {
				t.Fatalf("WaitForStop = %v after %d polls, want stop=%v", err, polls.Load(), tt.wantStop)
			}
			if !tt.wantStop && polls.Load() < 5 {
				t.Fatalf("only %d polls in 300ms at 10ms: it gave up polling", polls.Load())
			}
		})
	}
}
