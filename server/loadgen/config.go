package loadgen

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Mode names a load pattern.
type Mode string

// The load patterns.
const (
	ModeChurn      Mode = "churn"
	ModeHold       Mode = "hold"
	ModeFanout     Mode = "fanout"
	ModeThroughput Mode = "throughput"

	// The Pusher Channels modes: the same measurements over /app/{key}
	// (protocol 7) and the signed HTTP API at /apps/{id}.
	ModePusherFanout   Mode = "pusher-fanout"
	ModePusherChannels Mode = "pusher-channels"
	ModePusherPresence Mode = "pusher-presence"
	ModePusherHold     Mode = "pusher-hold"
)

// AllModes lists every mode in the order the help text shows them.
func AllModes() []Mode {
	return []Mode{ModeChurn, ModeHold, ModeFanout, ModeThroughput,
		ModePusherFanout, ModePusherChannels, ModePusherPresence, ModePusherHold}
}

// IsPusher reports whether m speaks the Pusher protocol.
func (m Mode) IsPusher() bool {
	switch m {
	case ModePusherFanout, ModePusherChannels, ModePusherPresence, ModePusherHold:
		return true
	}
	return false
}

// The Pusher app that `make run` serves, the defaults of -app-id, -key
// and -secret.
const (
	DefaultAppID     = "local"
	DefaultAppKey    = "local-key"
	DefaultAppSecret = "local-secret-not-for-production"
)

// Config describes one run. Zero values of the optional fields take the
// defaults of DefaultConfig.
type Config struct {
	Mode Mode
	// URL is the ws:// or wss:// endpoint, path included.
	URL string
	// Conns is the number of connections: held (hold), subscribers (fanout)
	// or closed-loop clients (throughput). Churn ignores it.
	Conns int
	// Workers is the number of churn loops running at once.
	Workers int
	// Rate is connections per second while ramping (hold) or messages per
	// second from the publisher (fanout).
	Rate float64
	// RampRate paces the connects of fanout and throughput before they start
	// measuring; 0 connects as fast as DialConcurrency allows.
	RampRate float64
	// DialConcurrency caps connects in flight during a ramp.
	DialConcurrency int
	// Duration is how long the measured phase lasts: the churn loop, the hold
	// after the ramp, the publishing, the closed loop.
	Duration time.Duration
	// DialTimeout bounds TCP, TLS, the upgrade and the greeting together.
	DialTimeout time.Duration
	// EchoTimeout bounds how long a throughput client waits for its own
	// message before it counts a timeout and sends the next.
	EchoTimeout time.Duration
	// Drain is how long fanout waits after the last publish for deliveries
	// still in flight.
	Drain time.Duration
	// Settle is how long hold waits after the ramp before it samples the
	// server's memory, so that allocations made while connecting are done.
	Settle time.Duration
	// PayloadBytes pads every published message by this many bytes.
	PayloadBytes int
	// Origin, when set, is sent as the Origin header of every upgrade.
	Origin string
	// PID, when positive, is the server process to sample from /proc.
	PID int
	// AuxPIDs are further processes on this host to sample at the same
	// moments as PID (a redis-server the server depends on, say).
	AuxPIDs []AuxPID

	// AppID, AppKey and AppSecret name the Pusher app (Pusher modes).
	AppID, AppKey, AppSecret string
	// APIURL is the HTTP API's base, http(s)://host[:port]; empty derives
	// it from URL (ws becomes http, wss https).
	APIURL string
	// Channels is how many channels the connections are spread over
	// (pusher-channels, pusher-presence, pusher-hold); connection i takes
	// channel i mod Channels.
	Channels int
	// Batch is how many channels one API request triggers an event on
	// (pusher-channels): Pusher's "channels" list, at most 100.
	Batch int
	// Publishers is how many API requests may be in flight at once
	// (pusher-channels); each channel is always published by the same one,
	// so its events leave in order.
	Publishers int
}

// AuxPID names a further process to sample.
type AuxPID struct {
	Name string
	PID  int
}

// DefaultConfig returns the defaults for mode.
func DefaultConfig(mode Mode) Config {
	c := Config{
		Mode:            mode,
		URL:             "ws://127.0.0.1:8080/wss",
		Workers:         32,
		DialConcurrency: 256,
		Duration:        10 * time.Second,
		DialTimeout:     10 * time.Second,
		EchoTimeout:     10 * time.Second,
		Drain:           5 * time.Second,
		Settle:          2 * time.Second,
	}
	switch mode {
	case ModeHold:
		c.Conns, c.Rate = 1000, 1000
	case ModeFanout:
		c.Conns, c.Rate = 1000, 10
	case ModeThroughput:
		c.Conns = 100
	}
	if mode.IsPusher() {
		c.URL = "ws://127.0.0.1:8080"
		c.AppID, c.AppKey, c.AppSecret = DefaultAppID, DefaultAppKey, DefaultAppSecret
		c.Channels, c.Batch, c.Publishers = 1, 1, 1
	}
	switch mode {
	case ModePusherFanout:
		c.Conns, c.Rate = 1000, 10
	case ModePusherChannels:
		c.Conns, c.Channels, c.Rate, c.Batch, c.Publishers = 10000, 1000, 1000, 10, 4
	case ModePusherPresence:
		c.Conns, c.Channels = 1000, 100
	case ModePusherHold:
		c.Conns, c.Channels, c.Rate = 1000, 100, 1000
	}
	return c
}

// Validate reports the first setting that cannot work, naming its flag.
func (c Config) Validate() error {
	switch c.Mode {
	case ModeChurn, ModeHold, ModeFanout, ModeThroughput,
		ModePusherFanout, ModePusherChannels, ModePusherPresence, ModePusherHold:
	default:
		return fmt.Errorf("mode %q: want one of churn, hold, fanout, throughput, pusher-fanout, pusher-channels, pusher-presence, pusher-hold", c.Mode)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("url %q: %w", c.URL, err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return fmt.Errorf("url %q: scheme must be ws or wss", c.URL)
	}
	if u.Host == "" {
		return fmt.Errorf("url %q: no host", c.URL)
	}
	if c.Duration <= 0 {
		return errors.New("-d (duration) must be positive")
	}
	if c.DialTimeout <= 0 {
		return errors.New("-dial-timeout must be positive")
	}
	if c.DialConcurrency <= 0 {
		return errors.New("-dial-concurrency must be positive")
	}
	if c.PayloadBytes < 0 {
		return errors.New("-payload must not be negative")
	}
	if c.RampRate < 0 {
		return errors.New("-ramp must not be negative")
	}
	if c.PID < 0 {
		return errors.New("-pid must not be negative")
	}
	for _, a := range c.AuxPIDs {
		if a.Name == "" || a.PID <= 0 {
			return fmt.Errorf("-aux-pid %s=%d: want name=pid with a positive pid", a.Name, a.PID)
		}
		if c.PID == 0 {
			return errors.New("-aux-pid needs -pid: both are sampled at the same moments")
		}
	}
	switch c.Mode {
	case ModeChurn:
		if c.Workers <= 0 {
			return errors.New("-workers must be positive")
		}
	case ModeHold:
		if c.Conns <= 0 {
			return errors.New("-conns must be positive")
		}
		if c.Rate <= 0 {
			return errors.New("-rate (connections per second) must be positive")
		}
		if c.Settle < 0 {
			return errors.New("-settle must not be negative")
		}
	case ModeFanout:
		if c.Conns <= 0 {
			return errors.New("-conns (subscribers) must be positive")
		}
		if c.Rate <= 0 {
			return errors.New("-rate (messages per second) must be positive")
		}
		if c.Drain < 0 {
			return errors.New("-drain must not be negative")
		}
	case ModeThroughput:
		if c.Conns <= 0 {
			return errors.New("-conns (clients) must be positive")
		}
		if c.EchoTimeout <= 0 {
			return errors.New("-echo-timeout must be positive")
		}
	}
	if c.Mode.IsPusher() {
		return c.validatePusher()
	}
	return nil
}

// validatePusher checks the settings of the Pusher modes.
func (c Config) validatePusher() error {
	if _, _, err := c.pusherURLs(); err != nil {
		return err
	}
	if c.AppKey == "" {
		return errors.New("-key (the Pusher app key) must not be empty")
	}
	if c.Mode != ModePusherHold && (c.AppID == "" || c.AppSecret == "") {
		return errors.New("-app-id and -secret must not be empty: the run signs API requests or subscriptions")
	}
	if c.Conns <= 0 {
		return errors.New("-conns must be positive")
	}
	if c.Channels <= 0 {
		return errors.New("-channels must be positive")
	}
	switch c.Mode {
	case ModePusherFanout, ModePusherChannels:
		if c.Rate <= 0 {
			return errors.New("-rate (events per second) must be positive")
		}
		if c.Drain < 0 {
			return errors.New("-drain must not be negative")
		}
		if c.Batch < 1 || c.Batch > maxTriggerChannels {
			return fmt.Errorf("-batch must be from 1 to %d (channels in one API request)", maxTriggerChannels)
		}
		if c.Publishers <= 0 {
			return errors.New("-publishers must be positive")
		}
	case ModePusherPresence:
		if c.Rate < 0 {
			return errors.New("-rate (joins per second) must not be negative")
		}
		if c.EchoTimeout <= 0 {
			return errors.New("-echo-timeout must be positive")
		}
		if c.Drain < 0 {
			return errors.New("-drain must not be negative")
		}
	case ModePusherHold:
		if c.Rate <= 0 {
			return errors.New("-rate (connections per second) must be positive")
		}
		if c.Settle < 0 {
			return errors.New("-settle must not be negative")
		}
	}
	return nil
}
