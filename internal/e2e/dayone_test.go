package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/berth-dev/berth/internal/driver/docker/dockertest"
)

// dayOneCompose is a new user's compose file: a web service built from the
// repository's root (build: {context: .}), an API, a worker, postgres and
// redis, compose host names in the environment, a build arg without a
// value. %[1]d and %[2]d are the loopback ports postgres and redis are
// published on.
const dayOneCompose = `services:
  web:
    build: {context: .}
    ports: ["8000:8000"]
    environment:
      API_URL: http://api:8080
    depends_on: [api]
  api:
    build: {context: ., dockerfile: api/Dockerfile}
    expose: ["8080"]
    environment:
      DATABASE_URL: postgres://app:secret@db:5432/app
    depends_on: [db, redis]
  worker:
    build:
      context: .
      dockerfile: worker/Dockerfile
      args: [GIT_SHA]
    depends_on: [redis]
  db:
    image: postgres:16
    ports: ["%[1]d:5432"]
    volumes: ["pgdata:/var/lib/postgresql/data"]
  redis:
    image: redis:7
    ports: ["%[2]d:6379"]
volumes:
  pgdata:
`

// TestDayOneComposeRepoUnderDocker is the first hour, end to end: in
// a fresh repository `berth init` converts the compose file, `berth up
// --engine docker` runs every service (the worker and the databases too,
// the API reaching postgres on loopback and redis through REDIS_URL, the
// web service reaching the API through the router), and `berth deploy`
// after a commit needs no --allow-dirty. postgres and redis are small
// static programs built as local images of those names: nothing is pulled.
func TestDayOneComposeRepoUnderDocker(t *testing.T) {
	dockertest.Require(t)
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("skipping: git not installed")
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	p := newProject(t)
	p.name = "dayone" + random()[:8]
	p.top = filepath.Join(p.dir, p.name)
	p.dir, p.state = p.top, filepath.Join(p.top, ".berth")
	t.Cleanup(func() {
		removeProject(t, cli, p.name)
		_ = cli.VolumeRemove(context.Background(), p.name+"_pgdata", true)
	})

	// The stand-ins for postgres:16 and redis:7.
	stubs := t.TempDir()
	goBuild(t, filepath.Join(stubs, "stub"), "./testdata/dayone/stub")
	for image, args := range map[string]string{"postgres:16": `"5432", "/var/lib/postgresql/data"`, "redis:7": `"6379"`} {
		writeFile(t, filepath.Join(stubs, "Dockerfile"), "FROM scratch\nCOPY stub /stub\nENTRYPOINT [\"/stub\", "+args+"]\n")
		if out, err := exec.Command("docker", "build", "-q", "-t", image, stubs).CombinedOutput(); err != nil {
			t.Fatalf("docker build %s: %v\n%s", image, err, out)
		}
	}

	// The user's repository: one program for web, api and worker, built
	// into bin/ (ignored), a Dockerfile per service, the compose file.
	goBuild(t, filepath.Join(p.top, "bin", "app"), "./testdata/dayone/app")
	for dir, role := range map[string]string{".": "web", "api": "api", "worker": "worker"} {
		writeFile(t, filepath.Join(p.top, dir, "Dockerfile"), "FROM scratch\nCOPY bin/app /app\nENTRYPOINT [\"/app\", \""+role+"\"]\n")
	}
	dbPort, redisPort := loopbackPort(t), loopbackPort(t)
	writeFile(t, filepath.Join(p.top, "compose.yaml"), fmt.Sprintf(dayOneCompose, dbPort, redisPort))
	writeFile(t, filepath.Join(p.top, ".gitignore"), "bin/\n")
	p.git("init", "-q", "-b", "main")
	p.commitAll("compose app")

	initOut := p.mustBerth("init")
	for _, want := range []string{"added .berth/ to", "became ${BERTH_ROUTER_URL}/api", "build arg GIT_SHA not converted", "health: none"} {
		if !strings.Contains(initOut, want) {
			t.Errorf("berth init output lacks %q:\n%s", want, initOut)
		}
	}
	p.commitAll("berth.yaml from berth init")

	cmd := p.command(context.Background(), "up", "--engine", "docker", "--listen", p.listen)
	out := &lockedWriter{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
		}
	}()
	p.waitFor("berth up to deploy every service", 5*time.Minute, func() bool {
		select {
		case err := <-exited:
			t.Fatalf("berth up exited (%v):\n%s", err, out.String())
		default:
		}
		return strings.Contains(out.String(), "press Ctrl-C")
	})
	st, err := p.status()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Services {
		if s.Healthy != s.Desired || s.Desired != 1 {
			t.Errorf("service %s: %d/%d healthy, want 1/1\n%s", s.Name, s.Healthy, s.Desired, out.String())
		}
	}
	if len(st.Services) != 5 {
		t.Fatalf("%d services run, want web, api, worker, db and redis:\n%s", len(st.Services), out.String())
	}
	if code, body, err := p.get("/"); err != nil || code != 200 || !strings.Contains(body, "web -> api: 200 pong") {
		t.Errorf("GET / through the router = %d %q %v; want the web service answering with the API's pong", code, body, err)
	}
	if logs := p.mustBerth("logs", "worker"); !strings.Contains(logs, "worker reached redis") {
		t.Errorf("the worker never reached redis:\n%s", logs)
	}
	if n := len(containers(t, cli, p.name)); n != 5 {
		t.Errorf("%d containers, want 5", n)
	}

	// A commit, then a deploy: berth's state beside the spec is no change.
	writeFile(t, filepath.Join(p.top, "README.md"), "# the app\n")
	p.commitAll("readme")
	if out, code := p.berth("deploy"); code != 0 {
		t.Fatalf("berth deploy after a commit exited %d (want no --allow-dirty needed):\n%s", code, out)
	}
}

// loopbackPort is a loopback port no one listens on.
func loopbackPort(t *testing.T) int {
	_, port, _ := net.SplitHostPort(freeAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}

// goBuild builds a static Go program.
func goBuild(t *testing.T, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}
