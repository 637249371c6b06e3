package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/ship"
	"github.com/berth-dev/berth/internal/spec"
)

// deployFrom promotes what runs in environment from: it deploys exactly
// the image (by digest) and commit each selected service runs there to
// the target environment, with the target's own settings, as one release
// set. Nothing is built.
func (g *globals) deployFrom(ctx context.Context, target engine.Engine, sp *spec.Spec, from string, names []string, force bool, out io.Writer) error {
	if from == g.env {
		return usageErr("--from %s names the environment being deployed to: name another one, e.g. --from staging", from)
	}
	srcG := *g
	srcG.env, srcG.ecs, srcG.dryRun = from, nil, false
	if _, err := srcG.loadSpec(); err != nil {
		return err
	}
	source := srcG.engine()
	svcs, err := ship.Select(sp, names)
	if err != nil {
		return err
	}
	req := api.DeployRequest{Force: force}
	commits := map[string]bool{}
	for _, s := range svcs {
		h, err := source.History(ctx, s.Name)
		if err != nil {
			return srcG.explain(fmt.Errorf("read what %s runs in %s: %w", s.Name, from, err))
		}
		var live *api.Release
		for i, r := range h.Releases {
			if r.Live {
				live = &h.Releases[i]
				break
			}
		}
		if live == nil {
			return usageErr("%s runs nothing in %s: deploy it there first, or leave it out (berth deploy --env %s --from %s SERVICE...)", s.Name, from, g.env, from)
		}
		if live.Image == "" {
			return usageErr("%s runs an artifact in %s, not an image: promotion needs both environments to run images from a shared registry", s.Name, from)
		}
		if !strings.Contains(live.Image, "@sha256:") {
			fmt.Fprintf(out, "warning: %s runs %s in %s, a tag rather than a digest\n", s.Name, live.Image, from)
		}
		rel, err := ship.ImageRelease(sp, s, live.Commit, live.Image)
		if err != nil {
			return err
		}
		req.Releases = append(req.Releases, rel)
		commits[live.Commit] = true
		fmt.Fprintf(out, "%s: promoting release %d of %s (commit %s, %s)\n", s.Name, live.Number, from, orDash(live.Commit), live.Image)
	}
	if len(commits) == 1 {
		for c := range commits {
			req.Commit = c
		}
	} else {
		cs := make([]string, 0, len(commits))
		for c := range commits {
			cs = append(cs, c)
		}
		sort.Strings(cs)
		req.Commit = strings.Join(cs, "+")
	}
	resp, err := target.Deploy(ctx, req)
	if err != nil {
		return g.explain(fmt.Errorf("deploy --from %s: %w", from, err))
	}
	for _, n := range resp.Unchanged {
		fmt.Fprintf(out, "%s: already runs that release\n", n)
	}
	if g.dryRun {
		fmt.Fprintln(out, "dry run: nothing was changed")
		return nil
	}
	if len(resp.Deployments) == 0 {
		fmt.Fprintln(out, "nothing to promote: every service already runs what runs in "+from)
		return nil
	}
	fmt.Fprintf(out, "release set %s (promoted from %s):\n", resp.SetID, from)
	return g.follow(ctx, target, resp.Deployments, out)
}
