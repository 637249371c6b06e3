package timeline

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/spec"
)

// Phase names of a timeline.
const (
	PhasePlan     = "plan"
	PhaseBuild    = "build"
	PhasePush     = "push"
	PhaseSubmit   = "submit"
	PhaseStart    = "task start"
	PhaseHealthy  = "first healthy"
	PhaseRollout  = "roll out"
	PhaseShift    = "shift traffic"
	PhasePreview  = "preview"
	PhaseSwitch   = "switch"
	PhaseBake     = "bake"
	PhaseChecks   = "smoke checks"
	PhaseGate     = "gate"
	PhaseRollback = "roll back"
	PhaseDrain    = "drain old release"
)

// Input is everything one deployment's timeline is built from.
type Input struct {
	Deployment api.Deployment
	// Client are the phases the client ran before submitting (plan,
	// build, push), as recorded with the deployment.
	Client []api.PhaseTiming
	// Events are the service's events from the deployment's start on, in
	// order: the deployment's own, and the task stops that follow it.
	Events []api.Event
	// Service is the new release's resolved spec (nil when unknown): the
	// settings that govern the phases.
	Service *spec.Service
	// Now ends the phase in progress of a deployment still running.
	Now time.Time
}

// mark is the start of a server-side phase.
type mark struct {
	at                time.Time
	name, gov, detail string
}

// Build returns the phases of one deployment, in order. Phases up to the
// deployment's end are contiguous, so their durations add up to its wall
// time; the old release's drain, which runs after, is marked AfterFinish.
func Build(in Input) []api.Phase {
	d := in.Deployment
	var out []api.Phase
	var clientEnd time.Time
	for _, c := range in.Client {
		out = append(out, phase(c.Name, c.Service, c.Start, c.End, c.GovernedBy, c.Detail))
		if c.End.After(clientEnd) {
			clientEnd = c.End
		}
	}
	if !clientEnd.IsZero() && d.StartedAt.After(clientEnd) {
		out = append(out, phase(PhaseSubmit, d.Service, clientEnd, d.StartedAt, "", "release "+strconv.Itoa(d.ToRelease)+" recorded by the control plane"))
	}
	end := d.FinishedAt
	if end.IsZero() {
		end = in.Now
	}
	var dep spec.Deploy
	var health spec.Health
	if in.Service != nil {
		if in.Service.Deploy != nil {
			dep = *in.Service.Deploy
		}
		if in.Service.Health != nil {
			health = *in.Service.Health
		}
	}
	if dep.Strategy == "" {
		dep.Strategy = d.Strategy
	}
	marks := []mark{{at: d.StartedAt, name: PhaseStart}}
	var started, healthy bool
	var lastStop time.Time
	stopped, cutOff := 0, 0
	var slowestDrain time.Duration
	lastProgress := ""
	for _, ev := range in.Events {
		if ev.Time.Before(d.StartedAt) {
			continue
		}
		own := ev.Deployment == d.ID
		switch {
		case own && ev.Kind == api.EventTaskStarted && !started && release(ev) == d.ToRelease:
			started = true
			marks = append(marks, mark{at: ev.Time, name: PhaseHealthy, gov: healthGov(health),
				detail: fmt.Sprintf("task %s started; %s", ev.Fields["task"], healthSettings(health))})
		case own && ev.Kind == api.EventTaskHealthy && !healthy && release(ev) == d.ToRelease:
			healthy = true
			if dep.Strategy == "rolling" || dep.Strategy == "" {
				marks = append(marks, mark{at: ev.Time, name: PhaseRollout, gov: "deploy.max_surge",
					detail: fmt.Sprintf("task %s healthy; the rest of the tasks replaced %s at a time", ev.Fields["task"], surge(dep))})
			} else {
				marks = append(marks, mark{at: ev.Time, name: PhaseShift, detail: fmt.Sprintf("task %s healthy", ev.Fields["task"])})
			}
		case own && ev.Kind == api.EventDeployProgress:
			m, ok := progressMark(ev, dep)
			if !ok || m.name+m.detail == lastProgress {
				continue
			}
			lastProgress = m.name + m.detail
			marks = append(marks, m)
		case ev.Kind == api.EventTaskStopped && release(ev) == d.FromRelease && d.FromRelease != 0 && !d.FinishedAt.IsZero() && !ev.Time.Before(d.FinishedAt):
			stopped++
			lastStop = ev.Time
			if in, err := time.ParseDuration(ev.Fields["drained_in"]); err == nil && in > slowestDrain {
				slowestDrain = in
			}
			if ev.Fields["drained"] == "false" {
				cutOff++
			}
		}
	}
	sort.SliceStable(marks, func(i, j int) bool { return marks[i].at.Before(marks[j].at) })
	for i, m := range marks {
		to := end
		if i+1 < len(marks) {
			to = marks[i+1].at
		}
		if to.After(end) {
			to = end
		}
		if to.Before(m.at) {
			to = m.at
		}
		out = append(out, phase(m.name, d.Service, m.at, to, m.gov, m.detail))
	}
	if stopped > 0 {
		p := phase(PhaseDrain, d.Service, d.FinishedAt, lastStop, "deploy.drain",
			fmt.Sprintf("release %d: %d %s drained and stopped in %s (limit %s)%s", d.FromRelease, stopped, plural(stopped, "task", "tasks"), Round(lastStop.Sub(d.FinishedAt)), Round(drainOf(dep)), drainDetail(slowestDrain, cutOff)))
		p.AfterFinish = true
		out = append(out, p)
	}
	return out
}

// progressMark is the phase a deploy.progress event starts.
func progressMark(ev api.Event, dep spec.Deploy) (mark, bool) {
	w := ev.Fields["weight"]
	m := mark{at: ev.Time}
	switch ev.Fields["phase"] {
	case "preview":
		m.name, m.gov, m.detail = PhasePreview, "deploy.pause", fmt.Sprintf("new release answers preview requests only, for %s", Round(dep.Pause.Std()))
	case "checks":
		m.name, m.gov, m.detail = PhaseChecks, "deploy.analysis", "smoke checks and webhook against the new release"
	case "switch":
		m.name, m.gov, m.detail = PhaseSwitch, "", "all traffic moved to the new release"
	case "bake":
		m.name, m.gov, m.detail = PhaseBake, "deploy.bake", fmt.Sprintf("old release kept for an instant rollback for %s", Round(dep.Bake.Std()))
	case "pause":
		m.name, m.gov, m.detail = "canary "+w+"%", "deploy.pause", fmt.Sprintf("%s%% of traffic, paused %s", w, Round(dep.Pause.Std()))
	case "gate":
		m.name, m.gov, m.detail = PhaseGate, "deploy.steps", w+"% of traffic until `berth promote`"
	case "provision":
		if w == "" || w == "0" {
			return m, false
		}
		m.name, m.gov, m.detail = "canary "+w+"%", "deploy.steps", "scaling the new release for "+w+"% of traffic"
	case "rolled_back":
		m.name, m.gov, m.detail = PhaseRollback, "deploy.analysis", strings.TrimSpace(ev.Message)
	default:
		return m, false
	}
	return m, true
}

func release(ev api.Event) int {
	n, _ := strconv.Atoi(ev.Fields["release"])
	return n
}

func healthGov(h spec.Health) string {
	if h.Grace.Std() > h.Interval.Std() {
		return "health.grace"
	}
	return "health.interval"
}

func healthSettings(h spec.Health) string {
	s := "health checks every " + Round(h.Interval.Std()).String()
	if h.Healthy > 1 {
		s += fmt.Sprintf(", %d passes in a row", h.Healthy)
	}
	if h.Grace.Std() > 0 {
		s += ", grace " + Round(h.Grace.Std()).String()
	}
	return s
}

func surge(dep spec.Deploy) string {
	if dep.MaxSurge != nil {
		return strconv.Itoa(*dep.MaxSurge)
	}
	return "max_surge"
}

func drainOf(dep spec.Deploy) time.Duration { return dep.Drain.Std() }

// drainDetail says how long the old tasks' in-flight requests took to
// finish (the slowest task), or how many still had requests running when
// deploy.drain ran out; "" when the events do not say.
func drainDetail(slowest time.Duration, cutOff int) string {
	if cutOff > 0 {
		return fmt.Sprintf("; %d %s still had requests in flight when the limit ran out", cutOff, plural(cutOff, "task", "tasks"))
	}
	if slowest > 0 {
		return fmt.Sprintf("; in-flight requests done after %s", Round(slowest))
	}
	return ""
}

func phase(name, service string, start, end time.Time, gov, detail string) api.Phase {
	if end.Before(start) {
		end = start
	}
	return api.Phase{Name: name, Service: service, Start: start, End: end, DurationMS: end.Sub(start).Milliseconds(), GovernedBy: gov, Detail: detail}
}

// Summarize fills the slowest phase and the wall time of a timeline: wall
// runs from the first phase's start to the last deployment's end (or now).
func Summarize(t *api.Timeline, ends []time.Time) {
	var first, last time.Time
	var slowest *api.Phase
	for i := range t.Phases {
		p := &t.Phases[i]
		if first.IsZero() || p.Start.Before(first) {
			first = p.Start
		}
		if slowest == nil || p.End.Sub(p.Start) > slowest.End.Sub(slowest.Start) {
			slowest = p
		}
	}
	for _, e := range ends {
		if e.After(last) {
			last = e
		}
	}
	if slowest != nil {
		s := *slowest
		t.Slowest = &s
	}
	if !first.IsZero() && last.After(first) {
		t.WallMS = last.Sub(first).Milliseconds()
	}
	if t.Phases == nil {
		t.Phases = []api.Phase{}
	}
}

// Round rounds d for people: to 10 ms under 10 s, to 100 ms under a
// minute, to seconds above.
func Round(d time.Duration) time.Duration {
	switch {
	case d < 10*time.Second:
		return d.Round(10 * time.Millisecond)
	case d < time.Minute:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// Explain says in one line why the slowest phase took its time:
// "drain old release 30s: deploy.drain; release 1: …".
func Explain(p api.Phase) string {
	s := fmt.Sprintf("%s %s", p.Name, Round(time.Duration(p.DurationMS)*time.Millisecond))
	if p.GovernedBy != "" {
		s += ": " + p.GovernedBy
	}
	if p.Detail != "" {
		s += "; " + p.Detail
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
