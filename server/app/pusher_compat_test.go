//go:build compat

package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/app"
	"github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/contract"
	"github.com/wsfargate/websocket-service/server/internal/testnode"
)

// pusherEnv is the server's configuration for the Pusher client tests.
var pusherEnv = map[string]string{
	"ADDR":                        "127.0.0.1:0",
	"ADMIN_ADDR":                  "",
	"LOG_LEVEL":                   "debug",
	"EMF_INTERVAL":                "0s",
	"DRAIN_DELAY":                 "0s",
	"DRAIN_SPREAD":                "0s",
	"SHUTDOWN_TIMEOUT":            "5s",
	"PUSHER_APP_ID":               "1234567",
	"PUSHER_APP_KEY":              "compat-app-key",
	"PUSHER_APP_SECRET":           "compat-secret-0123456789abcdefgh",
	"PUSHER_CLIENT_EVENTS":        "true",
	"PUSHER_MAX_PRESENCE_MEMBERS": "5",
}

// TestPusherClients runs each scenario file in server/testdata/pusher with
// node --test against a real server started in this process: the Pusher
// Channels protocol at /app/{key} and the HTTP API at /apps/{id}, as
// pusher-js, Laravel Echo and the pusher SDK use them unchanged.
func TestPusherClients(t *testing.T) {
	node, dir := testnode.PusherClients(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no *.test.mjs in %s (%v)", dir, err)
	}

	cfg, addr := startPusherServer(t)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"PUSHER_HOST=127.0.0.1",
		"PUSHER_PORT="+port,
		"PUSHER_APP_ID="+cfg.PusherAppID,
		"PUSHER_APP_KEY="+cfg.PusherAppKey,
		"PUSHER_APP_SECRET="+cfg.PusherAppSecret,
		"PUSHER_MAX_EVENT_BYTES="+strconv.Itoa(cfg.PusherMaxEventBytes),
		"PUSHER_ACTIVITY_TIMEOUT="+strconv.Itoa(int(cfg.PusherActivityTimeout/time.Second)),
		"PUSHER_MAX_PRESENCE_MEMBERS="+strconv.Itoa(cfg.PusherMaxPresenceMembers),
	)
	for _, f := range files {
		file := filepath.Base(f)
		t.Run(strings.TrimSuffix(file, ".test.mjs"), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			// --test-force-exit: after a server-initiated close (4001,
			// 4009), pusher-js's Node WebSocket keeps a 30 s close timer
			// that would hold the process open after the last test.
			cmd := exec.CommandContext(ctx, node, "--test", "--test-force-exit", "--test-reporter=spec", file)
			cmd.Dir = dir
			cmd.Env = env
			out := &lineLogger{t: t}
			cmd.Stdout, cmd.Stderr = out, out
			cmd.WaitDelay = 5 * time.Second
			err := cmd.Run()
			out.flush()
			if ctx.Err() != nil {
				t.Fatalf("node --test %s did not finish within 3 minutes", file)
			}
			if err != nil {
				t.Fatalf("node --test %s: %v", file, err)
			}
		})
	}
}

// startPusherServer runs app.Run with pusherEnv until the test ends and
// returns its config and the address it listens on, once /health answers.
// Its log is shown if the test fails.
func startPusherServer(t *testing.T) (*config.Config, string) {
	t.Helper()
	cfg, err := config.Load(func(k string) (string, bool) {
		v, ok := pusherEnv[k]
		return v, ok
	}, nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &serverLog{addr: make(chan string, 1)}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: cfg.LogLevel}))
	stop, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(stop, cfg, logger, &bytes.Buffer{}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server stopped with %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("server did not stop within 15s")
		}
		if t.Failed() {
			t.Logf("server log (last %d lines):\n%s", logTail, logs.tail(logTail))
		}
	})

	var addr string
	select {
	case addr = <-logs.addr:
	case err := <-done:
		t.Fatalf("server stopped at start: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not listen within 30s\n%s", logs.String())
	}
	health := "http://" + addr + contract.HealthPath
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered 200 (last: %v %v)", health, resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cfg, addr
}

// serverLog keeps the server's JSON log and reports the address of its
// "listening" line. slog's JSON handler writes one record per Write.
type serverLog struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr chan string
}

func (l *serverLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.mu.Unlock()
	var rec struct{ Msg, Addr string }
	if json.Unmarshal(p, &rec) == nil && rec.Msg == "listening" {
		select {
		case l.addr <- rec.Addr:
		default:
		}
	}
	return len(p), nil
}

// logTail is how much of the server's log a failure shows.
const logTail = 400

func (l *serverLog) tail(n int) string {
	lines := strings.SplitAfter(l.String(), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "")
}

func (l *serverLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lineLogger streams a child's output into the test log, a line at a time.
type lineLogger struct {
	t    *testing.T
	mu   sync.Mutex
	part []byte
}

func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		w.t.Log(string(w.part[:i]))
		w.part = w.part[i+1:]
	}
	return len(p), nil
}

func (w *lineLogger) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.part) > 0 {
		w.t.Log(string(w.part))
		w.part = nil
	}
}
