package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

// EventQuery selects events to stream.
type EventQuery struct {
	After      int64
	Service    string
	Deployment int64
	// Follow keeps the stream open for new events.
	Follow bool
}

// LogOptions selects a service's log lines.
type LogOptions struct {
	Follow bool
	Tail   int
}

// Engine runs a project's services somewhere and reports what runs. The
// CLI talks only to it; the local engines implement it as a client of the
// control plane's API.
type Engine interface {
	Status(ctx context.Context) (api.Status, error)
	Deploy(ctx context.Context, r api.DeployRequest) (api.DeployResponse, error)
	Deployment(ctx context.Context, id int64) (api.Deployment, error)
	Events(ctx context.Context, q EventQuery, fn func(api.Event) error) error
	Rollback(ctx context.Context, r api.RollbackRequest) (api.DeployResponse, error)
	Scale(ctx context.Context, counts map[string]int) error
	RolloutSecrets(ctx context.Context, r api.SecretsRolloutRequest) (api.DeployResponse, error)
	History(ctx context.Context, service string) (api.History, error)
	Logs(ctx context.Context, service string, o LogOptions) (io.ReadCloser, error)
	Down(ctx context.Context) error
	// Promote lets a canary or blue/green deployment go past its pause or gate.
	Promote(ctx context.Context, service string) error
	// Abort rolls a service's deployment in progress back.
	Abort(ctx context.Context, service string) error
}

// ErrStreamLost marks an event stream (or a request) that failed because
// the control plane went away: it restarts, so asking again later may
// succeed. Engines wrap such errors with it.
var ErrStreamLost = errors.New("lost the control plane")

// ReconnectWithin bounds how long Wait keeps reconnecting to a control
// plane that went away (a restart of berth serve) before it gives up.
var ReconnectWithin = time.Minute

// reconnectEvery is the pause between two reconnection attempts.
const reconnectEvery = 250 * time.Millisecond

// Wait follows the given deployments until every one has finished, calling
// progress for each of their events, and returns their final states in
// the order given. A stream lost because the control plane restarted is
// resumed after the last event seen (each event is reported once), for up
// to ReconnectWithin, so the real outcome is reported.
func Wait(ctx context.Context, e Engine, deps []api.Deployment, progress func(api.Event)) ([]api.Deployment, error) {
	var mu sync.Mutex
	out := make([]api.Deployment, len(deps))
	errs := make([]error, len(deps))
	var wg sync.WaitGroup
	for i, d := range deps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			final := errStop
			var after int64
			err := retryLost(ctx, func() error {
				return e.Events(ctx, EventQuery{Deployment: d.ID, After: after, Follow: true}, func(ev api.Event) error {
					if ev.ID > 0 {
						if ev.ID <= after {
							return nil // seen before the reconnection
						}
						after = ev.ID
					}
					if progress != nil {
						mu.Lock()
						progress(ev)
						mu.Unlock()
					}
					switch ev.Kind {
					case api.EventDeploySucceeded, api.EventDeployRollback, api.EventDeployFailed:
						return final
					}
					return nil
				})
			})
			if err != nil && err != final {
				errs[i] = fmt.Errorf("follow deployment %d of %s: %w", d.ID, d.Service, err)
				return
			}
			err = retryLost(ctx, func() error {
				got, err := e.Deployment(ctx, d.ID)
				out[i] = got
				return err
			})
			if err != nil {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// retryLost runs f until it returns an error other than ErrStreamLost,
// ctx ends or ReconnectWithin has passed since the first loss.
func retryLost(ctx context.Context, f func() error) error {
	var giveUp time.Time
	for {
		err := f()
		if err == nil || !errors.Is(err, ErrStreamLost) || ctx.Err() != nil {
			return err
		}
		now := time.Now()
		if giveUp.IsZero() {
			giveUp = now.Add(ReconnectWithin)
		}
		if now.After(giveUp) {
			return fmt.Errorf("%w (gave up reconnecting after %s)", err, ReconnectWithin)
		}
		t := time.NewTimer(reconnectEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

type stopErr struct{}

func (stopErr) Error() string { return "stop" }

// errStop ends an event stream from inside its callback.
var errStop error = stopErr{}
