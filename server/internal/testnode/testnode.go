// Package testnode finds Node.js and the Pusher client suite
// (server/testdata/pusher: pusher-js, the pusher SDK and Laravel Echo,
// pinned by its package-lock.json) for the tests that drive real clients.
package testnode

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// PusherClients returns the node binary and the absolute path of the
// Pusher client suite, with its node_modules installed (npm ci, once per
// process) if they are missing. Without Node.js 20.19+ (laravel-echo 2's
// floor) and npm the test is skipped, or fails under CI.
func PusherClients(t testing.TB) (node, dir string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		why := fmt.Sprintf(format, args...) + "; the Pusher client tests need Node.js 20.19+ and npm (apt-get install -y nodejs npm)"
		if os.Getenv("CI") != "" {
			t.Fatal(why)
		}
		t.Skip(why + "; skipped outside CI")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not found")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		missing("npm not found")
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		missing("node --version: %v", err)
	}
	m := regexp.MustCompile(`^v(\d+)\.(\d+)\.`).FindStringSubmatch(string(out))
	if m == nil {
		missing("node --version printed %q", out)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major < 20 || (major == 20 && minor < 19) {
		missing("node is %s", strings.TrimSpace(string(out)))
	}
	_, here, _, _ := runtime.Caller(0)
	dir = filepath.Join(filepath.Dir(here), "..", "..", "testdata", "pusher")
	npmOnce.Do(func() { npmErr = npmCI(dir) })
	if npmErr != nil {
		t.Fatal(npmErr)
	}
	return node, dir
}

var (
	npmOnce sync.Once
	npmErr  error
)

// npmCI installs dir's pinned packages unless they are there already
// (make compat runs npm ci itself, so a changed lock file is picked up).
func npmCI(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s: %w\n%s", dir, err, out)
	}
	return nil
}
