// Package ecstask notices that ECS has decided to stop this task before the
// stop signal arrives.
//
// ECS stops a task behind a load balancer in two steps: it first deregisters
// the task from its target group and waits out the deregistration delay, and
// only then sends SIGTERM. During that delay the ALB keeps the task's open
// WebSockets and, when it ends, cuts whichever are left, all at once. The
// task metadata endpoint reports the stop decision (DesiredStatus STOPPED)
// at the start of that window, so the server can close its clients
// gracefully, spread out, while the ALB still carries them.
package ecstask

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// task is the part of the task metadata response this package reads.
type task struct {
	DesiredStatus string `json:"DesiredStatus"`
	KnownStatus   string `json:"KnownStatus"`
}

// WaitForStop polls the task metadata at uri every interval and returns nil
// once the task's desired status is STOPPED, or ctx's error when ctx ends
// first. A failed poll is logged and retried: the endpoint is local and
// transient errors must not stop a healthy server.
func WaitForStop(ctx context.Context, client *http.Client, uri string, every time.Duration, logger *slog.Logger) error {
	t := time.NewTicker(every)
	defer t.Stop()
	failures := 0
	for {
		st, err := desiredStatus(ctx, client, uri+"/task")
		switch {
		case err == nil && st == "STOPPED":
			return nil
		case err != nil && ctx.Err() == nil:
			// Log the first failure and then every 30th, not every poll.
			if failures%30 == 0 {
				logger.Warn("task metadata poll failed", "err", err, "failures", failures+1)
			}
			failures++
		case err == nil:
			failures = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func desiredStatus(ctx context.Context, client *http.Client, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("task metadata request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("task metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("task metadata: %s", resp.Status)
	}
	var t task
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&t); err != nil {
		return "", fmt.Errorf("task metadata: decode: %w", err)
	}
	if t.DesiredStatus == "" {
		return "", fmt.Errorf("task metadata: no DesiredStatus in response")
	}
	return t.DesiredStatus, nil
}
