//go:build browser

package demo_test

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestScreenshot is not a test but the generator of docs/demo.png: it puts
// the page in a known state (connected, a few messages, one error frame)
// and saves a PNG to $DEMO_SCREENSHOT, a path relative to the module root
// unless absolute. `make screenshot` runs it.
func TestScreenshot(t *testing.T) {
	out := os.Getenv("DEMO_SCREENSHOT")
	if out == "" {
		t.Skip("generator only: set DEMO_SCREENSHOT=docs/demo.png to write the screenshot")
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(moduleRoot(t), out)
	}

	b := newBrowser(t)
	s := startSite(t, newBackend(t, newLog()))
	p := b.open(t, s.URL+"/demo")
	p.do("set the viewport", chromedp.EmulateViewport(1000, 640))
	p.waitConnected()
	other := b.open(t, s.URL+"/demo") // a second visitor, for the connection count
	other.waitConnected()

	bot := dialClient(t, wsURL(s.URL))
	bot.publish(`{"user":"ana","text":"hello from the command line"}`)
	bot.publish(`{"sensor":"t-17","celsius":21.5,"ok":true}`)
	p.send(`{"user":"browser","text":"sent from this page"}`)
	p.waitFor("three messages", `document.querySelectorAll('#log li[data-kind="message"]').length === 3`, 10*time.Second)
	p.send(`{"oops": }`)
	p.waitFor("the error", `document.querySelector('#log li[data-code="invalid_json"]')`, 10*time.Second)
	p.do("type a draft", chromedp.SetValue(chromedp.ID("payload"), `{"user": "browser", "text": "hi everyone"}`))
	p.waitFor("stats", `document.getElementById('connections').textContent === '3'`, 10*time.Second)

	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(img)); err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if err := os.WriteFile(out, img, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", out, len(img))
}

// moduleRoot is the directory holding go.mod, above the test's directory.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}
