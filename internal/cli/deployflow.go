package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/artifact"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/repo"
	"github.com/berth-dev/berth/internal/spec"
)

// deployOptions shape one `berth deploy` (or the deploy `berth up` does).
type deployOptions struct {
	services []string
	// changed deploys only the services whose inputs changed since their
	// live commit (the plan of `berth plan`).
	changed    bool
	allowDirty bool
	force      bool
	out        io.Writer
}

// currentCommit is the spec's repository HEAD (short SHA), "-dirty" when the
// working tree has changes, or "none" outside git.
func currentCommit(ctx context.Context, root string, allowDirty bool) (string, error) {
	r, err := repo.Open(ctx, root)
	if err != nil {
		if errors.Is(err, repo.ErrNotRepo) || errors.Is(err, repo.ErrNoCommits) || errors.Is(err, repo.ErrGitNotFound) {
			return "none", nil
		}
		return "", err
	}
	head, err := r.Head(ctx)
	if err != nil {
		if errors.Is(err, repo.ErrNoCommits) {
			return "none", nil
		}
		return "", err
	}
	dirty, err := r.Dirty(ctx)
	if err != nil {
		return "", err
	}
	if len(dirty) > 0 {
		if !allowDirty {
			return "", usageErr("the working tree has uncommitted changes (%s%s): commit them, or pass --allow-dirty (the release would not match commit %s)",
				strings.Join(first(dirty, 3), ", "), more(dirty, 3), head.Short)
		}
		return head.Short + "-dirty", nil
	}
	return head.Short, nil
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func more(s []string, n int) string {
	if len(s) > n {
		return fmt.Sprintf(" and %d more", len(s)-n)
	}
	return ""
}

// selectServices returns the named services (all, in dependency order,
// when none are named), with a did-you-mean for unknown names.
func selectServices(sp *spec.Spec, names []string) ([]*spec.Service, error) {
	if len(names) == 0 {
		names = sp.Order
	}
	var out []*spec.Service
	seen := map[string]bool{}
	for _, n := range names {
		s, ok := sp.Services[n]
		if !ok {
			return nil, usageErr("no service %q in %s%s", n, sp.Path, didYouMean(n, sp.Order))
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, s)
		}
	}
	return out, nil
}

func didYouMean(n string, names []string) string {
	if hint := spec.Suggest(n, names); hint != "" {
		return " (" + hint + ")"
	}
	return fmt.Sprintf(" (services: %s)", strings.Join(names, ", "))
}

// buildReleases builds the artifacts of the services in parallel and
// returns one release spec per service.
func (g *globals) buildReleases(ctx context.Context, sp *spec.Spec, svcs []*spec.Service, commit string, out io.Writer) ([]api.ReleaseSpec, error) {
	rel := make([]api.ReleaseSpec, len(svcs))
	errs := make([]error, len(svcs))
	sem := make(chan struct{}, runtime.NumCPU())
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, s := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rs := api.ReleaseSpec{Service: s.Name, Commit: commit, Image: s.Image}
			if s.Build != nil && s.Build.Command != "" {
				start := time.Now()
				mu.Lock()
				fmt.Fprintf(out, "building %s: %s\n", s.Name, s.Build.Command)
				mu.Unlock()
				res, err := artifact.Build(ctx, artifact.Request{Service: s.Name, Command: s.Build.Command, Dir: sp.Root, StateDir: g.stateDir()})
				if err != nil {
					errs[i] = err
					return
				}
				mu.Lock()
				fmt.Fprintf(out, "built %s in %s (artifact %s)\n", s.Name, time.Since(start).Round(100*time.Millisecond), res.Digest[:12])
				mu.Unlock()
				rs.Artifact, rs.ArtifactDigest = res.Path, res.Digest
			}
			cfg, fp, err := encodeRelease(release.ForArtifact(sp, taskService(sp, s)))
			if err != nil {
				errs[i] = err
				return
			}
			rs.Config, rs.Fingerprint = cfg, fp
			rel[i] = rs
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, failed(err)
	}
	return rel, nil
}

// encodeRelease is the release config c as the API carries it, with its
// fingerprint.
func encodeRelease(c release.Config) (json.RawMessage, string, error) {
	raw, err := c.Encode()
	if err != nil {
		return nil, "", err
	}
	fp, err := c.Fingerprint()
	if err != nil {
		return nil, "", err
	}
	return raw, fp, nil
}

// deploy builds, releases and rolls out services, then follows the
// deployments to their end. It fails when any deployment did not succeed.
// On a docker control plane it builds (and, with a registry, pushes)
// images; otherwise artifacts.
func (g *globals) deploy(ctx context.Context, e engine.Engine, sp *spec.Spec, o deployOptions) error {
	svcs, err := selectServices(sp, o.services)
	if err != nil {
		return err
	}
	commit, err := currentCommit(ctx, sp.Root, o.allowDirty)
	if err != nil {
		return err
	}
	st, err := e.Status(ctx)
	if err != nil {
		return g.explain(fmt.Errorf("deploy: %w", err))
	}
	if o.changed {
		ds, _, err := planServices(ctx, sp, svcs, liveCommits(st), "")
		if err != nil {
			return err
		}
		printPlan(o.out, ds)
		var keep []*spec.Service
		for i, d := range ds {
			if d.Action == repo.ActionDeploy {
				keep = append(keep, svcs[i])
			}
		}
		if len(keep) == 0 {
			fmt.Fprintln(o.out, "nothing changed since the live commits: nothing built, pushed or deployed")
			return nil
		}
		svcs = keep
	}
	var releases []api.ReleaseSpec
	if st.Engine == "docker" {
		releases, err = imageReleases(ctx, sp, svcs, commit, o.out)
	} else {
		releases, err = g.buildReleases(ctx, sp, svcs, commit, o.out)
	}
	if err != nil {
		return err
	}
	resp, err := e.Deploy(ctx, api.DeployRequest{Commit: commit, Releases: releases, Force: o.force})
	if err != nil {
		return g.explain(fmt.Errorf("deploy: %w", err))
	}
	for _, n := range resp.Unchanged {
		fmt.Fprintf(o.out, "%s: unchanged, nothing to deploy\n", n)
	}
	if len(resp.Deployments) == 0 {
		fmt.Fprintln(o.out, "nothing changed; no deployment started")
		return nil
	}
	fmt.Fprintf(o.out, "release set %s (commit %s):\n", resp.SetID, commit)
	return g.follow(ctx, e, resp.Deployments, o.out)
}

// imageReleases builds the services' images (pushing them when a registry
// is named) and returns one release per service that runs its image by an
// immutable reference, so an unchanged image makes no new release.
func imageReleases(ctx context.Context, sp *spec.Spec, svcs []*spec.Service, commit string, out io.Writer) ([]api.ReleaseSpec, error) {
	reg := registryOf(sp)
	imgs, err := buildImages(ctx, sp, svcs, imageOptions{commit: commit, registry: reg, push: reg != "", out: out})
	if err != nil {
		return nil, err
	}
	rel := make([]api.ReleaseSpec, len(svcs))
	for i, s := range svcs {
		cfg, fp, err := encodeRelease(release.ForImage(sp, taskService(sp, s)))
		if err != nil {
			return nil, err
		}
		rel[i] = api.ReleaseSpec{Service: s.Name, Commit: commit, Image: imgs[i].Ref, ArtifactDigest: imgs[i].Digest, Config: cfg, Fingerprint: fp}
	}
	return rel, nil
}

// follow prints the deployments' progress and their outcome; it fails
// when any did not succeed.
func (g *globals) follow(ctx context.Context, e engine.Engine, deps []api.Deployment, out io.Writer) error {
	for _, d := range deps {
		fmt.Fprintf(out, "  %s: release %d → %d (deployment %s)\n", d.Service, d.FromRelease, d.ToRelease, d.ID)
	}
	final, err := engine.Wait(ctx, e, deps, func(ev api.Event) {
		fmt.Fprintf(out, "%s %-10s %s\n", ev.Time.Local().Format("15:04:05"), ev.Service, ev.Message)
	})
	if err != nil {
		return g.explain(err)
	}
	var bad []string
	sort.Slice(final, func(i, j int) bool { return final[i].Service < final[j].Service })
	for _, d := range final {
		if d.State != api.DeploySucceeded {
			bad = append(bad, fmt.Sprintf("%s: %s: %s", d.Service, strings.ReplaceAll(d.State, "_", " "), d.Reason))
		}
	}
	if len(bad) > 0 {
		return failed(fmt.Errorf("%d of %d deployments did not succeed:\n  %s\n  see `berth history SERVICE` and `berth logs SERVICE`", len(bad), len(final), strings.Join(bad, "\n  ")))
	}
	fmt.Fprintf(out, "all %d deployments succeeded\n", len(final))
	return nil
}
