package deployview

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

// Phases a row shows.
const (
	PhaseQueued     = "queued"
	PhaseBuilding   = "building"
	PhasePushing    = "pushing"
	PhaseBuilt      = "built"
	PhaseSubmitting = "submitting"
	PhaseStarting   = "starting"
	PhaseHealth     = "waiting for health"
	PhaseRolling    = "rolling"
	PhasePreview    = "preview"
	PhaseSwitching  = "switching"
	PhaseBaking     = "baking"
	PhaseGate       = "gate"
	PhaseDraining   = "draining"
	PhaseDone       = "done"
	PhaseRolledBack = "rolled back"
	PhaseFailed     = "failed"
)

// maxOutput bounds the build output a row keeps.
const maxOutput = 200

// Row is one service's line of the view.
type Row struct {
	Service string
	// Phase is one of the Phase constants, or "canary 10%" / "canary 10% → 50%".
	Phase string
	// Since is when the service's deploy started (elapsed is from it).
	Since time.Time
	// PhaseSince is when the current phase began.
	PhaseSince time.Time
	Release    int
	// Waiting says what the row waits for, as of now.
	Waiting string
	// Progress is how far the current phase is, 0 to 1; -1 when unknown
	// (a spinner is shown).
	Progress float64
	// Output is the build's output, newest last; Last its last line.
	Output []string
	// Final is set once the service reached done, rolled back or failed.
	Final, Failed bool

	// what the row waits for, kept to compute Waiting at any time
	checkTask, check string
	checkSince       time.Time
	checkDeadline    time.Time
	until            time.Time
	untilWhat        string
	next             string
	weight           int
	analysis         string
	strategy         string
}

// Model is the view's state.
type Model struct {
	rows  []*Row
	index map[string]*Row
	// Notes are lines that belong to no row (the release set, warnings).
	Notes []string
}

// New returns an empty model.
func New() *Model { return &Model{index: map[string]*Row{}} }

func (m *Model) row(service string, now time.Time) *Row {
	r, ok := m.index[service]
	if !ok {
		r = &Row{Service: service, Phase: PhaseQueued, Since: now, PhaseSince: now, Progress: -1}
		m.index[service] = r
		m.rows = append(m.rows, r)
	}
	return r
}

func (r *Row) enter(phase string, now time.Time) {
	if r.Phase != phase {
		r.Phase, r.PhaseSince = phase, now
	}
}

// Stage applies a stage of the CLI's part of the deploy (ship.Stage*).
func (m *Model) Stage(service, stage string, now time.Time) {
	r := m.row(service, now)
	if r.Final {
		return
	}
	switch stage {
	case "building":
		r.enter(PhaseBuilding, now)
	case "pushing":
		r.enter(PhasePushing, now)
	case "built":
		r.enter(PhaseBuilt, now)
	case "submitting":
		r.enter(PhaseSubmitting, now)
	}
}

// BuildLine adds a line of a service's build output.
func (m *Model) BuildLine(service, line string, now time.Time) {
	r := m.row(service, now)
	line = strings.TrimRight(line, "\r\n")
	if strings.TrimSpace(line) == "" {
		return
	}
	r.Output = append(r.Output, line)
	if len(r.Output) > maxOutput {
		r.Output = r.Output[len(r.Output)-maxOutput:]
	}
}

// Fail marks a service failed (its build, or its deployment) with why.
func (m *Model) Fail(service, why string, now time.Time) {
	r := m.row(service, now)
	r.enter(PhaseFailed, now)
	r.Final, r.Failed = true, true
	r.untilWhat, r.until = "", time.Time{}
	r.analysis, r.check = "", ""
	// The first line says why; the build's whole output is in Output.
	r.next, _, _ = strings.Cut(strings.TrimSpace(why), "\n")
}

// Note adds a line that belongs to no row.
func (m *Model) Note(line string) {
	if line = strings.TrimRight(line, "\n"); line != "" {
		m.Notes = append(m.Notes, line)
	}
}

// Event applies one event of a followed deployment.
func (m *Model) Event(ev api.Event) {
	if ev.Service == "" {
		return
	}
	now := ev.Time
	r := m.row(ev.Service, now)
	if r.Final && ev.Kind != api.EventTaskStopped {
		return
	}
	rel, _ := strconv.Atoi(ev.Fields["release"])
	switch ev.Kind {
	case api.EventDeployStarted:
		r.Release = rel
		r.strategy = ev.Fields["strategy"]
		if r.strategy == "" {
			r.strategy = strategyOf(ev.Message)
		}
		r.enter(PhaseStarting, now)
	case api.EventTaskStarted:
		if rel == r.Release && (r.Phase == PhaseStarting || r.Phase == PhaseSubmitting || r.Phase == PhaseQueued) {
			r.enter(PhaseHealth, now)
			r.checkTask, r.check = ev.Fields["task"], ""
		}
	case api.EventTaskChecking:
		if rel == r.Release {
			r.checkTask, r.check = ev.Fields["task"], ev.Fields["check"]
			r.checkSince, _ = time.Parse(time.RFC3339Nano, ev.Fields["since"])
			r.checkDeadline, _ = time.Parse(time.RFC3339Nano, ev.Fields["deadline"])
			if r.Phase == PhaseStarting {
				r.enter(PhaseHealth, now)
			}
		}
	case api.EventTaskHealthy:
		if rel == r.Release {
			r.check = ""
			if r.Phase == PhaseHealth && (r.strategy == "rolling" || r.strategy == "") {
				r.enter(PhaseRolling, now)
			}
		}
	case api.EventDeployProgress:
		m.progress(r, ev)
	case api.EventDeployAnalysis:
		r.analysis = fmt.Sprintf("5xx %s / p99 %s ms on release %s (%s)", rate(ev.Fields), ev.Fields["p99_ms"], ev.Fields["release"], ev.Fields["verdict"])
	case api.EventDeploySucceeded:
		r.enter(PhaseDone, now)
		r.Final = true
		r.clearWaits()
	case api.EventDeployRollback:
		r.enter(PhaseRolledBack, now)
		r.Final, r.Failed = true, true
		r.clearWaits()
		r.next = ev.Message
	case api.EventDeployFailed:
		r.enter(PhaseFailed, now)
		r.Final, r.Failed = true, true
		r.clearWaits()
		r.next = ev.Message
	}
}

func (r *Row) clearWaits() {
	r.check, r.untilWhat, r.until, r.analysis, r.next = "", "", time.Time{}, "", ""
}

// progress applies a deploy.progress event.
func (m *Model) progress(r *Row, ev api.Event) {
	now := ev.Time
	w, _ := strconv.Atoi(ev.Fields["weight"])
	r.until, r.untilWhat = time.Time{}, ""
	r.next = ev.Fields["next"]
	if t, err := time.Parse(time.RFC3339Nano, ev.Fields["pause_until"]); err == nil {
		r.until, r.untilWhat = t, "pause"
	}
	switch ev.Fields["phase"] {
	case "provision":
		if w > 0 || r.weight > 0 {
			if r.weight > 0 && w != r.weight {
				r.enter(fmt.Sprintf("canary %d%% → %d%%", r.weight, w), now)
			} else {
				r.enter(fmt.Sprintf("canary %d%%", w), now)
			}
		}
	case "pause":
		r.enter(fmt.Sprintf("canary %d%%", w), now)
	case "gate":
		r.enter(fmt.Sprintf("canary %d%%", w), now)
		r.untilWhat = "gate"
	case "checks":
		r.enter("smoke checks", now)
	case "preview":
		r.enter(PhasePreview, now)
	case "switch":
		r.enter(PhaseSwitching, now)
	case "bake":
		r.enter(PhaseBaking, now)
		if t, err := time.Parse(time.RFC3339Nano, ev.Fields["bake_until"]); err == nil {
			r.until, r.untilWhat = t, "bake"
		}
	case "done":
		r.enter(PhaseDraining, now)
	case "rolled_back":
		r.enter(PhaseRolledBack, now)
	}
	if w > 0 {
		r.weight = w
	}
}

// Rows returns the rows as of now, in the order their services appeared,
// with Waiting and Progress computed.
func (m *Model) Rows(now time.Time) []Row {
	out := make([]Row, len(m.rows))
	for i, r := range m.rows {
		c := *r
		c.Waiting, c.Progress = waiting(r, now)
		out[i] = c
	}
	return out
}

// Done reports whether every row reached its end.
func (m *Model) Done() bool {
	for _, r := range m.rows {
		if !r.Final {
			return false
		}
	}
	return len(m.rows) > 0
}

// waiting says what r waits for at now and how far along it is.
func waiting(r *Row, now time.Time) (string, float64) {
	if r.Final {
		if r.Failed {
			return r.next, -1
		}
		return "", 1
	}
	switch {
	case r.Phase == PhaseHealth && r.check != "":
		s := fmt.Sprintf("%s health %s, %s", r.checkTask, r.check, secs(now.Sub(r.checkSince)))
		if !r.checkDeadline.IsZero() {
			total := r.checkDeadline.Sub(r.checkSince)
			return s + " of " + secs(total), frac(now.Sub(r.checkSince), total)
		}
		return s, -1
	case r.Phase == PhaseHealth:
		return fmt.Sprintf("%s starting, %s", r.checkTask, secs(now.Sub(r.PhaseSince))), -1
	case r.untilWhat == "pause" && !r.until.IsZero():
		s := fmt.Sprintf("pause, next step %s in %s", nextStep(r.next), secs(r.until.Sub(now)))
		if r.analysis != "" {
			s += "; " + r.analysis
		}
		return s, frac(now.Sub(r.PhaseSince), r.until.Sub(r.PhaseSince))
	case r.untilWhat == "gate":
		return "gate: `berth promote " + r.Service + "` to go on", -1
	case r.untilWhat == "bake" && !r.until.IsZero():
		s := fmt.Sprintf("bake, old release kept %s more", secs(r.until.Sub(now)))
		if r.analysis != "" {
			s += "; " + r.analysis
		}
		return s, frac(now.Sub(r.PhaseSince), r.until.Sub(r.PhaseSince))
	case r.analysis != "":
		return r.analysis, float64(r.weight) / 100
	case len(r.Output) > 0 && (r.Phase == PhaseBuilding || r.Phase == PhasePushing):
		return r.Output[len(r.Output)-1], -1
	}
	return "", -1
}

func nextStep(n string) string {
	switch n {
	case "":
		return "100%"
	case "pause":
		return "gate"
	}
	return n
}

func rate(f map[string]string) string {
	req, _ := strconv.Atoi(f["requests"])
	bad, _ := strconv.Atoi(f["errors_5xx"])
	if req == 0 {
		return "0%"
	}
	return strconv.FormatFloat(float64(bad)*100/float64(req), 'f', 1, 64) + "%"
}

// secs writes a duration in whole seconds, as people read a countdown.
func secs(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return strconv.Itoa(int(d.Round(time.Second)/time.Second)) + " s"
}

func frac(done, total time.Duration) float64 {
	if total <= 0 {
		return -1
	}
	return min(max(float64(done)/float64(total), 0), 1)
}

// strategyOf reads the strategy from a deploy.started message
// ("deploy web: release 1 → 2 (bluegreen, 2 tasks)").
func strategyOf(msg string) string {
	_, rest, ok := strings.Cut(msg, "(")
	if !ok {
		return ""
	}
	s, _, _ := strings.Cut(rest, ",")
	return strings.TrimSpace(s)
}
