package ship

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/repo"
	"github.com/berth-dev/berth/internal/spec"
)

// Options shape one deploy.
type Options struct {
	// Services to deploy; none means every service of the spec.
	Services []string
	// Changed deploys only the services whose inputs changed since their
	// live commit (the plan of `berth plan`).
	Changed    bool
	AllowDirty bool
	// Force makes a new release even when nothing changed.
	Force bool
	// KeepGoing deploys the services that built when others did not;
	// otherwise the first build failure stops every build and nothing is
	// submitted.
	KeepGoing bool
	// Env is the environment the spec was resolved for ("" for none).
	Env string
	// StateDir holds built artifacts (artifact engines).
	StateDir string
	// Registry, when set, overrides the spec's registry for images the
	// engine does not pull from a registry of its own.
	Registry string
	// Out receives progress lines.
	Out io.Writer
	// DryRun builds but pushes nothing, and stops after the engine's
	// Deploy (an engine in dry-run mode, such as ECS's, prints the changes
	// it would make and makes none).
	DryRun bool
	// Detach returns once the deployments were submitted, without
	// following them to their outcome (`berth status` shows them).
	Detach bool
	// Watch, when set, sees every stage and event as it happens (the
	// live view); Out still receives the plain lines.
	Watch Watcher
}

// Submitter is an engine that hands deployments over asynchronously:
// WaitSubmitted returns once every one of them was handed over (or could
// not be), so a detached deploy may return.
type Submitter interface {
	WaitSubmitted(ctx context.Context, deps []api.Deployment) error
}

// ImagePreparer is an engine that readies its registry before images are
// pushed (e.g. creates ECR repositories) and gives the credentials to
// push with.
type ImagePreparer interface {
	PrepareImages(ctx context.Context, services []string) (authn.Keychain, error)
}

// Result is what a deploy did.
type Result struct {
	Commit      string           `json:"commit"`
	SetID       string           `json:"set_id,omitempty"`
	Deployments []api.Deployment `json:"deployments"`
	// Unchanged lists services whose release already ran.
	Unchanged []string `json:"unchanged,omitempty"`
	// Failed lists the services that were not built or whose deployment
	// did not succeed.
	Failed []Failure `json:"failed,omitempty"`
}

// Deploy carries out the deploy flow: plan (with Changed), build what the
// engine's BuildTarget says, push where it pulls from, submit one release
// per service as one release set, and follow the deployments to their
// end. It fails with a *FailedError naming every service that was not
// built or did not come up; Result says what happened either way.
func Deploy(ctx context.Context, e engine.Engine, sp *spec.Spec, o Options) (Result, error) {
	var res Result
	t0 := time.Now()
	phases := &phaseLog{}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	svcs, err := Select(sp, o.Services)
	if err != nil {
		return res, err
	}
	if res.Commit, err = Commit(ctx, sp.Root, o.AllowDirty); err != nil {
		return res, err
	}
	target, err := e.Target(ctx)
	if err != nil {
		return res, fmt.Errorf("deploy: %w", err)
	}
	if o.Changed {
		st, err := e.Status(ctx)
		if err != nil {
			return res, fmt.Errorf("deploy: %w", err)
		}
		ds, err := Plan(ctx, PlanRequest{Spec: sp, Services: svcs, Env: o.Env, Live: LiveCommits(st)})
		if err != nil {
			return res, err
		}
		WritePlan(out, ds)
		var keep []*spec.Service
		for i, d := range ds {
			if d.Action == repo.ActionDeploy {
				keep = append(keep, svcs[i])
			}
		}
		if len(keep) == 0 {
			fmt.Fprintln(out, "nothing changed since the live commits: nothing built, pushed or deployed")
			return res, nil
		}
		svcs = keep
	}

	phases.add("plan", "", t0, "", fmt.Sprintf("commit %s, %d %s to deploy", res.Commit, len(svcs), plural(len(svcs), "service", "services")))
	var releases []api.ReleaseSpec
	var errs []error
	switch target.Kind {
	case engine.TargetImage:
		reg, pinned := target.Registry, target.Registry != ""
		if reg == "" {
			reg = o.Registry
			if reg == "" {
				reg = sp.Registry
			}
		}
		im := ImageOptions{
			Commit: res.Commit, Registry: reg, Push: reg != "" && !o.DryRun, Pinned: pinned, Platform: target.Platform, KeepGoing: o.KeepGoing, Out: out,
			CommitTagOnly: target.ImmutableTags, watch: o.Watch, phases: phases,
		}
		var built []string
		for _, s := range svcs {
			if s.Build != nil {
				built = append(built, s.Name)
			}
		}
		if p, ok := e.(ImagePreparer); ok && im.Push && len(built) > 0 {
			if im.Keychain, err = p.PrepareImages(ctx, built); err != nil {
				return res, fmt.Errorf("deploy: %w", err)
			}
		}
		releases, errs, err = imageReleases(ctx, sp, svcs, im)
		if err != nil {
			return res, err
		}
	case engine.TargetArtifact:
		// Artifacts run as processes: image services, volumes and ports
		// cannot (engine auto without a Docker engine, or --engine process).
		if err := sp.CheckEngine("process", svcs); err != nil {
			return res, &InputError{Err: err}
		}
		releases, errs = artifactReleases(ctx, sp, svcs, res.Commit, o.StateDir, o.KeepGoing, out, o.Watch, phases)
	default:
		return res, fmt.Errorf("deploy: the engine asks for a %q build, which berth cannot make", target.Kind)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	var ready []api.ReleaseSpec
	for i, s := range svcs {
		if errs[i] != nil {
			res.Failed = append(res.Failed, Failure{Service: s.Name, Stage: StageBuild, Reason: errs[i].Error()})
			continue
		}
		ready = append(ready, releases[i])
	}
	if len(res.Failed) > 0 && (!o.KeepGoing || len(ready) == 0) {
		return res, &FailedError{Failures: res.Failed}
	}
	for _, r := range ready {
		stage(o.Watch, r.Service, StageSubmitting)
	}
	resp, err := e.Deploy(ctx, api.DeployRequest{Commit: res.Commit, Releases: ready, Force: o.Force, Phases: phases.list()})
	if err != nil {
		return res, fmt.Errorf("deploy: %w", err)
	}
	res.SetID, res.Unchanged = resp.SetID, resp.Unchanged
	for _, n := range resp.Unchanged {
		fmt.Fprintf(out, "%s: unchanged, nothing to deploy\n", n)
	}
	if o.DryRun {
		fmt.Fprintln(out, "dry run: nothing was changed")
		return res, nil
	}
	if len(resp.Deployments) == 0 {
		fmt.Fprintln(out, "nothing changed; no deployment started")
	} else {
		fmt.Fprintf(out, "release set %s (commit %s):\n", resp.SetID, res.Commit)
		if o.Detach {
			if sub, ok := e.(Submitter); ok {
				if err := sub.WaitSubmitted(ctx, resp.Deployments); err != nil {
					return res, fmt.Errorf("deploy: %w", err)
				}
			}
			for _, d := range resp.Deployments {
				fmt.Fprintf(out, "  %s: release %d submitted (%s, deployment %s)\n", d.Service, d.ToRelease, d.Strategy, d.ID)
			}
			fmt.Fprintln(out, "detached: the rollouts go on without berth; `berth status` shows them")
			res.Deployments = resp.Deployments
			return res, nil
		}
		final, bad, err := FollowWatched(ctx, e, resp.Deployments, out, o.Watch)
		if err != nil {
			return res, err
		}
		res.Deployments = final
		res.Failed = append(res.Failed, bad...)
		if len(bad) == 0 {
			fmt.Fprintf(out, "all %d deployments succeeded\n", len(final))
		}
	}
	if len(res.Failed) > 0 {
		return res, &FailedError{Failures: res.Failed, Deployments: len(res.Deployments)}
	}
	return res, nil
}
