package transport

import (
	"context"
	"fmt"
	"time"
)

// StartDraining makes the health checks answer 503 and refuses new upgrades,
// so the load balancer stops routing here. Open connections stay up.
func (s *Server) StartDraining() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining.Store(true)
}

// Draining reports whether StartDraining was called.
func (s *Server) Draining() bool { return s.draining.Load() }

// CloseAll closes every client with 1001, one after another spread evenly
// over spread, so that their reconnects reach the remaining servers as a
// trickle rather than a wave. It returns when the last client has gone, or
// with an error when ctx ends first, after dropping whoever is left.
func (s *Server) CloseAll(ctx context.Context, spread time.Duration) error {
	s.mu.Lock()
	targets := make([]*Conn, 0, len(s.clients))
	for c := range s.clients {
		targets = append(targets, c)
	}
	gone := make(chan struct{})
	if len(targets) == 0 {
		close(gone)
	} else {
		s.gone = gone
	}
	s.mu.Unlock()

	if len(targets) > 0 {
		s.logger.Info("closing clients", "count", len(targets), "spread", spread.String())
		step := spread / time.Duration(len(targets))
		next := time.Now()
		for _, c := range targets {
			if err := sleepUntil(ctx, next); err != nil {
				break
			}
			// Close waits for the peer's reply; do not let one slow peer
			// hold up the schedule.
			go c.close(c.profile.Shutdown, c.profile.ShutdownReason)
			next = next.Add(step)
		}
	}

	select {
	case <-gone:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		left := len(s.clients)
		for c := range s.clients {
			go c.drop("shutdown timeout")
		}
		s.mu.Unlock()
		return fmt.Errorf("%d clients still open at shutdown timeout: %w", left, ctx.Err())
	}
}

// Reconnect closes every connection of protocol p with its profile's
// shutdown code, which asks the client to reconnect at once, without
// draining the server: for a task whose shared state was lost, so that its
// clients subscribe afresh.
func (s *Server) Reconnect(p Protocol) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		if c.proto == p {
			go c.close(c.profile.Shutdown, c.profile.ShutdownReason)
		}
	}
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
