//go:build browser

// The browser tests drive the demo page in headless Chromium through the
// DevTools protocol (chromedp). They run with `go test -tags browser`.
// Without Chromium they skip, except under CI (env CI set), where a missing
// browser is a failure.

package demo_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds the browser, or ends the test: skipped on a developer
// machine without it, failed under CI.
func chromiumPath(t testing.TB) string {
	t.Helper()
	candidates := []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "/usr/bin/chromium"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := "chromium not found (looked for $CHROMIUM, chromium, chromium-browser, /usr/bin/chromium); install it with `apt-get install -y chromium`"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg + "; skipping the browser tests (under CI this fails)")
	return ""
}

// browser is one headless Chromium with a fresh profile.
type browser struct {
	ctx context.Context
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// Without these Chromium phones home at start, and on a machine
		// with a closed network its own connections are refused.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Two pages live side by side in one test; neither may be
		// throttled as a background tab.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.WindowSize(1100, 800),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Do starts the browser; it must not carry a timeout, which
	// would end the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{ctx: ctx}
}

// cspProbe runs before any script of every document the page loads. It
// records Content-Security-Policy violations as the page itself sees them.
const cspProbe = `window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber);
});`

// tab is one page of the browser, with everything it wrote to its console.
type tab struct {
	t   testing.TB
	ctx context.Context
	url string

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// open opens url in a new tab and records its console from the start.
func (b *browser) open(t testing.TB, url string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	p := &tab{t: t, ctx: ctx, url: url}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	// Subscribed before the navigation, so no message is lost.
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.console = append(p.console, m)
			p.mu.Unlock()
		}
	}()
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
		t.Fatalf("install CSP probe: %v", err)
	}
	p.do("navigate to "+url, chromedp.Navigate(url))
	return p
}

// do runs actions on the tab with a deadline.
func (p *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v\n%s", what, err, p.dump())
	}
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func eval[T any](p *tab, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds.
func (p *tab) waitFor(what, cond string, d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for !eval[bool](p, "!!("+cond+")") {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out after %v waiting for %s (%s)\n%s", d, what, cond, p.dump())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *tab) waitConnected() {
	p.t.Helper()
	p.waitFor("the page to connect", `document.getElementById('state').dataset.state === 'connected'`, 15*time.Second)
}

// send types text into the message box and presses Send.
func (p *tab) send(text string) {
	p.t.Helper()
	p.do("send "+text,
		chromedp.WaitEnabled(chromedp.ID("send")),
		chromedp.SetValue(chromedp.ID("payload"), text),
		chromedp.Click(chromedp.ID("send")),
	)
}

// logEntry is one line of the page's live log.
type logEntry struct {
	Kind      string `json:"kind"`
	Offset    string `json:"offset"`
	Payload   string `json:"payload"`
	Code      string `json:"code"`
	Detail    string `json:"detail"`
	Close     string `json:"close"`
	Recovered bool   `json:"recovered"`
}

// entries returns the log oldest first (the page shows it newest first).
func (p *tab) entries() []logEntry {
	p.t.Helper()
	return eval[[]logEntry](p, `[...document.querySelectorAll('#log li')].reverse().map((li) => ({
  kind: li.dataset.kind,
  offset: li.dataset.offset || '',
  payload: li.querySelector('.payload')?.textContent || '',
  code: li.dataset.code || '',
  detail: li.querySelector('.detail')?.textContent || '',
  close: li.dataset.close || '',
  recovered: 'recovered' in li.dataset,
}))`)
}

func (p *tab) messages() []logEntry {
	p.t.Helper()
	var out []logEntry
	for _, e := range p.entries() {
		if e.Kind == "message" {
			out = append(out, e)
		}
	}
	return out
}

func (p *tab) text(id string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`document.getElementById(%q).textContent`, id))
}

// waitMessage waits until the log holds a message at offset.
func (p *tab) waitMessage(offset string) logEntry {
	p.t.Helper()
	p.waitFor("message at offset "+offset, fmt.Sprintf(`document.querySelector('#log li[data-kind="message"][data-offset="%s"]')`, offset), 10*time.Second)
	for _, m := range p.messages() {
		if m.Offset == offset {
			return m
		}
	}
	p.t.Fatalf("message %s vanished", offset)
	return logEntry{}
}

// problems lists console errors and warnings, uncaught exceptions and CSP
// violations, however the browser reported them.
func (p *tab) problems() []string {
	p.t.Helper()
	var out []string
	p.mu.Lock()
	for _, m := range p.console {
		switch m.Type {
		case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
			out = append(out, fmt.Sprintf("console %s (%s) %s at %s:%d", m.Type, m.Source, m.Text, m.URL, m.Line))
		}
	}
	p.mu.Unlock()
	for _, v := range eval[[]string](p, `window.__cspViolations || ['CSP probe missing']`) {
		out = append(out, "securitypolicyviolation: "+v)
	}
	return out
}

// dump describes the page for a failure message.
func (p *tab) dump() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('state')?.textContent + ' | ' + [...document.querySelectorAll('#log li')].map((li) => li.textContent).join(' | ')`))
	var b strings.Builder
	fmt.Fprintf(&b, "page %s: %s", p.url, state)
	if err != nil {
		fmt.Fprintf(&b, " (could not read the page: %v)", err)
	}
	p.mu.Lock()
	for _, m := range p.console {
		fmt.Fprintf(&b, "\n  console %s", m)
	}
	p.mu.Unlock()
	return b.String()
}
