package loadgen

import (
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// TerminalProgress draws a live bar on a terminal: the phase, how far it is
// along and the meter's counters with their rates. stop removes nothing; it
// completes the bar so that the summary prints below it.
func TerminalProgress(w io.Writer, mode Mode, m *Meter) (stop func()) {
	const total = 1000 // the bar shows per mille of the current phase
	// Auto refresh: the caller chose a bar (a terminal, or -progress bar),
	// so draw even when w is not a terminal.
	p := mpb.New(mpb.WithOutput(w), mpb.WithAutoRefresh(), mpb.WithWidth(100), mpb.WithRefreshRate(250*time.Millisecond))
	var r rates
	var mu sync.Mutex
	line := ""
	bar := p.AddBar(total,
		mpb.PrependDecorators(
			decor.Name(string(mode), decor.WCSyncSpaceR),
			decor.Any(func(decor.Statistics) string { name, _, _ := m.Phase(); return name }, decor.WCSyncSpaceR),
			decor.Elapsed(decor.ET_STYLE_GO, decor.WCSyncSpace),
		),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			mu.Lock()
			defer mu.Unlock()
			return line
		})),
		mpb.BarWidth(24),
	)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			s := r.read(m).String()
			mu.Lock()
			line = s
			mu.Unlock()
			_, start, expected := m.Phase()
			if expected > 0 {
				v := int64(total * time.Since(start) / expected)
				bar.SetCurrent(min(v, total-1))
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		s := r.read(m).String()
		mu.Lock()
		line = s
		mu.Unlock()
		bar.SetCurrent(total)
		p.Wait()
	}
}
