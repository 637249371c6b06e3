package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/ship"
	"github.com/berth-dev/berth/internal/spec"
)

func init() { extraCommands = append(extraCommands, newBuildCommand) }

type buildCommand struct {
	cmd        *cobra.Command
	g          *globals
	push       bool
	allowDirty bool
	output     string
}

func newBuildCommand(g *globals) *cobra.Command {
	c := &buildCommand{g: g}
	c.cmd = &cobra.Command{
		Use:   "build [SERVICE...]",
		Short: "Build the current commit's images (all services when none are named), and push them with --push",
		Long: `build builds one image per service with the Docker engine, tagged
<registry>/<project>/<service>:<short-sha> and :<branch>. A service whose
inputs (its directory, shared paths and build inputs, as git sees them) are
unchanged since an image was built is re-tagged, not rebuilt. With --push the
images go to the spec's registry: (or BERTH_REGISTRY); an image the registry
already holds is not uploaded again.`,
		RunE: func(cmd *cobra.Command, args []string) error { return c.run(cmd.Context(), args) },
	}
	f := c.cmd.Flags()
	f.BoolVar(&c.push, "push", false, "push the images to the registry named by registry: in berth.yaml (or BERTH_REGISTRY)")
	f.BoolVar(&c.allowDirty, "allow-dirty", false, "build even when the working tree has uncommitted changes (tagged <sha>-dirty)")
	outputFlag(c.cmd, &c.output)
	return c.cmd
}

func (c *buildCommand) run(ctx context.Context, names []string) error {
	if err := checkOutput(c.output); err != nil {
		return err
	}
	sp, err := c.g.loadSpec()
	if err != nil {
		return err
	}
	svcs, err := ship.Select(sp, names)
	if err != nil {
		return c.g.shipErr(err)
	}
	reg := registryOf(sp)
	if c.push && reg == "" {
		return usageErr("--push needs a registry: set registry: in %s (or BERTH_REGISTRY), e.g. 127.0.0.1:5000 with `berth registry`", sp.Path)
	}
	commit, err := ship.Commit(ctx, sp.Root, c.allowDirty)
	if err != nil {
		return c.g.shipErr(err)
	}
	out := c.g.stdout
	if c.output == "json" {
		out = io.Discard
	}
	imgs, errs, err := ship.BuildImages(ctx, sp, svcs, ship.ImageOptions{Commit: commit, Registry: reg, Push: c.push, Pinned: c.push, Out: out})
	if err != nil {
		return c.g.shipErr(err)
	}
	var bad []ship.Failure
	for i, err := range errs {
		if err != nil {
			bad = append(bad, ship.Failure{Service: svcs[i].Name, Stage: ship.StageBuild, Reason: err.Error()})
		}
	}
	if len(bad) > 0 {
		return failed(&ship.FailedError{Failures: bad})
	}
	if c.output == "json" {
		return writeJSONTo(c.g.stdout, imgs)
	}
	tw := newTable(c.g.stdout)
	fmt.Fprintln(tw, "SERVICE\tIMAGE\tREF")
	for _, im := range imgs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", im.Service, im.Tag, im.Ref)
	}
	return tw.Flush()
}

// registryOf is BERTH_REGISTRY, else the spec's (environment's) registry.
func registryOf(sp *spec.Spec) string {
	if r := os.Getenv("BERTH_REGISTRY"); r != "" {
		return r
	}
	return sp.Registry
}
