package format

import (
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/term"
)

// spinnerFrames animate the status line on a terminal, one rune a frame.
const spinnerFrames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

// spinnerInterval is how often Spin advances the spinner.
const spinnerInterval = 100 * time.Millisecond

// Progress prints what a waiting operation reports: events as lines with
// the seconds elapsed ("[  3s] Pod scheduled on node n1") and, on a
// terminal, a spinner line with the current status below them. It is safe
// for concurrent use, so a spinner can turn while the operation reports.
type Progress struct {
	// Terminal enables the spinner line; NewProgress sets it when the
	// writer is a terminal.
	Terminal bool

	mu    sync.Mutex
	w     io.Writer
	now   func() time.Time
	start time.Time

	current string // the status the spinner shows; "" hides it
	frame   int
	shown   bool // the spinner line is on the screen
}

// NewProgress returns a Progress writing to w, timed by now.
func NewProgress(w io.Writer, now func() time.Time) *Progress {
	return &Progress{w: w, Terminal: isTerminal(w), now: now, start: now()}
}

// isTerminal tells whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

func (p *Progress) elapsed() int { return int(p.now().Sub(p.start).Round(time.Second) / time.Second) }

// Event prints one line of progress.
func (p *Progress) Event(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, "[%3ds] %s\n", p.elapsed(), msg)
	p.draw()
}

// Eventf prints one line of progress, formatted.
func (p *Progress) Eventf(format string, args ...any) { p.Event(fmt.Sprintf(format, args...)) }

// Status sets what the spinner shows; "" removes it.
func (p *Progress) Status(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s == p.current {
		return
	}
	p.current = s
	p.clear()
	p.draw()
}

// Tick advances the spinner.
func (p *Progress) Tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frame++
	p.clear()
	p.draw()
}

// Spin turns the spinner until the returned function is called, which also
// removes the spinner line. Without a terminal it does nothing.
func (p *Progress) Spin() (stop func()) {
	if !p.Terminal {
		return p.Clear
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(spinnerInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.Tick()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		p.Clear()
	}
}

func (p *Progress) draw() {
	if !p.Terminal || p.current == "" {
		return
	}
	frames := []rune(spinnerFrames)
	fmt.Fprintf(p.w, "%c %s (%ds)", frames[p.frame%len(frames)], p.current, p.elapsed())
	p.shown = true
}

// Clear removes the spinner line, so the next output starts on a clean
// line.
func (p *Progress) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

func (p *Progress) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}
