package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// requireDocker returns a client of the Docker engine, skipping the test
// when none answers (failing instead when BERTH_REQUIRE_DOCKER=1).
func requireDocker(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = cli.Ping(ctx)
		cancel()
	}
	if err != nil {
		if os.Getenv("BERTH_REQUIRE_DOCKER") == "1" {
			t.Fatalf("no Docker engine answers and BERTH_REQUIRE_DOCKER=1: %v", err)
		}
		t.Skipf("skipping: no Docker engine answers (%v); set BERTH_REQUIRE_DOCKER=1 to make this a failure", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// dockerShop is examples/shop in a temp git repository, in a subdirectory
// (examples/shop) beside a go.mod, as in berth's own repository.
type dockerShop struct {
	top     string // repository top level
	spec    string // path of berth.yaml
	state   string // state directory (outside the work tree)
	project string
	bin     string // the berth binary
}

// newDockerShop copies examples/shop into a fresh git repository with a
// test spec: a unique project (so sweeps never touch other runs), the
// given registry, short health intervals and drains.
func newDockerShop(t *testing.T, bin, registry string) *dockerShop {
	t.Helper()
	top := t.TempDir()
	src, err := filepath.Abs("../../examples/shop")
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(top, "examples", "shop")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatalf("copy shop: %v", err)
	}
	_ = os.RemoveAll(filepath.Join(dst, ".berth"))
	goLine := "go 1.26"
	if data, err := os.ReadFile("../../go.mod"); err == nil {
		if m := regexp.MustCompile(`(?m)^go \S+$`).Find(data); m != nil {
			goLine = string(m)
		}
	}
	writeFile(t, filepath.Join(top, "go.mod"), "module github.com/berth-dev/berth\n\n"+goLine+"\n")
	writeFile(t, filepath.Join(top, ".gitignore"), ".berth/\n")
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	s := &dockerShop{top: top, spec: filepath.Join(dst, "berth.yaml"), state: t.TempDir(), bin: bin, project: "e2e" + hex.EncodeToString(b)}
	svc := func(name, extra string) string {
		return fmt.Sprintf("  %s:\n    dir: services/%s\n    build: CGO_ENABLED=0 go build -o $BERTH_ARTIFACT ./services/%s\n    run: $BERTH_ARTIFACT\n%s", name, name, name, extra)
	}
	spec := "project: " + s.project + "\n"
	if registry != "" {
		spec += "registry: " + registry + "\n"
	}
	spec += `shared: [packages/]
defaults:
  health:
    path: /health
    interval: 200ms
  deploy:
    drain: 1s
services:
` + svc("web", "    route:\n      default: true\n    count: 2\n") +
		svc("auth", "    route:\n      path: /auth\n") +
		svc("catalog", "    route:\n      path: /catalog\n") +
		svc("orders", "    route:\n      path: /orders\n    depends_on: [catalog]\n")
	writeFile(t, s.spec, spec)
	s.git(t, "init", "-q", "-b", "main")
	s.commitAll(t, "shop")
	return s
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// appendTo adds a comment line to a file of the repository.
func (s *dockerShop) appendTo(t *testing.T, rel, line string) {
	t.Helper()
	p := filepath.Join(s.top, rel)
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, line); err != nil {
		t.Fatal(err)
	}
}

func (s *dockerShop) git(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = s.top
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@berth.invalid",
		"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@berth.invalid", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (s *dockerShop) commitAll(t *testing.T, msg string) {
	t.Helper()
	s.git(t, "add", "-A")
	s.git(t, "commit", "-q", "-m", msg)
}

// berthEnv is the environment without the developer's BERTH_* settings.
func berthEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BERTH_") {
			env = append(env, kv)
		}
	}
	return env
}

// berth runs the CLI against the shop's spec and state; it fails the test
// when the command fails.
func (s *dockerShop) berth(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.tryBerth(args...)
	if err != nil {
		t.Fatalf("berth %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (s *dockerShop) tryBerth(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, append([]string{"-f", s.spec, "--state", s.state}, args...)...)
	cmd.Env = berthEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// serve starts `berth serve --engine docker` for the shop and returns the
// router's URL; the cleanup stops it (which stops every task).
func (s *dockerShop) serve(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(s.bin, "-f", s.spec, "--state", s.state, "serve", "--engine", "docker", "--listen", "127.0.0.1:0")
	cmd.Env = berthEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	re := regexp.MustCompile(`router on (http://[^,\s]+)`)
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l := <-lines:
			if m := re.FindStringSubmatch(l); m != nil {
				return m[1]
			}
		case <-exited:
			t.Fatalf("berth serve exited: %s", stderr.String())
		case <-deadline:
			t.Fatalf("berth serve did not report its router within 30s: %s", stderr.String())
		}
	}
}

// containers lists the project's task containers.
func containers(t *testing.T, cli *client.Client, project string) []container.Summary {
	t.Helper()
	cs, err := cli.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "berth.project="+project))})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	return cs
}

// removeProject force-removes the project's containers and images, so a
// test leaves nothing behind in the engine even when it failed midway.
func removeProject(t *testing.T, cli *client.Client, project string) {
	ctx := context.Background()
	for _, c := range containers(t, cli, project) {
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Logf("remove container %s: %v", c.ID[:12], err)
		}
	}
	imgs, err := cli.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "berth.project="+project))})
	if err != nil {
		t.Logf("list images: %v", err)
		return
	}
	// Newest first: a child image goes before its parent.
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Created > imgs[j].Created })
	for _, im := range imgs {
		if _, err := cli.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Logf("remove image %s: %v", im.ID, err)
		}
	}
}

// buildBerth builds the berth binary into dir (once per docker test; the
// package's TestMain belongs to the process-engine harness).
func buildBerth(dir string) (string, error) {
	bin := filepath.Join(dir, "berth")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/berth")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build berth: %v\n%s", err, out)
	}
	return bin, nil
}
