package build_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/driver/docker"
	"github.com/berth-dev/berth/internal/driver/docker/dockertest"
	"github.com/berth-dev/berth/internal/registry"
)

// project scopes every image this test binary builds.
var project = dockertest.Project("bt")

func TestMain(m *testing.M) {
	code := m.Run()
	dockertest.RemoveAfter(project)
	os.Exit(code)
}

func newBuilder(t *testing.T) *build.Builder {
	t.Helper()
	dockertest.Require(t)
	b, err := build.New(context.Background(), build.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

const serverSource = `package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	static, _ := os.ReadFile("/static.txt")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", os.Getenv("BERTH_SERVICE"), static)
	})
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
`

const dockerfile = `FROM scratch AS base
COPY static.txt /static.txt
FROM base AS final
ARG GREETING=none
LABEL greeting=$GREETING
COPY app /app
ENTRYPOINT ["/app"]
FROM base AS other
`

// shopRepo writes a small monorepo: a Go module with services/web holding
// a server, its Dockerfile and a static file.
func shopRepo(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"go.mod":                      "module example.com/shop\n\ngo 1.26\n",
		"services/web/main.go":        serverSource,
		"services/web/Dockerfile":     dockerfile,
		"services/web/static.txt":     "from-context",
		"services/broken/Dockerfile":  dockerfile,
		"services/broken/static.txt":  "x",
		"services/nodockerfile/a.txt": "x",
	}
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func webRequest(root, registry, commit, branch, inputs string) build.Request {
	return build.Request{
		Project:      project,
		Service:      "web",
		Root:         root,
		Context:      "services/web",
		Target:       "final",
		Args:         map[string]string{"GREETING": "hi"},
		Command:      "go build -o $BERTH_ARTIFACT ./services/web",
		Commit:       commit,
		Branch:       branch,
		InputsDigest: inputs,
		Registry:     registry,
		Source:       "https://example.com/shop.git",
	}
}

// countingRegistry serves a loopback registry and counts blob uploads.
func countingRegistry(t *testing.T) (addr string, uploads *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	uploads = &atomic.Int64{}
	reg := registry.New(slog.Default())
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads") {
			uploads.Add(1)
		}
		reg.ServeHTTP(w, r)
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- registry.ServeHandler(ctx, ln, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("registry: %v", err)
		}
	})
	return ln.Addr().String(), uploads
}

func TestBuildReusePushPullRun(t *testing.T) {
	t.Parallel()
	b := newBuilder(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root := shopRepo(t)
	reg, uploads := countingRegistry(t)
	inputs := "sha256:" + project + "-web-inputs"

	// First build: the command runs and the engine builds.
	var out bytes.Buffer
	req := webRequest(root, reg, "aaa1111", "main", inputs)
	req.Output = &out
	first, err := b.Build(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// The engine's Dockerfile steps reach Output (the live view's row).
	if !strings.Contains(out.String(), "FROM") && !strings.Contains(out.String(), "Step") {
		t.Errorf("build output = %q, want the Dockerfile steps", out.String())
	}
	repo := reg + "/" + project + "/web"
	if !first.Built || first.Reused || first.Image != repo+":aaa1111" || first.ID == "" {
		t.Fatalf("first build = %+v", first)
	}
	cli, err := dockertest.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	insp, err := cli.ImageInspect(ctx, repo+":main")
	if err != nil {
		t.Fatalf("branch tag: %v", err)
	}
	for k, want := range map[string]string{
		build.LabelRevision: "aaa1111",
		build.LabelSource:   "https://example.com/shop.git",
		build.LabelInputs:   inputs,
		"greeting":          "hi", // build arg, and the final target was built
	} {
		if got := insp.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if _, err := time.Parse(time.RFC3339, insp.Config.Labels[build.LabelCreated]); err != nil {
		t.Errorf("label %s: %v", build.LabelCreated, err)
	}

	// Same inputs at a new commit: re-tagged, never built (the command
	// would fail if it ran).
	req = webRequest(root, reg, "bbb2222", "main", inputs)
	req.Command = "echo must not run; exit 1"
	second, err := b.Build(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Reused || second.Built || second.ID != first.ID || second.Image != repo+":bbb2222" {
		t.Fatalf("second build = %+v, want reuse of %s", second, first.ID)
	}

	// Push, push again, push another tag of the same image.
	digest, pushed, err := b.Push(ctx, first.Image)
	if err != nil || !pushed || !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("Push = %q, %v, %v", digest, pushed, err)
	}
	blobs := uploads.Load()
	if blobs == 0 {
		t.Fatal("first push uploaded no blobs")
	}
	if d, pushed, err := b.Push(ctx, first.Image); err != nil || pushed || d != digest {
		t.Fatalf("second Push = %q, %v, %v; want %s, not pushed", d, pushed, err, digest)
	}
	if d, _, err := b.Push(ctx, second.Image); err != nil || d != digest {
		t.Fatalf("Push of the re-tagged image = %q, %v; want %s", d, err, digest)
	}
	if got := uploads.Load(); got != blobs {
		t.Errorf("re-push and re-tag uploaded %d more blobs, want 0", got-blobs)
	}

	// Remove every local copy, pull back by digest, run it.
	for _, ref := range []string{first.Image, second.Image, repo + ":main"} {
		if _, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true}); err != nil {
			t.Fatalf("remove %s: %v", ref, err)
		}
	}
	byDigest := repo + "@" + digest
	if _, err := cli.ImageInspect(ctx, byDigest); err == nil {
		t.Fatal("image still present after removal")
	}
	if err := b.Pull(ctx, byDigest); err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if _, err := cli.ImageInspect(ctx, byDigest); err != nil {
		t.Fatalf("pulled image: %v", err)
	}
	runImage(t, byDigest)
}

// runImage runs ref with the docker driver and checks it serves.
func runImage(t *testing.T, ref string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := docker.New(ctx, docker.Config{Project: project})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h, err := d.Start(ctx, driver.TaskSpec{ID: "web-1-pulled", Project: project, Service: "web", Release: 1, Commit: "aaa1111", Image: ref, ContainerPort: 8080})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop(context.Background(), h, 0)
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := http.Get("http://" + h.Addr + "/")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "web from-context" {
				t.Fatalf("pulled image answered %q, want %q", body, "web from-context")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pulled image never answered on %s: %v", h.Addr, err)
		}
		<-tick.C
	}
}

func TestBuildAllReportsEachService(t *testing.T) {
	t.Parallel()
	b := newBuilder(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root := shopRepo(t)
	web := webRequest(root, "", "ccc3333", "", "")
	broken := webRequest(root, "", "ccc3333", "", "")
	broken.Service, broken.Context = "broken", "services/broken"
	broken.Command = "echo compiling broken; echo 'syntax error' >&2; exit 2"
	missing := webRequest(root, "", "ccc3333", "", "")
	missing.Service, missing.Context, missing.Command = "nodockerfile", "services/nodockerfile", ""

	var mu sync.Mutex
	lines := map[string][]string{}
	results, err := b.BuildAll(ctx, []build.Request{web, broken, missing}, func(service, line string) {
		mu.Lock()
		defer mu.Unlock()
		lines[service] = append(lines[service], line)
	})
	if err == nil {
		t.Fatal("BuildAll with a broken service: want error")
	}
	for _, want := range []string{"build broken", "syntax error", "build nodockerfile", "no Dockerfile"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if !results[0].Built || results[0].Image != project+"/web:ccc3333" {
		t.Errorf("web result = %+v, want built %s/web:ccc3333", results[0], project)
	}
	if len(lines["web"]) == 0 || !strings.Contains(strings.Join(lines["broken"], "\n"), "compiling broken") {
		t.Errorf("progress lines = %v", lines)
	}
}

func TestNewEngineDown(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	_, err := build.New(context.Background(), build.Config{})
	if !errors.Is(err, build.ErrEngineUnreachable) {
		t.Fatalf("New with a dead socket = %v, want ErrEngineUnreachable", err)
	}
	for _, want := range []string{sock, "is dockerd running?", "docker info"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
