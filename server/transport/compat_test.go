//go:build compat

package transport_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Clients nobody here wrote: the npm ws package and wscat, pinned in
// server/testdata/compat (make compat runs npm ci there first).
func TestThirdPartyClients(t *testing.T) {
	ts := start(t, nil)
	const dir = "../testdata/compat"

	t.Run("ws", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := nodeCmd(ctx, dir, "clients.mjs", ts.URL).Output()
		if err != nil {
			t.Fatalf("node clients.mjs: %v\n%s", err, exitStderr(err))
		}
		var got struct{ A, B []map[string]any }
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("output %q: %v", out, err)
		}
		for name, frames := range map[string][]map[string]any{"a": got.A, "b": got.B} {
			if frames[0]["connection"] != "ok" {
				t.Errorf("%s greeted with %v", name, frames[0])
			}
			var saw bool
			for _, f := range frames[1:] {
				if m, ok := f["message"].(map[string]any); ok && m["from"] == "ws" {
					saw = true
				}
			}
			if !saw {
				t.Errorf("%s never got the broadcast: %v", name, frames)
			}
		}
		var sawError bool
		for _, f := range got.A {
			if e, ok := f["error"].(map[string]any); ok && e["code"] == "invalid_json" {
				sawError = true
			}
		}
		if !sawError {
			t.Errorf("sender got no invalid_json error frame: %v", got.A)
		}
		if len(got.B) != 2 {
			t.Errorf("the other client got %d frames, want greeting and broadcast only: %v", len(got.B), got.B)
		}
	})

	t.Run("wscat", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "node", "node_modules/wscat/bin/wscat", "-c", ts.URL, "-x", `{"via":"wscat"}`, "-w", "1")
		cmd.Dir = dir
		// wscat quits when its stdin closes; hold it open until it is done.
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		defer stdin.Close()
		var stdout strings.Builder
		cmd.Stdout = &stdout
		if err := cmd.Run(); err != nil {
			t.Fatalf("wscat: %v\n%s", err, stdout.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if len(lines) != 2 || lines[0] != `{"connection":"ok"}` || !strings.HasPrefix(lines[1], `{"message":{"via":"wscat"},"offset":"`) {
			t.Fatalf("wscat printed %q, want the greeting and its own broadcast", lines)
		}
	})
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func nodeCmd(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = dir
	return cmd
}
