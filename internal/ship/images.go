package ship

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
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/repo"
	"github.com/berth-dev/berth/internal/spec"
)

// ImageOptions shape one round of image builds.
type ImageOptions struct {
	// Commit is the short SHA, "<sha>-dirty" or "none".
	Commit string
	// Registry prefixes the repositories; Push uploads there.
	Registry string
	Push     bool
	// Pinned deploys images by registry digest (repo@sha256:…): the
	// engine pulls them. Otherwise the local engine's image ID is used and
	// nothing is pulled back.
	Pinned bool
	// Platform is the os/arch the engine runs (BuildTarget.Platform);
	// empty means the Docker engine's own.
	Platform string
	// KeepGoing builds every service even when one fails; otherwise the
	// first failure stops the others.
	KeepGoing bool
	Out       io.Writer
	// watch and phases, when set, see each stage and time each build
	// and push.
	watch  Watcher
	phases *phaseLog
	// Keychain resolves the registry's credentials (nil: the docker
	// config), e.g. an ECR token the engine got.
	Keychain authn.Keychain
	// CommitTagOnly pushes only the commit tag (registries with
	// immutable tags, where a branch tag cannot move).
	CommitTagOnly bool
}

// Image is the image a service deploys.
type Image struct {
	Service string `json:"service"`
	// Tag is the commit tag (or the spec's image: for services not built).
	Tag string `json:"tag"`
	// Ref is the immutable reference to deploy: repo@sha256:… when the
	// engine pulls from the registry, the local engine's image ID
	// otherwise, or the spec's image: as written.
	Ref string `json:"ref"`
	// Digest identifies the content: the manifest digest when pushed, the
	// image ID otherwise.
	Digest string `json:"digest,omitempty"`
	Built  bool   `json:"built"`
	Reused bool   `json:"reused"`
	Pushed bool   `json:"pushed"`
	// BuildSeconds is how long the build took (0 when nothing was built).
	BuildSeconds float64 `json:"build_seconds,omitempty"`
}

// BuildImages builds (or reuses) the images of svcs at the commit, in
// parallel, printing one progress line per step and service, and pushes
// them when asked. Services with only image: are not built. The errors
// are per service (nil for those that are ready); err is for what stops
// every build (no Docker engine, git failing).
func BuildImages(ctx context.Context, sp *spec.Spec, svcs []*spec.Service, o ImageOptions) (imgs []Image, errs []error, err error) {
	out := make([]Image, len(svcs))
	errs = make([]error, len(svcs))
	var toBuild []*spec.Service
	var slots []int
	for i, s := range svcs {
		if s.Build == nil {
			if s.Image == "" {
				return nil, nil, inputErr("service %s has neither build: nor image:, so an image engine has nothing to run: add one to %s", s.Name, sp.Path)
			}
			out[i] = Image{Service: s.Name, Tag: s.Image, Ref: s.Image}
			continue
		}
		toBuild = append(toBuild, s)
		slots = append(slots, i)
	}
	if len(toBuild) == 0 {
		return out, errs, nil
	}
	reqs, err := buildRequests(ctx, sp, toBuild, o)
	if err != nil {
		return nil, nil, err
	}
	b, err := build.New(ctx, build.Config{Logger: slog.New(slog.DiscardHandler), Keychain: o.Keychain})
	if err != nil {
		return nil, nil, inputErr("%v\n  images need the Docker engine: start it (or set DOCKER_HOST), or deploy with --engine process", err)
	}
	defer b.Close()

	var mu sync.Mutex
	say := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(o.Out, format+"\n", a...)
	}
	start := time.Now()
	run := newRunner(ctx, o.KeepGoing)
	for k, req := range reqs {
		i := slots[k]
		run.do(i, func(ctx context.Context) error {
			bstart := time.Now()
			stage(o.watch, req.Service, StageBuilding)
			say("building %s (commit %s)", req.Service, req.Commit)
			began := time.Now()
			req.Output = buildOutput(o.watch, req.Service)
			res, err := b.Build(ctx, req)
			if err != nil {
				return err
			}
			o.phases.add("build", req.Service, bstart, "services."+req.Service+".build", "image "+res.Image)
			im := Image{Service: res.Service, Tag: res.Image, Ref: res.ID, Digest: res.ID, Built: res.Built, Reused: res.Reused}
			if res.Built {
				im.BuildSeconds = time.Since(began).Seconds()
			}
			if res.Reused {
				say("%s: inputs unchanged, re-tagged %s (no build)", res.Service, res.Image)
			} else {
				say("%s: built %s (%s)", res.Service, res.Image, shortDigest(res.ID))
			}
			if o.Push {
				pstart := time.Now()
				stage(o.watch, req.Service, StagePushing)
				defer func() { o.phases.add("push", req.Service, pstart, "registry", "to "+o.Registry) }()
				var dgst string
				for _, tag := range res.Tags {
					if o.CommitTagOnly && tag != res.Image {
						continue
					}
					d, pushed, err := b.Push(ctx, tag)
					if err != nil {
						return fmt.Errorf("%w\n  check that the registry %s answers (`berth registry --listen %s` runs one on loopback) and that its credentials are in the docker config", err, o.Registry, o.Registry)
					}
					im.Pushed = im.Pushed || pushed
					dgst = d
				}
				ref := build.Repository(o.Registry, sp.Project, res.Service) + "@" + dgst
				if im.Pushed {
					say("%s: pushed %s", res.Service, ref)
				} else {
					say("%s: already in the registry, nothing pushed (%s)", res.Service, shortDigest(dgst))
				}
				im.Digest = dgst
				if o.Pinned {
					im.Ref = ref
				}
			}
			out[i] = im
			return nil
		})
	}
	run.wait(errs, func(i int) string { return svcs[i].Name })
	if errors.Join(errs...) == nil {
		say("images ready in %s", time.Since(start).Round(100*time.Millisecond))
	}
	return out, errs, nil
}

// buildRequests turns services into build requests at the commit, with
// inputs digests from git so unchanged services are re-tagged, not rebuilt.
// A dirty tree gets no digests: git does not see its changes.
func buildRequests(ctx context.Context, sp *spec.Spec, svcs []*spec.Service, o ImageOptions) ([]build.Request, error) {
	var branch string
	var digests map[string]string
	if r, err := repo.Open(ctx, sp.Root); err == nil {
		if head, err := r.Head(ctx); err == nil {
			branch = head.Branch
			if !strings.HasSuffix(o.Commit, "-dirty") {
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
			Commit: o.Commit, Branch: branch, Registry: o.Registry, Platform: o.Platform,
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
	if req.Platform != "" {
		how = append(how, "\nplatform "+req.Platform...)
	}
	sum := sha256.Sum256(append([]byte(inputs+"\n"), how...))
	return hex.EncodeToString(sum[:])
}

func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

// runner runs one job per service, at most NumCPU at a time. Unless it
// keeps going, the first failure cancels the jobs still running or waiting.
type runner struct {
	ctx       context.Context
	cancel    context.CancelFunc
	keepGoing bool
	sem       chan struct{}
	wg        sync.WaitGroup
	mu        sync.Mutex
	errs      map[int]error
	firstFail int
}

func newRunner(ctx context.Context, keepGoing bool) *runner {
	ctx, cancel := context.WithCancel(ctx)
	return &runner{ctx: ctx, cancel: cancel, keepGoing: keepGoing, sem: make(chan struct{}, runtime.NumCPU()), errs: map[int]error{}, firstFail: -1}
}

func (r *runner) do(i int, job func(context.Context) error) {
	r.wg.Go(func() {
		select {
		case r.sem <- struct{}{}:
		case <-r.ctx.Done():
			r.fail(i, r.ctx.Err())
			return
		}
		defer func() { <-r.sem }()
		if err := r.ctx.Err(); err != nil {
			r.fail(i, err)
			return
		}
		if err := job(r.ctx); err != nil {
			r.fail(i, err)
		}
	})
}

func (r *runner) fail(i int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs[i] = err
	if r.firstFail < 0 && r.ctx.Err() == nil {
		r.firstFail = i
		if !r.keepGoing {
			r.cancel()
		}
	}
}

// wait waits for every job and fills errs; a job cancelled because another
// failed says so, naming the one that failed first.
func (r *runner) wait(errs []error, name func(int) string) {
	r.wg.Wait()
	r.cancel()
	for i, err := range r.errs {
		if i != r.firstFail && r.firstFail >= 0 && !r.keepGoing {
			err = fmt.Errorf("not built: stopped when %s failed", name(r.firstFail))
		}
		errs[i] = err
	}
}
