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
)

// AllModes lists every mode in the order the help text shows them.
func AllModes() []Mode { return []Mode{ModeChurn, ModeHold, ModeFanout, ModeThroughput} }

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
	return c
}

// Validate reports the first setting that cannot work, naming its flag.
func (c Config) Validate() error {
	switch c.Mode {
	case ModeChurn, ModeHold, ModeFanout, ModeThroughput:
	default:
		return fmt.Errorf("mode %q: want one of churn, hold, fanout, throughput", c.Mode)
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
	return nil
}
