package ship

import (
	"io"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

// Stages of a service's deploy that happen in the CLI, as a Watcher sees
// them.
const (
	StageBuilding   = "building"
	StagePushing    = "pushing"
	StageBuilt      = "built"
	StageSubmitting = "submitting"
)

// Watcher sees a deploy as it happens, to render it (the CLI's live view
// on a terminal). Its methods may be called from several goroutines.
type Watcher interface {
	// Stage says a service entered a stage of the CLI's part of the deploy.
	Stage(service, stage string)
	// BuildOutput receives the output of a service's build (nil: none).
	BuildOutput(service string) io.Writer
	// Event is one event of a followed deployment.
	Event(ev api.Event)
}

// phaseLog collects the phases the CLI runs, timed on its clock, to send
// with the deploy request.
type phaseLog struct {
	mu     sync.Mutex
	phases []api.PhaseTiming
}

// add records one phase from start to now.
func (l *phaseLog) add(name, service string, start time.Time, gov, detail string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phases = append(l.phases, api.PhaseTiming{Name: name, Service: service, Start: start.UTC(), End: time.Now().UTC(), GovernedBy: gov, Detail: detail})
}

func (l *phaseLog) list() []api.PhaseTiming {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]api.PhaseTiming(nil), l.phases...)
}

// stage tells w, when set, that service entered stage.
func stage(w Watcher, service, s string) {
	if w != nil {
		w.Stage(service, s)
	}
}

// buildOutput is w's writer for service's build output, or nil.
func buildOutput(w Watcher, service string) io.Writer {
	if w == nil {
		return nil
	}
	return w.BuildOutput(service)
}
