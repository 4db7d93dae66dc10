//go:build browser

package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wsfargate/websocket-service/server/demo"
	"github.com/wsfargate/websocket-service/server/internal/testproc"
)

// openPusher opens the Pusher demo page and waits until pusher-js is
// connected.
func openPusher(t testing.TB, b *browser, base string) *tab {
	t.Helper()
	p := b.open(t, base+demo.PusherPagePath)
	p.waitConnected()
	p.waitFor("the socket id", `/^\d+\.\d+$/.test(document.getElementById('socket-id').textContent)`, 5*time.Second)
	return p
}

// join types a display name and joins the presence room.
func (p *tab) join(name, room string) {
	p.t.Helper()
	p.do("join "+room+" as "+name,
		chromedp.WaitEnabled(chromedp.ID("join")),
		chromedp.SetValue(chromedp.ID("name"), name),
		chromedp.SetValue(chromedp.ID("room"), room),
		chromedp.Click(chromedp.ID("join")),
	)
	p.waitFor("the join", fmt.Sprintf(`document.querySelector('#log li[data-joined="presence-demo-%s"]')`, room), 10*time.Second)
}

// members lists the member list as shown, "*" marking the page's own.
func (p *tab) members() []string {
	p.t.Helper()
	return eval[[]string](p, `[...document.querySelectorAll('#members li')].map((li) => li.querySelector('.name').textContent + ('me' in li.dataset ? '*' : ''))`)
}

// waitMembers waits until the member list is want, in any order.
func (p *tab) waitMembers(want ...string) {
	p.t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := p.members()
		slices.Sort(got)
		count := p.text("member-count")
		if slices.Equal(got, want) && count == fmt.Sprint(len(want)) {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("members %q (count %s), want %q\n%s", got, count, want, p.dump())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// subscribePublic subscribes the page to a public channel.
func (p *tab) subscribePublic(channel string) {
	p.t.Helper()
	p.do("subscribe to "+channel,
		chromedp.WaitEnabled(chromedp.ID("subscribe")),
		chromedp.SetValue(chromedp.ID("channel"), channel),
		chromedp.Click(chromedp.ID("subscribe")),
	)
	p.waitFor("the subscription", fmt.Sprintf(`document.querySelector('#log li[data-subscribed=%q]')`, channel), 10*time.Second)
}

func (p *tab) noProblems() {
	p.t.Helper()
	if probs := p.problems(); len(probs) > 0 {
		p.t.Errorf("page %s reported problems:\n%s", p.url, strings.Join(probs, "\n"))
	}
}

// Two visitors join one presence room under different names: each sees
// both, a client event from one reaches the other, an event triggered on
// one page through the HTTP API shows on the other, and when one leaves,
// or closes the page, the other sees the member go.
func TestPusherPresence(t *testing.T) {
	b := newBrowser(t)
	site := startPusherSite(t, nil)
	ana := openPusher(t, b, site.URL)
	bruno := openPusher(t, b, site.URL)
	if ana.text("socket-id") == bruno.text("socket-id") {
		t.Fatal("two pages share a socket id")
	}
	if got := ana.text("app-key"); got != testAppKey {
		t.Errorf("app key shown %q, want %q", got, testAppKey)
	}

	ana.join("Ana", "lobby")
	ana.waitMembers("Ana*")
	bruno.join("Bruno", "lobby")
	bruno.waitMembers("Ana", "Bruno*")
	ana.waitMembers("Ana*", "Bruno")
	ana.waitFor("member_added in the log", `document.querySelector('#log li[data-event="member_added"]')`, 5*time.Second)

	t.Run("client event", func(t *testing.T) {
		ana.do("send a client event",
			chromedp.WaitEnabled(chromedp.ID("whisper-send")),
			chromedp.SetValue(chromedp.ID("whisper"), "psst, Bruno"),
			chromedp.Click(chromedp.ID("whisper-send")),
		)
		bruno.waitFor("Ana's client event", `[...document.querySelectorAll('#log li[data-kind="client"][data-from="Ana"] .payload')].some((e) => e.textContent === '{"text":"psst, Bruno"}')`, 10*time.Second)
		ana.waitFor("the sender's own note", `document.querySelector('#log li[data-kind="sent"]')`, 5*time.Second)
		if eval[bool](ana, `!!document.querySelector('#log li[data-kind="client"]')`) {
			t.Error("the sender received its own client event")
		}
	})

	t.Run("triggered event", func(t *testing.T) {
		ana.subscribePublic("demo-news")
		bruno.subscribePublic("demo-news")
		bruno.do("trigger an event",
			chromedp.SetValue(chromedp.ID("event"), "headline"),
			chromedp.SetValue(chromedp.ID("message"), "Extra! Extra!"),
			chromedp.Click(chromedp.ID("trigger")),
		)
		const arrived = `[...document.querySelectorAll('#log li[data-kind="event"][data-channel="demo-news"][data-event="headline"] .payload')].some((e) => e.textContent === '{"text":"Extra! Extra!","from":"Bruno"}')`
		ana.waitFor("Bruno's triggered event", arrived, 10*time.Second)
		bruno.waitFor("its own triggered event", arrived, 10*time.Second)
		if !eval[bool](bruno, `document.getElementById('alert').hidden`) {
			t.Errorf("alert after a trigger: %s", bruno.text("alert"))
		}
	})

	t.Run("refused trigger", func(t *testing.T) {
		// Not demo-: the server refuses and the page says why. The 403
		// is a console error of its own, so this runs on a third page.
		eve := openPusher(t, b, site.URL)
		eve.do("trigger on a channel outside the demo",
			chromedp.SetValue(chromedp.ID("channel"), "orders"),
			chromedp.Click(chromedp.ID("trigger")),
		)
		eve.waitFor("the refusal", `!document.getElementById('alert').hidden`, 10*time.Second)
		if got := eve.text("alert"); !strings.Contains(got, "HTTP 403") || !strings.Contains(got, "demo-") {
			t.Errorf("alert %q, want the 403 and the rule", got)
		}
	})

	t.Run("leave", func(t *testing.T) {
		ana.do("leave", chromedp.Click(chromedp.ID("join")))
		bruno.waitMembers("Bruno*")
		bruno.waitFor("member_removed in the log", `document.querySelector('#log li[data-event="member_removed"]')`, 5*time.Second)
		ana.waitMembers()
		if got := ana.text("join"); got != "Join" {
			t.Errorf("button reads %q after leaving, want Join", got)
		}
	})

	t.Run("close the page", func(t *testing.T) {
		ana.do("join again", chromedp.Click(chromedp.ID("join")))
		ana.waitMembers("Ana*", "Bruno")
		bruno.waitMembers("Ana", "Bruno*")
		// Checked before the page goes.
		bruno.noProblems()
		if err := chromedp.Cancel(bruno.ctx); err != nil {
			t.Fatalf("close Bruno's page: %v", err)
		}
		ana.waitMembers("Ana*")
	})

	ana.noProblems()
}

// Disconnect and Connect work, and pusher-js joins the room again on its
// own once back.
func TestPusherReconnect(t *testing.T) {
	b := newBrowser(t)
	site := startPusherSite(t, nil)
	p := openPusher(t, b, site.URL)
	other := openPusher(t, b, site.URL)
	p.join("Cleo", "reconnect")
	other.join("Dan", "reconnect")
	p.waitMembers("Cleo*", "Dan")
	first := p.text("socket-id")

	p.do("disconnect", chromedp.Click(chromedp.ID("connect")))
	p.waitFor("disconnected", `document.getElementById('state').dataset.state === 'disconnected'`, 10*time.Second)
	if got := p.text("socket-id"); got != "none" {
		t.Errorf("socket id %q while disconnected", got)
	}
	other.waitMembers("Dan*")
	p.waitMembers()

	p.do("connect", chromedp.Click(chromedp.ID("connect")))
	p.waitConnected()
	p.waitMembers("Cleo*", "Dan")
	other.waitMembers("Cleo", "Dan*")
	if p.text("socket-id") == first {
		t.Error("the new connection kept the old socket id")
	}
	p.noProblems()
	other.noProblems()
}

// At 360 CSS pixels nothing scrolls sideways and the controls stay usable.
func TestPusherNarrowViewport(t *testing.T) {
	b := newBrowser(t)
	site := startPusherSite(t, nil)
	p := openPusher(t, b, site.URL)
	p.do("emulate a 360 px viewport", chromedp.EmulateViewport(360, 740))
	p.join("A rather long display name here", strings.Repeat("r", 60))
	p.waitMembers("A rather long display name here*")
	p.subscribePublic("demo-" + strings.Repeat("n", 80))
	if w := eval[int](p, `document.documentElement.scrollWidth`); w > 360 {
		t.Errorf("page is %d px wide at a 360 px viewport", w)
	}
	for _, id := range []string{"connect", "join", "whisper-send", "subscribe", "trigger", "name", "room", "channel", "event", "message"} {
		if !eval[bool](p, fmt.Sprintf(`(() => { const r = document.getElementById(%q).getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.right <= 360; })()`, id)) {
			t.Errorf("#%s is not within the viewport", id)
		}
	}
	p.noProblems()
}

// The real binary serves the Pusher demo when its Pusher app is on, and a
// trigger from the page goes through its HTTP API: this is the wiring in
// server/app.
func TestPusherDemoOnBinary(t *testing.T) {
	b := newBrowser(t)
	bin, err := testproc.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	proc := startServer(t, bin, "127.0.0.1:0",
		"PUSHER_APP_ID="+testAppID, "PUSHER_APP_KEY="+testAppKey, "PUSHER_APP_SECRET="+testAppSecret, "PUSHER_CLIENT_EVENTS=true")
	base := "http://" + proc.Addr
	resp, err := http.Get(base + demo.PusherPagePath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s on the wsserver binary: %s; server/app must mount demo.PusherHandler on GET %[1]s, GET %[1]s/ and POST %[1]s/ when the Pusher app is on", demo.PusherPagePath, resp.Status)
	}
	ana := openPusher(t, b, base)
	bruno := openPusher(t, b, base)
	ana.join("Ana", "binary")
	bruno.join("Bruno", "binary")
	ana.waitMembers("Ana*", "Bruno")
	ana.subscribePublic("demo-binary")
	bruno.do("trigger", chromedp.SetValue(chromedp.ID("channel"), "demo-binary"), chromedp.Click(chromedp.ID("trigger")))
	ana.waitFor("the triggered event", `document.querySelector('#log li[data-kind="event"][data-channel="demo-binary"]')`, 10*time.Second)
	ana.noProblems()
	bruno.noProblems()
	if t.Failed() {
		t.Logf("server log:\n%s", proc.Logs())
	}
}

// TestPusherScreenshot is not a test but the generator of
// docs/pusher-demo.png, as TestScreenshot is of docs/demo.png: two
// visitors in a room, a client event, a triggered event. It saves the PNG
// to $PUSHER_DEMO_SCREENSHOT, relative to the module root unless absolute.
func TestPusherScreenshot(t *testing.T) {
	out := os.Getenv("PUSHER_DEMO_SCREENSHOT")
	if out == "" {
		t.Skip("generator only: set PUSHER_DEMO_SCREENSHOT=docs/pusher-demo.png to write the screenshot")
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(moduleRoot(t), out)
	}
	b := newBrowser(t)
	site := startPusherSite(t, nil)
	p := openPusher(t, b, site.URL)
	p.do("set the viewport", chromedp.EmulateViewport(1000, 760))
	other := openPusher(t, b, site.URL)
	third := openPusher(t, b, site.URL)
	p.join("Ana", "lobby")
	other.join("Bruno", "lobby")
	third.join("Chen", "lobby")
	p.waitMembers("Ana*", "Bruno", "Chen")
	p.subscribePublic("demo-news")
	other.do("whisper", chromedp.WaitEnabled(chromedp.ID("whisper-send")), chromedp.SetValue(chromedp.ID("whisper"), "Hi Ana, Chen!"), chromedp.Click(chromedp.ID("whisper-send")))
	p.waitFor("the client event", `document.querySelector('#log li[data-kind="client"]')`, 10*time.Second)
	third.do("trigger", chromedp.SetValue(chromedp.ID("message"), "Deploy finished"), chromedp.Click(chromedp.ID("trigger")))
	p.waitFor("the event", `document.querySelector('#log li[data-kind="event"]')`, 10*time.Second)
	p.do("focus nothing", chromedp.Evaluate[chromedp.Void](`document.activeElement?.blur()`))

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
