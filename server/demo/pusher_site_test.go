package demo_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/demo"
	"github.com/wsfargate/websocket-service/server/hub"
	"github.com/wsfargate/websocket-service/server/metrics"
	"github.com/wsfargate/websocket-service/server/pusher"
	"github.com/wsfargate/websocket-service/server/transport"
)

// The test app's credentials.
const (
	testAppID     = "demo-app"
	testAppKey    = "demo-key"
	testAppSecret = "demo-secret-0123456789abcdef0123"
)

// pusherSite is a server as the binary assembles it with a Pusher app: the
// transport on /, the app's /app/{key} and /apps/{id}/, both demo pages.
type pusherSite struct {
	URL    string // http://127.0.0.1:port
	Config *config.Config
	Server *transport.Server
}

// startPusherSite runs the site in process, client events on, with env
// on top of the app's settings.
func startPusherSite(t testing.TB, env map[string]string) *pusherSite {
	t.Helper()
	vars := map[string]string{
		"PUSHER_APP_ID": testAppID, "PUSHER_APP_KEY": testAppKey, "PUSHER_APP_SECRET": testAppSecret,
		"PUSHER_CLIENT_EVENTS": "true",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	log := hub.NewLog(cfg.HistorySize, hub.StartOffset(time.Now()))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := transport.New(cfg, log, log, m, logger)
	t.Cleanup(srv.Close)
	app := pusher.New(cfg, srv, logger, pusher.Options{Registry: m.Registry})
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Run(ctx)

	routes := http.NewServeMux()
	routes.Handle("/", srv.Handler())
	app.Routes(routes)
	mountPusherDemo(routes, cfg)
	page := demo.Handler(func() demo.Stats { return demo.Stats{Connections: srv.Connections()} })
	routes.Handle("GET /demo", page)
	routes.Handle("GET /demo/", page)

	hs := httptest.NewServer(routes)
	t.Cleanup(func() {
		cancel()
		hs.CloseClientConnections()
		hs.Close()
	})
	return &pusherSite{URL: hs.URL, Config: cfg, Server: srv}
}

// mountPusherDemo is what server/app does after app.Routes(routes) when
// the Pusher app is on.
func mountPusherDemo(routes *http.ServeMux, cfg *config.Config) {
	pusherDemo := demo.PusherHandler(demo.PusherOptions{
		AppID: cfg.PusherAppID, Key: cfg.PusherAppKey, Secret: cfg.PusherAppSecret,
		ClientEvents: cfg.PusherClientEvents,
		Publish:      demo.APIPublisher(routes, cfg.PusherAppID, cfg.PusherAppKey, cfg.PusherAppSecret),
	})
	routes.Handle("GET "+demo.PusherPagePath, pusherDemo)
	routes.Handle("GET "+demo.PusherPagePath+"/", pusherDemo)
	routes.Handle("POST "+demo.PusherPagePath+"/", pusherDemo)
}
