package build

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	dockerbuild "github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/google/go-containerregistry/pkg/authn"
)

// ErrEngineUnreachable is returned when the Docker engine does not answer.
var ErrEngineUnreachable = errors.New("cannot reach the Docker engine")

// pingTimeout bounds the engine check in New.
const pingTimeout = 5 * time.Second

// commandTailLines is how many lines of a failed build command's output its
// error quotes.
const commandTailLines = 20

// Config configures a Builder.
type Config struct {
	// Logger receives the builder's logs; slog.Default() when nil.
	Logger *slog.Logger
	// Keychain resolves registry credentials; authn.DefaultKeychain (the
	// docker config and its credential helpers) when nil.
	Keychain authn.Keychain
}

// Builder builds, tags, finds, pushes and pulls images through the Docker
// Engine API. It is safe for concurrent use.
type Builder struct {
	cli      *client.Client
	log      *slog.Logger
	keychain authn.Keychain
	arch     string // the engine's CPU architecture, for GOARCH
}

// Request describes the image build of one service at one commit.
type Request struct {
	Project string
	Service string
	// Root is the spec's directory: the build command runs there, and
	// Context is relative to it.
	Root string
	// Context is the service's build context directory (relative to Root).
	// Empty means Root when there is no Command, and no directory (just the
	// artifact) when there is one.
	Context string
	// Dockerfile is relative to the context; default "Dockerfile". When it
	// is unset and missing and Command is set, DefaultDockerfile is used.
	Dockerfile string
	Target     string
	Args       map[string]string
	// Command, when set, runs first (sh -c in Root) and must write a static
	// binary to $BERTH_ARTIFACT, which lands as `app` in the build context.
	Command string
	// Commit (short SHA) and Branch name the tags.
	Commit string
	Branch string
	// InputsDigest identifies everything the image is built from; an image
	// labelled with it is reused instead of rebuilt.
	InputsDigest string
	// Registry prefixes the repository; empty keeps images local.
	Registry string
	// Platform is the os/arch the image is for (e.g. linux/arm64); empty
	// means the engine's own. A build command is cross-compiled for it.
	Platform string
	// Output, when set, receives the build's output line by line: the build
	// command's and the engine's Dockerfile steps (what BuildAll hands its
	// progress function).
	Output io.Writer
	// Source is the repository URL for org.opencontainers.image.source.
	Source string
}

// Result is what a build produced.
type Result struct {
	Service string
	// Image is the primary (commit) tag; Tags holds every tag set.
	Image string
	Tags  []string
	// ID is the engine's image ID (sha256:…).
	ID string
	// Built is true when the engine built the image; Reused when an image
	// with the same inputs digest was only re-tagged.
	Built  bool
	Reused bool
	// Digest is the registry manifest digest, set by the caller after Push.
	Digest string
}

// New connects to the Docker engine named by the environment and checks
// that it answers.
func New(ctx context.Context, cfg Config) (*Builder, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	kc := cfg.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	v, err := cli.ServerVersion(pingCtx)
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("%w at %s: is dockerd running? try `docker info` (%v)", ErrEngineUnreachable, cli.DaemonHost(), err)
	}
	return &Builder{cli: cli, log: logger.With("component", "build"), keychain: kc, arch: v.Arch}, nil
}

// Close releases the engine connection.
func (b *Builder) Close() error { return b.cli.Close() }

// Build builds (or reuses) the image of one service and tags it; its
// output goes to req.Output when set.
func (b *Builder) Build(ctx context.Context, req Request) (Result, error) {
	progress := func(string) {}
	if req.Output != nil {
		progress = func(line string) { fmt.Fprintln(req.Output, line) }
	}
	return b.build(ctx, req, progress)
}

// BuildAll builds the services in parallel, at most runtime.NumCPU() at a
// time. progress (may be nil) receives each output line with its service,
// one call at a time. Results are in the order of reqs; the error joins
// every failed service's error.
func (b *Builder) BuildAll(ctx context.Context, reqs []Request, progress func(service, line string)) ([]Result, error) {
	var mu sync.Mutex
	report := func(service string) func(string) {
		return func(line string) {
			if progress == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			progress(service, line)
		}
	}
	results := make([]Result, len(reqs))
	errs := make([]error, len(reqs))
	sem := make(chan struct{}, runtime.NumCPU())
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = fmt.Errorf("build %s: %w", req.Service, ctx.Err())
				return
			}
			defer func() { <-sem }()
			results[i], errs[i] = b.build(ctx, req, report(req.Service))
		})
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

func (b *Builder) build(ctx context.Context, req Request, progress func(string)) (Result, error) {
	if req.Project == "" || req.Service == "" {
		return Result{}, errors.New("build: project and service are required")
	}
	tags, err := Tags(req)
	if err != nil {
		return Result{}, fmt.Errorf("build %s: %w", req.Service, err)
	}
	res := Result{Service: req.Service, Image: tags[0], Tags: tags}
	log := b.log.With("service", req.Service, "commit", req.Commit)

	if req.InputsDigest != "" {
		ref, ok, err := b.Find(ctx, req.Project, req.Service, req.InputsDigest)
		if err != nil {
			return Result{}, fmt.Errorf("build %s: %w", req.Service, err)
		}
		if ok {
			id, err := b.tag(ctx, ref, tags)
			if err != nil {
				return Result{}, fmt.Errorf("build %s: reuse %s: %w", req.Service, ref, err)
			}
			progress("unchanged inputs: reusing " + ref)
			log.Info("image reused", "from", ref, "image", res.Image)
			res.ID, res.Reused = id, true
			return res, nil
		}
	}

	tmp, err := os.MkdirTemp("", "berth-build-"+req.Service+"-")
	if err != nil {
		return Result{}, fmt.Errorf("build %s: %w", req.Service, err)
	}
	defer os.RemoveAll(tmp)

	if req.Command != "" {
		if err := b.runCommand(ctx, req, filepath.Join(tmp, "app"), progress); err != nil {
			return Result{}, fmt.Errorf("build %s: %w", req.Service, err)
		}
	}
	ctxDir := contextDir(req)
	dockerfile, err := readDockerfile(req, ctxDir)
	if err != nil {
		return Result{}, fmt.Errorf("build %s: %w", req.Service, err)
	}
	id, err := b.imageBuild(ctx, req, tags, dockerfile, []string{ctxDir, tmp}, progress)
	if err != nil {
		return Result{}, fmt.Errorf("build %s: %w", req.Service, err)
	}
	log.Info("image built", "image", res.Image, "id", id)
	res.ID, res.Built = id, true
	return res, nil
}

// contextDir resolves the request's context directory ("" for none).
func contextDir(req Request) string {
	switch {
	case req.Context != "" && filepath.IsAbs(req.Context):
		return req.Context
	case req.Context != "":
		return filepath.Join(req.Root, req.Context)
	case req.Command == "":
		return req.Root
	}
	return ""
}

// readDockerfile returns the Dockerfile's content, or DefaultDockerfile for
// a command build without one.
func readDockerfile(req Request, ctxDir string) ([]byte, error) {
	name := req.Dockerfile
	if name == "" {
		name = "Dockerfile"
	}
	p := name
	if !filepath.IsAbs(p) {
		base := ctxDir
		if base == "" {
			base = req.Root
		}
		p = filepath.Join(base, name)
	}
	data, err := os.ReadFile(p)
	switch {
	case err == nil:
		return data, nil
	case errors.Is(err, os.ErrNotExist) && req.Dockerfile == "" && req.Command != "":
		return []byte(DefaultDockerfile), nil
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("no Dockerfile at %s: add one, or set build.dockerfile in berth.yaml", p)
	}
	return nil, fmt.Errorf("read Dockerfile: %w", err)
}

// runCommand runs the service's build command with $BERTH_ARTIFACT pointing
// at artifact, streaming its output to progress.
func (b *Builder) runCommand(ctx context.Context, req Request, artifact string, progress func(string)) error {
	cmd := exec.CommandContext(ctx, "sh", "-c", req.Command)
	cmd.Dir = req.Root
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=0",
		"GOOS=linux",
		"BERTH_ARTIFACT="+artifact,
		"BERTH_SERVICE="+req.Service,
		"BERTH_COMMIT="+req.Commit,
	)
	if arch := platformArch(req.Platform, b.arch); arch != "" {
		cmd.Env = append(cmd.Env, "GOARCH="+arch)
	}
	cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var tail []string
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			progress(line)
			tail = append(tail, line)
			if len(tail) > commandTailLines {
				tail = tail[1:]
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-scanned
	if err != nil {
		return fmt.Errorf("build command `%s` failed (%v):\n%s", req.Command, err, strings.Join(tail, "\n"))
	}
	if _, err := os.Stat(artifact); err != nil {
		return fmt.Errorf("build command `%s` did not write $BERTH_ARTIFACT (%s)", req.Command, artifact)
	}
	return nil
}

// buildMessage is one line of the engine's build output stream.
type buildMessage struct {
	Stream      string                    `json:"stream"`
	Status      string                    `json:"status"`
	Error       string                    `json:"error"`
	ErrorDetail *struct{ Message string } `json:"errorDetail"`
	Aux         json.RawMessage           `json:"aux"`
}

// imageBuild sends the context to the engine's classic builder and returns
// the built image's ID.
func (b *Builder) imageBuild(ctx context.Context, req Request, tags []string, dockerfile []byte, dirs []string, progress func(string)) (string, error) {
	pr, pw := io.Pipe()
	ctxErr := make(chan error, 1)
	go func() {
		err := writeContext(pw, dockerfile, dirs...)
		ctxErr <- err
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	// A context that cannot be read is the user's to fix, not the engine's:
	// report it rather than the engine's view of a broken upload.
	contextError := func(err error) error {
		select {
		case cerr := <-ctxErr:
			if cerr != nil {
				return cerr
			}
		default:
		}
		return err
	}

	args := make(map[string]*string, len(req.Args))
	for k, v := range req.Args {
		args[k] = &v
	}
	labels := map[string]string{
		LabelRevision: req.Commit,
		LabelCreated:  time.Now().UTC().Format(time.RFC3339),
		LabelProject:  req.Project,
		LabelService:  req.Service,
	}
	if req.Source != "" {
		labels[LabelSource] = req.Source
	}
	if req.InputsDigest != "" {
		labels[LabelInputs] = req.InputsDigest
	}
	resp, err := b.cli.ImageBuild(ctx, pr, dockerbuild.ImageBuildOptions{
		Tags:        tags,
		Dockerfile:  contextDockerfile,
		BuildArgs:   args,
		Target:      req.Target,
		Platform:    req.Platform,
		Labels:      labels,
		Remove:      true,
		ForceRemove: true,
		Version:     dockerbuild.BuilderV1,
	})
	if err != nil {
		return "", contextError(b.engineError("image build", err))
	}
	defer resp.Body.Close()
	var id string
	dec := json.NewDecoder(resp.Body)
	for {
		var m buildMessage
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("read build output: %w", err)
		}
		if msg := m.Error; msg != "" || m.ErrorDetail != nil {
			if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
				msg = m.ErrorDetail.Message
			}
			return "", fmt.Errorf("docker build: %s", msg)
		}
		for _, line := range strings.Split(strings.TrimRight(m.Stream+m.Status, "\n"), "\n") {
			if line != "" {
				progress(line)
			}
		}
		if len(m.Aux) > 0 {
			var aux struct{ ID string }
			if json.Unmarshal(m.Aux, &aux) == nil && aux.ID != "" {
				id = aux.ID
			}
		}
	}
	if id == "" {
		insp, err := b.cli.ImageInspect(ctx, tags[0])
		if err != nil {
			return "", fmt.Errorf("inspect built image %s: %w", tags[0], b.engineError("image inspect", err))
		}
		id = insp.ID
	}
	return id, nil
}

// Find returns a local image of the project's service built from
// inputsDigest: one of its tags (or its ID when untagged), newest first.
// Only the project's own images are reused: an image another project built
// from the same sources is that project's to remove, and its removal would
// take the re-tagged image with it.
func (b *Builder) Find(ctx context.Context, project, service, inputsDigest string) (string, bool, error) {
	imgs, err := b.cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", LabelInputs+"="+inputsDigest),
		filters.Arg("label", LabelProject+"="+project),
		filters.Arg("label", LabelService+"="+service),
	)})
	if err != nil {
		return "", false, fmt.Errorf("find image of %s with inputs %s: %w", service, inputsDigest, b.engineError("image list", err))
	}
	if len(imgs) == 0 {
		return "", false, nil
	}
	newest := slices.MaxFunc(imgs, func(a, c image.Summary) int { return int(a.Created - c.Created) })
	for _, t := range newest.RepoTags {
		if t != "<none>:<none>" {
			return t, true, nil
		}
	}
	return newest.ID, true, nil
}

// tag adds tags to the local image ref and returns its ID.
func (b *Builder) tag(ctx context.Context, ref string, tags []string) (string, error) {
	insp, err := b.cli.ImageInspect(ctx, ref)
	if err != nil {
		return "", b.engineError("image inspect", err)
	}
	for _, t := range tags {
		if err := b.cli.ImageTag(ctx, insp.ID, t); err != nil {
			return "", fmt.Errorf("tag %s: %w", t, b.engineError("image tag", err))
		}
	}
	return insp.ID, nil
}

// engineError puts engine connection failures in berth's words.
func (b *Builder) engineError(op string, err error) error {
	if client.IsErrConnectionFailed(err) {
		return fmt.Errorf("%s: %w at %s: is dockerd running? try `docker info` (%v)", op, ErrEngineUnreachable, b.cli.DaemonHost(), err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// platformArch is the CPU architecture of an os/arch[/variant] platform,
// or def when the platform is empty.
func platformArch(platform, def string) string {
	if platform == "" {
		return def
	}
	_, rest, ok := strings.Cut(platform, "/")
	if !ok {
		return def
	}
	arch, _, _ := strings.Cut(rest, "/")
	return arch
}
