package webhook

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoffBounds(t *testing.T) {
	s := &Sender{backoffBase: 10 * time.Millisecond, backoffMax: 80 * time.Millisecond}
	for attempt, nominal := range map[int]time.Duration{1: 10, 2: 20, 3: 40, 4: 80, 5: 80, 30: 80} {
		nominal *= time.Millisecond
		seen := map[time.Duration]bool{}
		for range 200 {
			d := s.backoff(attempt, 0)
			if d < nominal/2 || d > nominal {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, d, nominal/2, nominal)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("attempt %d: 200 backoffs all %v; no jitter", attempt, s.backoff(attempt, 0))
		}
	}
	if d := s.backoff(1, 50*time.Millisecond); d != 50*time.Millisecond {
		t.Errorf("Retry-After 50ms over a 10ms backoff: waited %v, want 50ms", d)
	}
	if d := s.backoff(1, time.Hour); d != s.backoffMax {
		t.Errorf("Retry-After 1h: waited %v, want BackoffMax %v", d, s.backoffMax)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
