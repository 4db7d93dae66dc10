package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"
)

// UsageError is a bad command line; the command exits with status 2.
type UsageError struct{ msg string }

func (e UsageError) Error() string { return e.msg }

const usageHead = `usage: loadgen MODE [flags] URL

Modes:
  churn       connect, wait for the greeting, close; N workers, for -d
  hold        ramp -conns idle connections at -rate/s, keep them for -d
  fanout      -conns subscribers, one publisher at -rate msg/s for -d; latency, loss
  throughput  -conns clients each sending in a closed loop for -d; deliveries/s

Pusher Channels modes (protocol 7 at /app/{key}, the signed HTTP API at /apps/{id}):
  pusher-fanout    -conns subscribers of one public channel, events through the API at -rate/s
  pusher-channels  -conns subscribers over -channels channels, -rate channel events/s in all
  pusher-presence  -conns members joining and leaving -channels presence channels; joins+leaves/s
  pusher-hold      -conns idle connections, each subscribed to one of -channels channels; KiB each

URL is ws://host:port/wss or wss://host/wss (default ws://127.0.0.1:8080/wss);
for the Pusher modes the server's root, ws://host:port (the path becomes
/app/<-key>?protocol=7), or an /app/<key> URL.
Run "loadgen MODE -h" for the flags of a mode. "loadgen report -h" renders
bench/REPORT.md from the results bench/run.sh collects.
`

// Main parses args (without the program name), runs one mode and writes
// the summary to stdout, progress and notes to stderr. A cancelled ctx ends
// the run early; the summary is still written.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usageHead)
		if len(args) == 0 {
			return UsageError{"no mode given"}
		}
		return flag.ErrHelp
	}
	mode := Mode(args[0])
	if !slices.Contains(AllModes(), mode) {
		fmt.Fprint(stderr, usageHead)
		return UsageError{fmt.Sprintf("unknown mode %q", args[0])}
	}
	cfg := DefaultConfig(mode)
	fs := flag.NewFlagSet("loadgen "+string(mode), flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: loadgen %s [flags] URL\n\nFlags:\n", mode)
		fs.PrintDefaults()
	}
	opts := bindFlags(fs, &cfg)
	rest, err := parseInterleaved(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return UsageError{err.Error()}
	}
	if opts.secret != "" {
		cfg.AppSecret = opts.secret
	} else if s := os.Getenv("PUSHER_APP_SECRET"); s != "" && mode.IsPusher() {
		cfg.AppSecret = s
	}
	switch len(rest) {
	case 0:
	case 1:
		cfg.URL = rest[0]
	default:
		return UsageError{fmt.Sprintf("one URL expected, got %q", rest)}
	}
	if err := cfg.Validate(); err != nil {
		return UsageError{err.Error()}
	}
	if opts.progress != "auto" && opts.progress != "bar" && opts.progress != "lines" && opts.progress != "none" {
		return UsageError{fmt.Sprintf("-progress %q: want auto, bar, lines or none", opts.progress)}
	}

	need := cfg.Conns + 1
	switch mode {
	case ModeChurn:
		need = cfg.Workers
	case ModePusherPresence:
		need = cfg.Conns + cfg.Channels + 1 // an observer per channel
	case ModePusherFanout, ModePusherChannels:
		need = cfg.Conns + cfg.Publishers
	}
	if err := raiseNofile(stderr, need); err != nil {
		return err
	}

	m := &Meter{}
	stopDisplay := startDisplay(opts, mode, m, stderr)
	res, err := Run(ctx, cfg, m)
	stopDisplay()
	if err != nil {
		return err
	}
	if opts.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return res.WriteText(stdout)
}

type cliOpts struct {
	json     bool
	progress string
	interval time.Duration
	secret   string // -secret, applied after parsing
}

func bindFlags(fs *flag.FlagSet, cfg *Config) *cliOpts {
	o := &cliOpts{}
	fs.BoolVar(&o.json, "json", false, "print the result as JSON instead of the summary")
	fs.StringVar(&o.progress, "progress", "auto", "live display on stderr: auto (bar on a terminal, lines otherwise), bar, lines, none")
	fs.DurationVar(&o.interval, "progress-interval", 5*time.Second, "interval of the progress lines when not on a terminal")
	fs.DurationVar(&cfg.Duration, "d", cfg.Duration, "duration of the measured phase")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", cfg.DialTimeout, "limit for TCP, TLS, upgrade and greeting together")
	fs.IntVar(&cfg.DialConcurrency, "dial-concurrency", cfg.DialConcurrency, "connects in flight at once while ramping")
	fs.StringVar(&cfg.Origin, "origin", cfg.Origin, "Origin header to send with each upgrade")
	fs.IntVar(&cfg.PID, "pid", cfg.PID, "server process on this host to sample (RSS, CPU) from /proc")
	fs.Func("aux-pid", "`name=pid` of a further process to sample with -pid, e.g. redis=1234 (repeatable)", func(v string) error {
		name, pid, ok := strings.Cut(v, "=")
		n, err := strconv.Atoi(pid)
		if !ok || name == "" || err != nil || n <= 0 {
			return fmt.Errorf("want name=pid, got %q", v)
		}
		cfg.AuxPIDs = append(cfg.AuxPIDs, AuxPID{Name: name, PID: n})
		return nil
	})
	switch cfg.Mode {
	case ModeChurn:
		fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "connect-close loops running at once")
	case ModeHold:
		fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "connections to open and hold")
		fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "connections opened per second while ramping")
		fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "wait after the ramp before sampling the server's memory")
	case ModeFanout:
		fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "subscribers")
		fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "messages published per second")
		fs.Float64Var(&cfg.RampRate, "ramp", cfg.RampRate, "subscribers connected per second before publishing (0: as fast as -dial-concurrency allows)")
		fs.IntVar(&cfg.PayloadBytes, "payload", cfg.PayloadBytes, "padding bytes added to each message")
		fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "longest wait after the last publish for deliveries in flight")
	case ModeThroughput:
		fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "closed-loop clients")
		fs.Float64Var(&cfg.RampRate, "ramp", cfg.RampRate, "clients connected per second before the loop starts (0: as fast as -dial-concurrency allows)")
		fs.IntVar(&cfg.PayloadBytes, "payload", cfg.PayloadBytes, "padding bytes added to each message")
		fs.DurationVar(&cfg.EchoTimeout, "echo-timeout", cfg.EchoTimeout, "longest wait for a client's own message to come back")
	case ModePusherFanout:
		fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "subscribers of the channel")
		fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "events triggered per second through the HTTP API")
		fs.Float64Var(&cfg.RampRate, "ramp", cfg.RampRate, "subscribers connected per second before publishing (0: as fast as -dial-concurrency allows)")
		fs.IntVar(&cfg.PayloadBytes, "payload", cfg.PayloadBytes, "padding bytes added to each event's data")
		fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "longest wait after the last publish for deliveries in flight")
	case ModePusherChannels:
		fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "subscribers; subscriber i takes channel i mod -channels")
		fs.IntVar(&cfg.Channels, "channels", cfg.Channels, "public channels")
		fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "channel events triggered per second, over all channels")
		fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "channels one API request triggers the event on (Pusher's channels list, at most 100)")
		fs.IntVar(&cfg.Publishers, "publishers", cfg.Publishers, "API requests in flight at once")
		fs.Float64Var(&cfg.RampRate, "ramp", cfg.RampRate, "subscribers connected per second before publishing (0: as fast as -dial-concurrency allows)")
		fs.IntVar(&cfg.PayloadBytes, "payload", cfg.PayloadBytes, "padding bytes added to each event's data")
		fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "longest wait after the last publish for deliveries in flight")
	case ModePusherPresence:
		fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "members joining and leaving; member i uses channel i mod -channels")
		fs.IntVar(&cfg.Channels, "channels", cfg.Channels, "presence channels, each with one observer (members per channel stay within the server's PUSHER_MAX_PRESENCE_MEMBERS)")
		fs.Float64Var(&cfg.Rate, "rate", 0, "joins per second over all members (0: each member in a closed loop, as fast as the server answers)")
		fs.Float64Var(&cfg.RampRate, "ramp", cfg.RampRate, "connections opened per second before the churn (0: as fast as -dial-concurrency allows)")
		fs.DurationVar(&cfg.EchoTimeout, "echo-timeout", cfg.EchoTimeout, "longest wait for a join's subscription_succeeded")
		fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "longest wait after the churn for the observers' member events")
	case ModePusherHold:
		fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "connections to open and hold")
		fs.IntVar(&cfg.Channels, "channels", cfg.Channels, "public channels; connection i subscribes to channel i mod -channels")
		fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "connections opened (and subscribed) per second while ramping")
		fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "wait after the ramp before sampling the server's memory")
	}
	if cfg.Mode.IsPusher() {
		fs.StringVar(&cfg.AppID, "app-id", cfg.AppID, "Pusher app id (the HTTP API's /apps/{id})")
		fs.StringVar(&cfg.AppKey, "key", cfg.AppKey, "Pusher app key (the socket path /app/{key})")
		// The default is not printed: it may be a real secret from the
		// environment.
		fs.StringVar(&o.secret, "secret", "", "Pusher app secret, which signs API requests and presence subscriptions (default: $PUSHER_APP_SECRET when set, else make run's local secret)")
		fs.StringVar(&cfg.APIURL, "api-url", cfg.APIURL, "the HTTP API's base, http(s)://host:port (default: the URL's host, ws->http, wss->https)")
	}
	return o
}

// parseInterleaved lets flags follow the URL, as in `loadgen churn URL -d 5s`:
// the standard parser stops at the first positional argument.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// raiseNofile lifts the soft limit on open files to the hard limit, since
// every connection is a descriptor, and says what it found. Go's runtime
// already does this at start on Linux; doing it here makes it explicit and
// lets the run warn when the hard limit is too low for the plan.
func raiseNofile(stderr io.Writer, need int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read the open files limit: %w", err)
	}
	if lim.Cur < lim.Max {
		old := lim.Cur
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("raise the open files limit from %d to %d: %w", old, lim.Max, err)
		}
		fmt.Fprintf(stderr, "loadgen: open files limit raised from %d to %d\n", old, lim.Max)
	}
	// A few descriptors go to stdio, the epoll instance and the like.
	const reserve = 32
	if uint64(need)+reserve > lim.Cur {
		fmt.Fprintf(stderr, "loadgen: warning: %d connections need about %d descriptors but the limit is %d; "+
			"expect dial_no_fd errors, or split the load over several loadgen processes\n", need, need+reserve, lim.Cur)
	}
	return nil
}

// startDisplay picks the live display: a bar on a terminal, periodic lines
// otherwise.
func startDisplay(o *cliOpts, mode Mode, m *Meter, stderr io.Writer) func() {
	kind := o.progress
	if kind == "auto" {
		kind = "lines"
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			kind = "bar"
		}
	}
	switch kind {
	case "bar":
		return TerminalProgress(stderr, mode, m)
	case "lines":
		return PlainProgress(stderr, mode, m, o.interval)
	}
	return func() {}
}
