package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"golang.org/x/term"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/deployview"
	"github.com/berth-dev/berth/internal/ship"
)

// wantsLive reports whether a deploy writing to w shows the live view: w
// is a terminal, CI is not "true" and --plain was not given.
func wantsLive(w io.Writer, plain bool) bool {
	if plain || os.Getenv("CI") == "true" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// liveView renders a deploy as one row per service that updates in place
// (bubbletea, lipgloss). It is the ship.Watcher of the deploy and the
// writer of its plain lines, which it shows as notes above the rows.
type liveView struct {
	prog *tea.Program
	done chan struct{}
}

var _ ship.Watcher = (*liveView)(nil)

// Messages the view's program receives.
type (
	stageMsg struct{ service, stage string }
	lineMsg  struct{ service, line string }
	noteMsg  string
	eventMsg api.Event
	tickMsg  time.Time
	finalMsg struct{ failed []ship.Failure }
)

// newLiveView starts rendering on out; call finish once the deploy ended.
func newLiveView(out io.Writer) *liveView {
	m := &liveModel{view: deployview.New(), now: time.Now()}
	lv := &liveView{done: make(chan struct{})}
	lv.prog = tea.NewProgram(m, tea.WithOutput(out), tea.WithInput(nil), tea.WithoutSignalHandler(), tea.WithFPS(20))
	go func() {
		defer close(lv.done)
		_, _ = lv.prog.Run()
	}()
	return lv
}

// Stage implements ship.Watcher.
func (lv *liveView) Stage(service, stage string) { lv.prog.Send(stageMsg{service, stage}) }

// Event implements ship.Watcher.
func (lv *liveView) Event(ev api.Event) { lv.prog.Send(eventMsg(ev)) }

// BuildOutput implements ship.Watcher: the build's lines go to its row.
func (lv *liveView) BuildOutput(service string) io.Writer {
	return &lineWriter{emit: func(line string) { lv.prog.Send(lineMsg{service, line}) }}
}

// Write takes the deploy's plain lines as notes.
func (lv *liveView) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		lv.prog.Send(noteMsg(line))
	}
	return len(b), nil
}

// finish marks the services that failed (with their whole build output)
// and waits for the last frame to be drawn.
func (lv *liveView) finish(res ship.Result) {
	lv.prog.Send(finalMsg{failed: res.Failed})
	<-lv.done
}

// lineWriter splits what is written into lines.
type lineWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	emit func(string)
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(w.buf.Next(i + 1))
		w.emit(strings.TrimRight(line, "\r\n"))
	}
}

// liveModel is the bubbletea model: the deployview model, the clock and
// the spinner's frame.
type liveModel struct {
	view   *deployview.Model
	now    time.Time
	frame  int
	final  bool
	failed map[string]bool
}

const tickEvery = 100 * time.Millisecond

func tick() tea.Cmd {
	return tea.Tick(tickEvery, func(t time.Time) tea.Msg { return tickMsg(t) })
}

func (m *liveModel) Init() tea.Cmd { return tick() }

func (m *liveModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tickMsg:
		m.now = time.Time(msg)
		m.frame++
		return m, tick()
	case stageMsg:
		m.view.Stage(msg.service, msg.stage, time.Now())
	case lineMsg:
		m.view.BuildLine(msg.service, msg.line, time.Now())
	case noteMsg:
		m.view.Note(string(msg))
	case eventMsg:
		m.view.Event(api.Event(msg))
	case finalMsg:
		m.final, m.now = true, time.Now()
		m.failed = map[string]bool{}
		for _, f := range msg.failed {
			m.failed[f.Service] = true
			if f.Stage == ship.StageBuild {
				m.view.Fail(f.Service, f.Reason, m.now)
			}
		}
		return m, tea.Quit
	}
	return m, nil
}

var (
	styleName    = lipgloss.NewStyle().Bold(true)
	styleOK      = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
	styleBad     = lipgloss.NewStyle().Foreground(lipgloss.Color("1"))
	styleActive  = lipgloss.NewStyle().Foreground(lipgloss.Color("6"))
	styleFaint   = lipgloss.NewStyle().Faint(true)
	spinner      = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
	maxNotes     = 6
	progressBars = 12
)

func (m *liveModel) View() tea.View {
	var b strings.Builder
	notes := m.view.Notes
	if !m.final && len(notes) > maxNotes {
		notes = notes[len(notes)-maxNotes:]
	}
	for _, n := range notes {
		b.WriteString(styleFaint.Render(n) + "\n")
	}
	rows := m.view.Rows(m.now)
	width := 8
	for _, r := range rows {
		width = max(width, len(r.Service))
	}
	for _, r := range rows {
		icon, phase := styleActive.Render(spinner[m.frame%len(spinner)]), styleActive.Render(fmt.Sprintf("%-20s", r.Phase))
		switch {
		case r.Final && r.Failed:
			icon, phase = styleBad.Render("✗"), styleBad.Render(fmt.Sprintf("%-20s", r.Phase))
		case r.Final:
			icon, phase = styleOK.Render("✓"), styleOK.Render(fmt.Sprintf("%-20s", r.Phase))
		}
		fmt.Fprintf(&b, "%s %s %s %s %6s  %s\n", icon, styleName.Render(fmt.Sprintf("%-*s", width, r.Service)), phase,
			progressBar(r.Progress), elapsed(m.now.Sub(r.Since)), r.Waiting)
		if r.Failed && len(r.Output) > 0 {
			for _, line := range r.Output {
				b.WriteString(styleFaint.Render("    │ "+line) + "\n")
			}
		}
	}
	return tea.NewView(b.String())
}

// progressBar draws f (0..1) as a bar; unknown progress draws none.
func progressBar(f float64) string {
	if f < 0 {
		return strings.Repeat(" ", progressBars)
	}
	n := int(f*float64(progressBars) + 0.5)
	return styleActive.Render(strings.Repeat("━", n)) + styleFaint.Render(strings.Repeat("─", progressBars-n))
}

// elapsed writes a duration as "4s" or "1m05s".
func elapsed(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
}
