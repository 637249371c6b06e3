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
	// After and Deployment are opaque IDs the engine gave out ("" for none).
	After      string
	Service    string
	Deployment string
	// Follow keeps the stream open for new events.
	Follow bool
}

// LogOptions selects a service's log lines.
type LogOptions struct {
	Follow bool
	Tail   int
	// Trace keeps only the lines carrying this trace id (or request id),
	// from every service and the router's access log.
	Trace string
}

// Build target kinds: what an engine runs.
const (
	// TargetArtifact is a file built by the service's build command and run
	// as a process (the process engine).
	TargetArtifact = "artifact"
	// TargetImage is an OCI image (the Docker engine, ECS).
	TargetImage = "image"
)

// BuildTarget says what the deploy flow must build for an engine, and
// where the engine expects it.
type BuildTarget struct {
	// Kind is TargetArtifact or TargetImage.
	Kind string `json:"kind"`
	// Registry is where the engine pulls images from (e.g. an ECR
	// repository host). Empty means the engine runs images from the local
	// Docker engine's store: a push is optional and nothing is pulled back.
	Registry string `json:"registry,omitempty"`
	// Platform is the OS/architecture the engine runs (e.g. linux/arm64);
	// empty means the build host's.
	Platform string `json:"platform,omitempty"`
	// ImmutableTags says the registry refuses to move a tag (ECR with
	// immutable tags): only the commit tag is pushed, never a branch tag.
	ImmutableTags bool `json:"immutable_tags,omitempty"`
}

// Secrets keeps the versioned values services reference under secrets:
// and config: where the engine's tasks read them (locally the control
// plane's store; on ECS, SSM or Secrets Manager). Names are scoped by
// environment (prod/DB_PASSWORD). Errors match the secrets package's
// sentinels (secrets.ErrNotFound for a missing name or version).
type Secrets interface {
	// SetSecret stores value as the next version of name and returns it.
	SetSecret(ctx context.Context, name string, value []byte) (version int, err error)
	// Secret returns a version of name (0: the latest) and the version read.
	Secret(ctx context.Context, name string, version int) (value []byte, got int, err error)
	// ListSecrets describes every secret's latest version, never values.
	ListSecrets(ctx context.Context) ([]api.Secret, error)
	// DeleteSecret removes every version of name.
	DeleteSecret(ctx context.Context, name string) error
}

// Engine runs a project's services somewhere and reports what runs. The
// CLI talks only to it; the local engines implement it as a client of the
// control plane's API.
type Engine interface {
	// Target says what to build for this engine.
	Target(ctx context.Context) (BuildTarget, error)
	Secrets
	Status(ctx context.Context) (api.Status, error)
	Deploy(ctx context.Context, r api.DeployRequest) (api.DeployResponse, error)
	Deployment(ctx context.Context, id string) (api.Deployment, error)
	Events(ctx context.Context, q EventQuery, fn func(api.Event) error) error
	Rollback(ctx context.Context, r api.RollbackRequest) (api.DeployResponse, error)
	Scale(ctx context.Context, counts map[string]int) error
	RolloutSecrets(ctx context.Context, r api.SecretsRolloutRequest) (api.DeployResponse, error)
	History(ctx context.Context, service string) (api.History, error)
	// Logs streams a service's task logs, every service's when service is "".
	Logs(ctx context.Context, service string, o LogOptions) (io.ReadCloser, error)
	Down(ctx context.Context) error
	// Promote lets a canary or blue/green deployment go past its pause or gate.
	Promote(ctx context.Context, service string) error
	// Abort rolls a service's deployment in progress back.
	Abort(ctx context.Context, service string) error
}

// Timeliner is an engine that keeps deployment timelines (the local
// engines): the phases of a deployment, or of a release set's.
type Timeliner interface {
	Timeline(ctx context.Context, id string) (api.Timeline, error)
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
			// Event IDs are opaque: resume after the last one seen, and
			// skip any the control plane sends again.
			var after string
			seen := map[string]bool{}
			err := retryLost(ctx, func() error {
				return e.Events(ctx, EventQuery{Deployment: d.ID, After: after, Follow: true}, func(ev api.Event) error {
					if ev.ID != "" {
						if seen[ev.ID] {
							return nil // seen before the reconnection
						}
						seen[ev.ID] = true
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
				errs[i] = fmt.Errorf("follow deployment %s of %s: %w", d.ID, d.Service, err)
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
