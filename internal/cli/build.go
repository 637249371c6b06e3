package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/repo"
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
	svcs, err := selectServices(sp, names)
	if err != nil {
		return err
	}
	reg := registryOf(sp)
	if c.push && reg == "" {
		return usageErr("--push needs a registry: set registry: in %s (or BERTH_REGISTRY), e.g. 127.0.0.1:5000 with `berth registry`", sp.Path)
	}
	commit, err := currentCommit(ctx, sp.Root, c.allowDirty)
	if err != nil {
		return err
	}
	out := c.g.stdout
	if c.output == "json" {
		out = io.Discard
	}
	imgs, err := buildImages(ctx, sp, svcs, imageOptions{commit: commit, registry: reg, push: c.push, out: out})
	if err != nil {
		return err
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

// imageOptions shape one round of image builds.
type imageOptions struct {
	commit   string // short SHA, "<sha>-dirty" or "none"
	registry string
	push     bool
	out      io.Writer
	// keychain resolves the registry's credentials (nil: the docker config).
	keychain authn.Keychain
}

// serviceImage is the image a service deploys.
type serviceImage struct {
	Service string `json:"service"`
	// Tag is the commit tag (or the spec's image: for services not built).
	Tag string `json:"tag"`
	// Ref is the immutable reference to deploy: repo@sha256:… when pushed,
	// the engine's image ID otherwise, or the spec's image: as written.
	Ref string `json:"ref"`
	// Digest identifies the content: the manifest digest when pushed, the
	// image ID otherwise.
	Digest string `json:"digest,omitempty"`
	Built  bool   `json:"built"`
	Reused bool   `json:"reused"`
	Pushed bool   `json:"pushed"`
}

// buildImages builds (or reuses) the images of svcs at the current commit,
// in parallel, printing one progress line per step and service; with push
// it pushes them and pulls them back by digest so the engine runs exactly
// what the registry holds. Services with only image: are not built.
func buildImages(ctx context.Context, sp *spec.Spec, svcs []*spec.Service, o imageOptions) ([]serviceImage, error) {
	out := make([]serviceImage, len(svcs))
	var toBuild []*spec.Service
	var slots []int
	for i, s := range svcs {
		if s.Build == nil {
			if s.Image == "" {
				return nil, usageErr("service %s has neither build: nor image:, so the docker engine has nothing to run: add one to %s", s.Name, sp.Path)
			}
			out[i] = serviceImage{Service: s.Name, Tag: s.Image, Ref: s.Image}
			continue
		}
		toBuild = append(toBuild, s)
		slots = append(slots, i)
	}
	if len(toBuild) == 0 {
		return out, nil
	}
	reqs, err := buildRequests(ctx, sp, toBuild, o)
	if err != nil {
		return nil, err
	}
	b, err := build.New(ctx, build.Config{Logger: slog.New(slog.DiscardHandler), Keychain: o.keychain})
	if err != nil {
		return nil, usageErr("%v\n  images need the Docker engine: start it (or set DOCKER_HOST), or deploy with --engine process", err)
	}
	defer b.Close()

	var mu sync.Mutex
	say := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(o.out, format+"\n", a...)
	}
	start := time.Now()
	for _, r := range reqs {
		say("building %s (commit %s)", r.Service, r.Commit)
	}
	results, err := b.BuildAll(ctx, reqs, func(service, line string) {
		if strings.HasPrefix(line, "Step ") || strings.HasPrefix(line, "unchanged inputs") {
			fmt.Fprintf(o.out, "  %-10s %s\n", service, line)
		}
	})
	if err != nil {
		return nil, failed(err)
	}
	for k, res := range results {
		im := serviceImage{Service: res.Service, Tag: res.Image, Ref: res.ID, Digest: res.ID, Built: res.Built, Reused: res.Reused}
		if res.Reused {
			say("%s: inputs unchanged, re-tagged %s (no build)", res.Service, res.Image)
		} else {
			say("%s: built %s (%s)", res.Service, res.Image, shortDigest(res.ID))
		}
		out[slots[k]] = im
	}
	say("images ready in %s", time.Since(start).Round(100*time.Millisecond))
	if !o.push {
		return out, nil
	}
	errs := make([]error, len(results))
	var wg sync.WaitGroup
	for k, res := range results {
		wg.Go(func() {
			im := &out[slots[k]]
			var pushedAny bool
			var dgst string
			for _, tag := range res.Tags {
				d, pushed, err := b.Push(ctx, tag)
				if err != nil {
					errs[k] = fmt.Errorf("%w\n  check that the registry %s answers (`berth registry --listen %s` runs one on loopback) and that its credentials are in the docker config", err, o.registry, o.registry)
					return
				}
				pushedAny = pushedAny || pushed
				dgst = d
			}
			ref := build.Repository(o.registry, sp.Project, res.Service) + "@" + dgst
			if pushedAny {
				say("%s: pushed %s", res.Service, ref)
			} else {
				say("%s: already in the registry, nothing pushed (%s)", res.Service, shortDigest(dgst))
			}
			if err := b.Pull(ctx, ref); err != nil {
				errs[k] = err
				return
			}
			im.Ref, im.Digest, im.Pushed = ref, dgst, pushedAny
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, failed(err)
	}
	return out, nil
}

// buildRequests turns services into build requests at the current commit,
// with inputs digests from git so unchanged services are re-tagged, not
// rebuilt. A dirty tree gets no digests: git does not see its changes.
func buildRequests(ctx context.Context, sp *spec.Spec, svcs []*spec.Service, o imageOptions) ([]build.Request, error) {
	var branch string
	var digests map[string]string
	if r, err := repo.Open(ctx, sp.Root); err == nil {
		if head, err := r.Head(ctx); err == nil {
			branch = head.Branch
			if !strings.HasSuffix(o.commit, "-dirty") {
				inputs, err := serviceInputs(r, sp, svcs, nil)
				if err != nil {
					return nil, err
				}
				if digests, err = r.InputsDigests(ctx, head.SHA, inputs); err != nil {
					return nil, fmt.Errorf("inputs digests: %w", err)
				}
			}
		}
	}
	reqs := make([]build.Request, len(svcs))
	for i, s := range svcs {
		req := build.Request{
			Project: sp.Project, Service: s.Name, Root: sp.Root,
			Commit: o.commit, Branch: branch, Registry: o.registry,
		}
		if s.Build.Docker() {
			req.Context, req.Dockerfile, req.Target, req.Args = s.Build.Context, s.Build.Dockerfile, s.Build.Target, s.Build.Args
		} else {
			// A build command makes a static binary; the service's own
			// Dockerfile (if any) packs it, else the binary alone FROM scratch.
			req.Command = s.Build.Command
			if fi, err := os.Stat(filepath.Join(sp.Root, s.Dir, "Dockerfile")); err == nil && fi.Mode().IsRegular() {
				req.Context, req.Dockerfile = s.Dir, "Dockerfile"
			}
		}
		if d := digests[s.Name]; d != "" {
			req.InputsDigest = buildDigest(d, req)
		}
		reqs[i] = req
	}
	return reqs, nil
}

// buildDigest mixes how a service is built into its inputs digest, so a
// changed build command, Dockerfile choice, target or argument rebuilds.
func buildDigest(inputs string, req build.Request) string {
	how, _ := json.Marshal(struct {
		Command, Context, Dockerfile, Target string
		Args                                 map[string]string
	}{req.Command, req.Context, req.Dockerfile, req.Target, req.Args})
	sum := sha256.Sum256(append([]byte(inputs+"\n"), how...))
	return hex.EncodeToString(sum[:])
}

func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}
