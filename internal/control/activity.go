package control

import (
	"context"
	"sync"
)

// activity counts the control plane's work in flight: a pending pass of a
// service's loop, a task being launched, probed or stopped, a usage
// sample. It is how a caller (tests on a fake clock) waits until the
// control plane has done everything the last clock step caused, without
// sleeping: Settle returns once the count is zero.
type activity struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed while n == 0
}

func newActivity() *activity {
	a := &activity{idle: make(chan struct{})}
	close(a.idle)
	return a
}

func (a *activity) begin() {
	a.mu.Lock()
	if a.n == 0 {
		a.idle = make(chan struct{})
	}
	a.n++
	a.mu.Unlock()
}

func (a *activity) end() {
	a.mu.Lock()
	a.n--
	if a.n < 0 {
		a.mu.Unlock()
		panic("control: activity ended more often than it began")
	}
	if a.n == 0 {
		close(a.idle)
	}
	a.mu.Unlock()
}

func (a *activity) idleCh() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.idle
}

// Settle waits until the control plane has no work in flight: every pass
// that was asked for has run and every launch, probe result, stop and
// usage sample that started has been applied. Work a task's own exit
// causes starts when the driver reports it (after Settle may have
// returned); wait for its event instead. It returns ctx's error if ctx
// ends first.
func (s *Server) Settle(ctx context.Context) error {
	select {
	case <-s.act.idleCh():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
