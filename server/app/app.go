// Package app assembles the server from its parts and runs it through its
// life: listen, serve, and on the stop signal drain in three phases.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/wsfargate/websocket-service/server/broker"
	"github.com/wsfargate/websocket-service/server/config"
	"github.com/wsfargate/websocket-service/server/contract"
	"github.com/wsfargate/websocket-service/server/demo"
	"github.com/wsfargate/websocket-service/server/ecstask"
	"github.com/wsfargate/websocket-service/server/hub"
	"github.com/wsfargate/websocket-service/server/metrics"
	"github.com/wsfargate/websocket-service/server/pusher"
	"github.com/wsfargate/websocket-service/server/pusher/cluster"
	"github.com/wsfargate/websocket-service/server/transport"
)

// Exit statuses.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitConfig = 2
)

// Main runs the wsserver command: it returns the process exit status. stop
// ends when the process is asked to stop (SIGTERM, SIGINT); that starts the
// drain. args exclude the program name.
func Main(stop context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	healthcheck := len(args) > 0 && (args[0] == "-healthcheck" || args[0] == "--healthcheck")
	if healthcheck {
		args = args[1:]
	}
	cfg, err := config.Load(lookup, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	if healthcheck {
		return probe(stop, cfg.Addr, stderr)
	}
	logger := cfg.Logger(stderr)
	// go-redis logs through a process-wide logger of its own; route it into
	// the structured log, so that no line on stderr is outside the JSON.
	redis.SetLogger(redisLog{logger})
	debug.SetGCPercent(cfg.GCPercent)
	if cfg.TaskMetadataURI != "" && cfg.StopPollInterval > 0 {
		var cancel context.CancelFunc
		stop, cancel = context.WithCancel(stop)
		defer cancel()
		go func() {
			if ecstask.WaitForStop(stop, http.DefaultClient, cfg.TaskMetadataURI, cfg.StopPollInterval, logger) == nil {
				logger.Info("ECS is stopping this task; draining before SIGTERM")
				cancel()
			}
		}()
	}
	if err := Run(stop, cfg, logger, stdout); err != nil {
		logger.Error("server stopped with an error", "err", err)
		return ExitFailed
	}
	return ExitOK
}

// Run serves until stop ends, then drains: it reports unhealthy and refuses
// upgrades at once, keeps its clients for DRAIN_DELAY while the load
// balancer stops routing here, closes them with 1001 spread over
// DRAIN_SPREAD, and returns. The whole drain is bounded by SHUTDOWN_TIMEOUT.
// EMF lines go to emf.
func Run(stop context.Context, cfg *config.Config, logger *slog.Logger, emf io.Writer) error {
	m := metrics.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log, pub, b, err := openBroker(stop, ctx, cfg, logger, m)
	if err != nil {
		return err
	}
	if log == nil {
		return nil // stopped before the broker was reached
	}
	srv := transport.New(cfg, log, pub, m, logger)
	var app *pusher.App
	if cfg.PusherAppID != "" {
		if app, err = startPusher(stop, ctx, cfg, srv, b, logger, m); err != nil || app == nil {
			return err // nil: stopped before the broker was reached
		}
	}

	ln, err := transport.Listen(ctx, cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on ADDR %s: %w", cfg.Addr, err)
	}
	routes := http.NewServeMux()
	routes.Handle("/", srv.Handler())
	if app != nil {
		app.Routes(routes)
	}
	if cfg.DemoEnabled {
		page := demo.Handler(demoStats(srv, log))
		routes.Handle("GET /demo", page)
		routes.Handle("GET /demo/", page)
		if app != nil {
			pusherDemo := demo.PusherHandler(demo.PusherOptions{
				AppID: cfg.PusherAppID, Key: cfg.PusherAppKey, Secret: cfg.PusherAppSecret,
				ClientEvents: cfg.PusherClientEvents,
				// Through the server's own router: the same checks, limits
				// and delivery to every task as a backend's request.
				Publish: demo.APIPublisher(routes, cfg.PusherAppID, cfg.PusherAppKey, cfg.PusherAppSecret),
			})
			routes.Handle("GET "+demo.PusherPagePath, pusherDemo)
			routes.Handle("GET "+demo.PusherPagePath+"/", pusherDemo)
			routes.Handle("POST "+demo.PusherPagePath+"/", pusherDemo)
		}
	}
	public := &http.Server{
		Handler:           routes,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		// No ReadTimeout or WriteTimeout: they would also bound upgraded
		// connections, which live for hours. The WebSocket layer has its
		// own write and ping timeouts.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	servers := []*http.Server{public}
	listeners := []net.Listener{ln}
	if cfg.AdminAddr != "" {
		aln, err := net.Listen("tcp", cfg.AdminAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen on ADMIN_ADDR %s: %w", cfg.AdminAddr, err)
		}
		servers = append(servers, &http.Server{Handler: adminHandler(m), ReadHeaderTimeout: cfg.ReadHeaderTimeout})
		listeners = append(listeners, aln)
		logger.Info("admin listening", "addr", aln.Addr().String())
	}

	serveErr := make(chan error, len(servers))
	for i, hs := range servers {
		go func() {
			if err := hs.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
			}
		}()
	}
	go srv.Run(ctx)
	if cfg.EMFInterval > 0 {
		go func() {
			if err := m.RunEMF(ctx, emf, cfg.EMFInterval, cfg.MetricService, srv.Connections); err != nil {
				logger.Error("EMF output failed", "err", err)
			}
		}()
	}
	base := browsable(ln.Addr())
	logger.Info("listening", "addr", ln.Addr().String(), "websocket", "ws://"+base+contract.WebSocketPath,
		"demo", "http://"+base+demo.PagePath)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-stop.Done():
	}

	started := time.Now()
	srv.StartDraining()
	logger.Info("draining: health checks now fail and upgrades are refused",
		"connections", srv.Connections(), "drain_delay", cfg.DrainDelay.String(), "drain_spread", cfg.DrainSpread.String())
	shutdown, cancelShutdown := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancelShutdown()

	var errs []error
	select {
	case <-time.After(cfg.DrainDelay):
	case err := <-serveErr:
		errs = append(errs, fmt.Errorf("serve: %w", err))
	}
	if err := srv.CloseAll(shutdown, cfg.DrainSpread); err != nil {
		errs = append(errs, err)
	}
	defer srv.Close()
	for _, hs := range servers {
		if err := hs.Shutdown(shutdown); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	}
	logger.Info("stopped", "took", time.Since(started).Round(time.Millisecond).String())
	return errors.Join(errs...)
}

// openBroker returns the log the server delivers from and the publisher
// that feeds it. With Redis it loads the stream's recent history first,
// retrying until Redis answers or stop ends (then the log is nil), and keeps
// following the stream until ctx ends.
func openBroker(stop, ctx context.Context, cfg *config.Config, logger *slog.Logger, m *metrics.Metrics) (*hub.Log, transport.Publisher, *broker.Redis, error) {
	capacity := max(cfg.HistorySize, cfg.SendQueue+1)
	if cfg.Broker == "memory" {
		log := hub.NewLog(capacity, hub.StartOffset(time.Now()))
		return log, log, nil, nil
	}
	b, err := broker.NewRedis(broker.Options{
		URL: cfg.RedisURL, Username: cfg.RedisUsername, Password: cfg.RedisPassword,
		Cluster: cfg.RedisCluster, Stream: cfg.RedisStream, History: cfg.HistorySize,
	}, logger, m)
	if err != nil {
		return nil, nil, nil, err
	}
	go func() { <-ctx.Done(); b.Close() }()
	for wait := 100 * time.Millisecond; ; wait = min(wait*2, 5*time.Second) {
		log, from, err := b.Load(stop, capacity)
		if err == nil {
			go b.Follow(ctx, log, from)
			return log, b, b, nil
		}
		logger.Error("waiting for the broker before serving", "err", err, "retry_in", wait.String())
		select {
		case <-stop.Done():
			return nil, nil, nil, nil
		case <-time.After(wait):
		}
	}
}

// startPusher builds the Pusher app: alone in memory, or, with a Redis
// broker, sharing its state and events with every task through the same
// server. It waits until the app follows the event stream, so that no
// event published after the task starts serving is missed, and returns nil
// if stop ends first.
func startPusher(stop, ctx context.Context, cfg *config.Config, srv *transport.Server, b *broker.Redis, logger *slog.Logger, m *metrics.Metrics) (*pusher.App, error) {
	hooks := pusher.Webhooks(cfg, logger, m.Registry)
	if hooks != nil {
		go func() { _ = hooks.Run(ctx) }()
	}
	opts := pusher.Options{Webhooks: hooks, Registry: m.Registry}
	var bus *cluster.Bus
	var shared *cluster.State
	if b != nil {
		rdb, err := b.Client(stop)
		if err != nil {
			return nil, fmt.Errorf("pusher state on the broker: %w", err)
		}
		shared, bus = cluster.NewState(rdb, cfg.PusherAppID), cluster.NewBus(rdb, cfg.PusherAppID, logger)
		opts.State, opts.Bus = shared, bus
	}
	app := pusher.New(cfg, srv, logger, opts)
	if b != nil {
		ready := make(chan struct{})
		go bus.Follow(ctx, app, ready)
		select {
		case <-ready:
		case <-stop.Done():
			return nil, nil
		}
		go shared.Heartbeat(ctx, func() {
			logger.Warn("this task was taken for dead while cut off from Redis; its Pusher clients reconnect to subscribe again")
			srv.Reconnect(app)
		})
		go app.Reap(ctx, cluster.ReapInterval)
	}
	logger.Info("Pusher Channels app enabled", "app_id", cfg.PusherAppID, "key", cfg.PusherAppKey,
		"client_events", cfg.PusherClientEvents, "webhooks", hooks != nil, "shared", b != nil)
	return app, nil
}

// redisLog writes go-redis's messages (failed dials, pool trouble) as
// warnings of the process logger.
type redisLog struct{ logger *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.logger.WarnContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}

// browsable turns a listener's address into one a browser on this machine
// can open: a wildcard host becomes localhost.
func browsable(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// demoStats gives the demo page this process's connections and the recent
// broadcast rate, measured over at least a second between calls.
func demoStats(srv *transport.Server, log *hub.Log) func() demo.Stats {
	var mu sync.Mutex
	last, at, rate := log.Appended(), time.Now(), 0.0
	return func() demo.Stats {
		mu.Lock()
		defer mu.Unlock()
		if now := time.Now(); now.Sub(at) >= time.Second {
			n := log.Appended()
			rate = float64(n-last) / now.Sub(at).Seconds()
			last, at = n, now
		}
		return demo.Stats{Connections: srv.Connections(), MessagesPerSecond: rate}
	}
}

func adminHandler(m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// probe asks the local server's health endpoint, for container health
// checks in an image that has no shell or curl.
func probe(ctx context.Context, addr string, stderr io.Writer) int {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return ExitFailed
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort("127.0.0.1", port) + contract.HealthPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return ExitFailed
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return ExitFailed
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "healthcheck:", url, "answered", resp.Status)
		return ExitFailed
	}
	return ExitOK
}
