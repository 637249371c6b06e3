package ship

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/artifact"
	"github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/spec"
)

// artifactReleases builds the artifacts of the services in parallel and
// returns one release per service; errs holds each failed service's error.
func artifactReleases(ctx context.Context, sp *spec.Spec, svcs []*spec.Service, commit, stateDir string, keepGoing bool, out io.Writer, w Watcher, phases *phaseLog) ([]api.ReleaseSpec, []error) {
	rel := make([]api.ReleaseSpec, len(svcs))
	errs := make([]error, len(svcs))
	var mu sync.Mutex
	say := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format+"\n", a...)
	}
	run := newRunner(ctx, keepGoing)
	for i, s := range svcs {
		run.do(i, func(ctx context.Context) error {
			rs := api.ReleaseSpec{Service: s.Name, Commit: commit, Image: s.Image}
			if s.Build != nil && s.Build.Command != "" {
				start := time.Now()
				stage(w, s.Name, StageBuilding)
				say("building %s: %s", s.Name, s.Build.Command)
				res, err := artifact.Build(ctx, artifact.Request{Service: s.Name, Command: s.Build.Command, Dir: sp.Root, StateDir: stateDir, Output: buildOutput(w, s.Name)})
				if err != nil {
					return err
				}
				phases.add("build", s.Name, start, "services."+s.Name+".build", s.Build.Command)
				stage(w, s.Name, StageBuilt)
				say("built %s in %s (artifact %s)", s.Name, time.Since(start).Round(100*time.Millisecond), res.Digest[:12])
				rs.Artifact, rs.ArtifactDigest = res.Path, res.Digest
				rs.BuildSeconds = time.Since(start).Seconds()
			}
			cfg, fp, err := encodeRelease(release.ForArtifact(sp, s))
			if err != nil {
				return err
			}
			rs.Config, rs.Fingerprint = cfg, fp
			rel[i] = rs
			return nil
		})
	}
	run.wait(errs, func(i int) string { return svcs[i].Name })
	return rel, errs
}

// imageReleases builds the services' images (pushing them when there is a
// registry) and returns one release per service that runs its image by an
// immutable reference, so an unchanged image makes no new release.
func imageReleases(ctx context.Context, sp *spec.Spec, svcs []*spec.Service, o ImageOptions) ([]api.ReleaseSpec, []error, error) {
	imgs, errs, err := BuildImages(ctx, sp, svcs, o)
	if err != nil {
		return nil, nil, err
	}
	rel := make([]api.ReleaseSpec, len(svcs))
	for i, s := range svcs {
		if errs[i] != nil {
			continue
		}
		cfg, fp, err := encodeRelease(release.ForImage(sp, s))
		if err != nil {
			errs[i] = err
			continue
		}
		rel[i] = api.ReleaseSpec{Service: s.Name, Commit: o.Commit, Image: imgs[i].Ref, ArtifactDigest: imgs[i].Digest, Config: cfg, Fingerprint: fp,
			BuildSeconds: imgs[i].BuildSeconds}
	}
	return rel, errs, nil
}
