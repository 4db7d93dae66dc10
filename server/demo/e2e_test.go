//go:build browser

package demo_test

import (
	"context"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var decimal = regexp.MustCompile(`^[0-9]+$`)

// checkOffset fails unless offset is a decimal beyond JavaScript's safe
// integers, so that a page which rounded it through Number() would show a
// different string.
func checkOffset(t testing.TB, offset string) {
	t.Helper()
	n, ok := new(big.Int).SetString(offset, 10)
	if !decimal.MatchString(offset) || !ok {
		t.Fatalf("offset %q is not a decimal string", offset)
	}
	if n.Cmp(big.NewInt(1<<53)) <= 0 {
		t.Fatalf("offset %s is within 2^53; the test would not catch a page that rounds offsets", offset)
	}
}

// Page A sends through the form; both pages show the message with the same
// offset the server gave it, and in the same order.
func TestTwoPagesExchangeMessages(t *testing.T) {
	b := newBrowser(t)
	s := startSite(t, newBackend(t, newLog()))
	a := b.open(t, s.URL+"/demo")
	c := b.open(t, s.URL+"/demo/")
	a.waitConnected()
	c.waitConnected()
	watcher := dialClient(t, wsURL(s.URL))

	a.send(`{"from": "page A", "n": 1}`)
	first := watcher.next()
	checkOffset(t, first.Offset)
	// The server passes the sender's bytes through; the page shows them as
	// they arrived, offset as the exact decimal string.
	for _, p := range []*tab{a, c} {
		if m := p.waitMessage(first.Offset); m.Payload != `{"from": "page A", "n": 1}` {
			t.Errorf("%s shows payload %q", p.url, m.Payload)
		}
	}

	// A number beyond 2^53 in a payload survives the page's display too.
	big := `{"from":"page C","big":12345678901234567891}`
	c.send(big)
	second := watcher.next()
	if m := a.waitMessage(second.Offset); m.Payload != big {
		t.Errorf("page A shows %q, want %q", m.Payload, big)
	}
	c.waitMessage(second.Offset)

	for _, p := range []*tab{a, c} {
		var offsets []string
		for _, m := range p.messages() {
			offsets = append(offsets, m.Offset)
		}
		if want := []string{first.Offset, second.Offset}; !slices.Equal(offsets, want) {
			t.Errorf("%s shows offsets %v, want %v", p.url, offsets, want)
		}
		if got := p.text("last-offset"); got != second.Offset {
			t.Errorf("%s last offset %q, want %q", p.url, got, second.Offset)
		}
	}

	// Live figures: two pages and the watcher are connected.
	a.waitFor("connections = 3", `document.getElementById('connections').textContent === '3'`, 10*time.Second)
	if got, want := a.text("rate"), fmt.Sprintf("%.1f", testRate); got != want {
		t.Errorf("messages per second shows %q, want %q", got, want)
	}
}

// Text that is not JSON comes back as an invalid_json error frame, which the
// page shows; the connection stays open and usable.
func TestInvalidJSONShowsError(t *testing.T) {
	b := newBrowser(t)
	s := startSite(t, newBackend(t, newLog()))
	p := b.open(t, s.URL+"/demo")
	p.waitConnected()

	p.send(`{"unfinished": `)
	p.waitFor("an invalid_json error", `document.querySelector('#log li[data-kind="error"][data-code="invalid_json"]')`, 10*time.Second)
	for _, e := range p.entries() {
		if e.Kind == "error" && e.Detail == "" {
			t.Errorf("error entry without detail: %+v", e)
		}
	}
	if n := len(p.messages()); n != 0 {
		t.Errorf("invalid JSON produced %d messages", n)
	}

	p.send(`"still connected"`)
	p.waitFor("the next message", `document.querySelector('#log li[data-kind="message"]')`, 10*time.Second)
	if got := p.messages()[0].Payload; got != `"still connected"` {
		t.Errorf("payload %q", got)
	}
	if state := eval[string](p, `document.getElementById('state').dataset.state`); state != "connected" {
		t.Errorf("state %q after an error frame, want connected", state)
	}
}

// The server goes away with 1001; while nothing answers, another task takes
// messages into the shared history; when the server is back the page
// resumes from its last offset and shows each missed message exactly once.
func TestReconnectResumesMissedMessages(t *testing.T) {
	b := newBrowser(t)
	log := newLog()
	old := newBackend(t, log)
	s := startSite(t, old)
	p := b.open(t, s.URL+"/demo")
	p.waitConnected()

	other := newBackend(t, log) // another task reading the same history
	sender := dialClient(t, wsURL(serve(t, other)))
	before := sender.publish(`{"n":0}`)
	p.waitMessage(before)

	// Shut the server down the way SIGTERM does, and answer 503 meanwhile.
	s.backend.Store(nil)
	old.StartDraining()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := old.CloseAll(ctx, 0); err != nil {
		t.Fatal(err)
	}
	p.waitFor("the page to see 1001", `document.querySelector('#log li[data-close="1001"]')`, 10*time.Second)
	p.waitFor("the page to retry at least once", `document.querySelector('#log li[data-close="1006"]')`, 10*time.Second)

	var missed []string
	for i := 1; i <= 3; i++ {
		missed = append(missed, sender.publish(fmt.Sprintf(`{"n":%d}`, i)))
	}
	if state := eval[string](p, `document.getElementById('state').dataset.state`); state == "connected" {
		t.Fatal("the page is connected while no server answers")
	}

	s.backend.Store(other)
	p.waitFor("the recovered notice", `!document.getElementById('recovered').hidden`, 20*time.Second)
	if got := eval[string](p, `document.getElementById('recovered').dataset.count`); got != "3" {
		t.Errorf("recovered count %q, want 3; notice: %s", got, p.text("recovered"))
	}
	if notice := p.text("recovered"); !strings.Contains(notice, "recovered 3 messages") {
		t.Errorf("notice %q does not say 3 messages were recovered", notice)
	}

	after := sender.publish(`{"n":4}`)
	p.waitMessage(after)

	var got []string
	for _, m := range p.messages() {
		got = append(got, m.Offset+" "+m.Payload)
		if m.Recovered != slices.Contains(missed, m.Offset) {
			t.Errorf("message %s marked recovered=%v", m.Offset, m.Recovered)
		}
	}
	want := []string{before + ` {"n":0}`}
	for i, o := range missed {
		want = append(want, fmt.Sprintf(`%s {"n":%d}`, o, i+1))
	}
	want = append(want, after+` {"n":4}`)
	if !slices.Equal(got, want) {
		t.Errorf("page shows\n  %s\nwant each message once, in order:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if !eval[bool](p, `document.getElementById('alert').hidden`) {
		t.Errorf("unexpected alert: %s", p.text("alert"))
	}
}

// A resume the server cannot serve (its history starts after the page's
// offset) gives a recovery_failed frame, which the page turns into a clear
// notice, and live messages carry on.
func TestRecoveryFailedNotice(t *testing.T) {
	b := newBrowser(t)
	old := newBackend(t, newLog())
	s := startSite(t, old)
	p := b.open(t, s.URL+"/demo")
	p.waitConnected()
	sender := dialClient(t, wsURL(s.URL))
	first := sender.publish(`"before"`)
	p.waitMessage(first)
	// Gone before the shutdown, which would otherwise wait for this
	// client, which never reads, to answer its close frame.
	sender.conn.CloseNow()

	// A new process with a fresh in-memory history: nothing to resume from.
	time.Sleep(2 * time.Millisecond) // a later millisecond, so a higher start offset
	fresh := newBackend(t, newLog())
	s.backend.Store(fresh)
	old.StartDraining()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := old.CloseAll(ctx, 0); err != nil {
		t.Fatal(err)
	}

	p.waitFor("the recovery_failed alert", `!document.getElementById('alert').hidden`, 20*time.Second)
	alert := p.text("alert")
	for _, want := range []string{"may be missing", first} {
		if !strings.Contains(alert, want) {
			t.Errorf("alert %q does not contain %q", alert, want)
		}
	}
	p.waitFor("the error in the log", `document.querySelector('#log li[data-code="recovery_failed"]')`, 5*time.Second)

	p.waitConnected()
	live := dialClient(t, wsURL(s.URL)).publish(`"after"`)
	if m := p.waitMessage(live); m.Payload != `"after"` || m.Recovered {
		t.Errorf("live message after a failed recovery: %+v", m)
	}
	if !eval[bool](p, `document.getElementById('recovered').hidden`) {
		t.Errorf("a recovered notice after a failed recovery: %s", p.text("recovered"))
	}
}

// A normal session (load, connect, send, an error frame, stats) writes
// nothing to the console and violates no CSP directive. The first subtest
// shows the detector does see both kinds of problem.
func TestNoConsoleErrorsOrCSPViolations(t *testing.T) {
	b := newBrowser(t)
	s := startSite(t, newBackend(t, newLog()))

	t.Run("detector sees problems", func(t *testing.T) {
		p := b.open(t, s.URL+"/demo")
		p.waitConnected()
		eval[bool](p, `(() => {
  const s = document.createElement('script');
  s.textContent = 'window.inlineRan = true';
  document.body.append(s);
  console.error('planted error');
  return true;
})()`)
		p.waitFor("the violation report", `window.__cspViolations.length > 0`, 5*time.Second)
		if eval[bool](p, `window.inlineRan === true`) {
			t.Error("an inline script ran despite the CSP")
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			probs := strings.Join(p.problems(), "\n")
			if strings.Contains(probs, "planted error") && strings.Contains(probs, "securitypolicyviolation: script-src") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("detector missed a planted problem; saw:\n%s", probs)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("clean session", func(t *testing.T) {
		p := b.open(t, s.URL+"/demo")
		p.waitConnected()
		p.send(`{"clean": true}`)
		p.waitFor("the message", `document.querySelector('#log li[data-kind="message"]')`, 10*time.Second)
		p.send(`not json`)
		p.waitFor("the error", `document.querySelector('#log li[data-code="invalid_json"]')`, 10*time.Second)
		p.waitFor("stats", `document.getElementById('connections').textContent !== '–'`, 10*time.Second)
		// Let a second stats poll and any late report arrive.
		time.Sleep(2500 * time.Millisecond)
		if probs := p.problems(); len(probs) > 0 {
			t.Errorf("the page reported problems:\n%s", strings.Join(probs, "\n"))
		}
	})
}

// At 360 CSS pixels, the narrowest common phone, nothing scrolls sideways
// and the form is usable.
func TestNarrowViewport(t *testing.T) {
	b := newBrowser(t)
	s := startSite(t, newBackend(t, newLog()))
	p := b.open(t, s.URL+"/demo")
	p.waitConnected()
	p.do("emulate a 360 px viewport", chromedp.EmulateViewport(360, 740))
	p.send(`{"a long message that must wrap rather than widen the page": "` + strings.Repeat("x", 120) + `"}`)
	p.waitFor("the message", `document.querySelector('#log li[data-kind="message"]')`, 10*time.Second)
	if w := eval[int](p, `document.documentElement.scrollWidth`); w > 360 {
		t.Errorf("page is %d px wide at a 360 px viewport", w)
	}
	if !eval[bool](p, `(() => { const r = document.getElementById('send').getBoundingClientRect(); return r.width > 0 && r.right <= 360; })()`) {
		t.Error("the Send button is not within the viewport")
	}
}
