package ship

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/engine"
)

// Failure is one service a deploy did not bring up.
type Failure struct {
	Service string `json:"service"`
	// Stage is "build" (nothing was submitted for it) or "deploy" (its
	// deployment was rolled back or failed).
	Stage  string `json:"stage"`
	Reason string `json:"reason"`
}

// Failure stages.
const (
	StageBuild  = "build"
	StageDeploy = "deploy"
)

// FailedError says which services a deploy did not bring up, and why.
type FailedError struct {
	Failures []Failure
	// Deployments is how many deployments were followed (0 when the
	// failure came before any was submitted).
	Deployments int
}

func (e *FailedError) Error() string {
	var builds, deploys []string
	for _, f := range e.Failures {
		line := f.Service + ": " + strings.ReplaceAll(strings.TrimSpace(f.Reason), "\n", "\n    ")
		if f.Stage == StageBuild {
			builds = append(builds, line)
		} else {
			deploys = append(deploys, line)
		}
	}
	var parts []string
	if len(builds) > 0 {
		parts = append(parts, fmt.Sprintf("%d %s not built:\n  %s", len(builds), plural(len(builds), "service was", "services were"), strings.Join(builds, "\n  ")))
	}
	if len(deploys) > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d deployments did not succeed:\n  %s\n  see `berth history SERVICE` and `berth logs SERVICE`", len(deploys), e.Deployments, strings.Join(deploys, "\n  ")))
	}
	return strings.Join(parts, "\n")
}

// Services lists the services that failed, in the order reported.
func (e *FailedError) Services() []string {
	out := make([]string, len(e.Failures))
	for i, f := range e.Failures {
		out[i] = f.Service
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Follow prints the deployments' progress until each has finished and
// returns their final states (sorted by service) and the failures among
// them.
func Follow(ctx context.Context, e engine.Engine, deps []api.Deployment, out io.Writer) ([]api.Deployment, []Failure, error) {
	return FollowWatched(ctx, e, deps, out, nil)
}

// FollowWatched is Follow that also hands every event to w (when set).
func FollowWatched(ctx context.Context, e engine.Engine, deps []api.Deployment, out io.Writer, w Watcher) ([]api.Deployment, []Failure, error) {
	for _, d := range deps {
		fmt.Fprintf(out, "  %s: release %d → %d (deployment %s)\n", d.Service, d.FromRelease, d.ToRelease, d.ID)
	}
	final, err := engine.Wait(ctx, e, deps, func(ev api.Event) {
		if w != nil {
			w.Event(ev)
		}
		if ev.Kind == api.EventDeployAnalysis || ev.Kind == api.EventTaskChecking {
			if w != nil {
				return // the live view shows them in place
			}
		}
		fmt.Fprintf(out, "%s %-10s %s\n", ev.Time.Local().Format("15:04:05"), ev.Service, ev.Message)
	})
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(final, func(i, j int) bool { return final[i].Service < final[j].Service })
	var bad []Failure
	for _, d := range final {
		if d.State != api.DeploySucceeded {
			bad = append(bad, Failure{Service: d.Service, Stage: StageDeploy, Reason: strings.ReplaceAll(d.State, "_", " ") + ": " + d.Reason})
		}
	}
	return final, bad, nil
}

// FollowAll follows deployments and fails with a FailedError when any did
// not succeed; otherwise it says they all did.
func FollowAll(ctx context.Context, e engine.Engine, deps []api.Deployment, out io.Writer) error {
	final, bad, err := Follow(ctx, e, deps, out)
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return &FailedError{Failures: bad, Deployments: len(final)}
	}
	fmt.Fprintf(out, "all %d deployments succeeded\n", len(final))
	return nil
}
