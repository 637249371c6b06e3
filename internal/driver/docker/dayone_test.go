package docker_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/driver/docker"
)

var (
	shimOnce sync.Once
	shimPath string
	shimErr  error
)

// staticBerth builds (once) berth as make build does, static, to serve as
// the entry shim.
func staticBerth(t *testing.T) string {
	t.Helper()
	shimOnce.Do(func() {
		dir, err := os.MkdirTemp("", "berth-shim-")
		if err != nil {
			shimErr = err
			return
		}
		shimPath = filepath.Join(dir, "berth")
		cmd := exec.Command("go", "build", "-o", shimPath, "../../../cmd/berth")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			shimErr = err
			shimPath = string(out)
		}
	})
	if shimErr != nil {
		t.Fatalf("build static berth: %v\n%s", shimErr, shimPath)
	}
	return shimPath
}

func getEnv(t *testing.T, addr string) map[string]string {
	t.Helper()
	resp := waitHTTP(t, "http://"+addr+"/env")
	defer resp.Body.Close()
	var env map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	return env
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSecretsStayOutOfContainerConfig: a secret reaches the task's
// environment, but neither `docker inspect` nor the engine's config.v2.json
// holds its value.
func TestSecretsStayOutOfContainerConfig(t *testing.T) {
	img := testImage(t)
	dockertestShim := staticBerth(t)
	secretsDir := t.TempDir()
	d, err := docker.New(context.Background(), docker.Config{Project: project, Shim: dockertestShim, SecretsDir: secretsDir})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	secret := "s3cret-" + rand.Text()
	ts := spec("web-3-secret", img)
	ts.Secrets = map[string]string{"DB_PASSWORD": secret}
	ts.Env["DB_PASSWORD"] = secret // given as Env too: still kept out
	h := start(t, d, ts)
	env := getEnv(t, h.Addr)
	if env["DB_PASSWORD"] != secret || env["GREETING"] != "hello world" {
		t.Fatalf("task env DB_PASSWORD=%q GREETING=%q; want the secret and the plain value", env["DB_PASSWORD"], env["GREETING"])
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	_, raw, err := cli.ContainerInspectWithRaw(context.Background(), h.ContainerID, false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), secret) {
		t.Errorf("docker inspect shows the secret value:\n%s", raw)
	}
	info, err := cli.Info(context.Background())
	if err == nil && info.DockerRootDir != "" {
		onDisk := filepath.Join(info.DockerRootDir, "containers", h.ContainerID, "config.v2.json")
		if b, err := os.ReadFile(onDisk); err == nil {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s holds the secret value", onDisk)
			}
		} else {
			t.Logf("cannot read %s (engine elsewhere?): %v", onDisk, err)
		}
	}
	// Stopping the task removes the secrets file.
	if err := d.Stop(context.Background(), h, 0); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(secretsDir); len(ents) != 0 {
		t.Errorf("secrets files left: %v", ents)
	}
}

// TestHostNetwork: a task in the host's network namespace listens on the
// loopback port the driver gave it in $PORT and reaches a server on the
// host's loopback (the router, other tasks).
func TestHostNetwork(t *testing.T) {
	img := testImage(t)
	d := newDriver(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ts := spec("web-3-hostnet", img)
	ts.ContainerPort, ts.HostNetwork = 0, true
	h := start(t, d, ts)
	_, port, _ := net.SplitHostPort(h.Addr)
	if env := getEnv(t, h.Addr); env["PORT"] != port {
		t.Errorf("PORT = %q, want the handle's port %s", env["PORT"], port)
	}
	if code, body := get(t, "http://"+h.Addr+"/dial?addr="+url.QueryEscape(ln.Addr().String())); code != http.StatusOK {
		t.Errorf("the task cannot reach the host's loopback %s: %d %s", ln.Addr(), code, body)
	}
	// A restarted control plane finds the address again.
	tasks, err := d.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tasks {
		if tk.TaskID == ts.ID && tk.Handle.Addr != h.Addr {
			t.Errorf("List addr = %q, want %q", tk.Handle.Addr, h.Addr)
		}
	}
}

// TestVolumesAndPorts: a named volume keeps its data from one task to the
// next (a deploy), a bind mount shows the host directory, and ports are
// published on loopback.
func TestVolumesAndPorts(t *testing.T) {
	img := testImage(t)
	d := newDriver(t)
	bind := t.TempDir()
	if err := os.WriteFile(filepath.Join(bind, "seed.sql"), []byte("create table t;"), 0o644); err != nil {
		t.Fatal(err)
	}
	vol := "data" + strings.ToLower(rand.Text()[:6])
	t.Cleanup(func() {
		cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err == nil {
			_ = cli.VolumeRemove(context.Background(), docker.VolumeName(project, vol), true)
			cli.Close()
		}
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	published := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	volumes := []driver.Volume{{Source: vol, Target: "/data"}, {Source: bind, Target: "/seed", ReadOnly: true, Bind: true}}

	first := spec("db-1-vol", img)
	first.Volumes = volumes
	first.Ports = []driver.Port{{Host: published, Container: 8080}}
	h1 := start(t, d, first)
	waitHTTP(t, "http://127.0.0.1:"+strconv.Itoa(published)+"/env").Body.Close()
	if code, body := get(t, "http://"+h1.Addr+"/write?path=/data/x&data=kept"); code != http.StatusOK {
		t.Fatalf("write to the named volume: %d %s", code, body)
	}
	if code, body := get(t, "http://"+h1.Addr+"/file?path=/seed/seed.sql"); code != http.StatusOK || body != "create table t;" {
		t.Errorf("bind mount read = %d %q", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.Stop(ctx, h1, 0); err != nil {
		t.Fatal(err)
	}
	second := spec("db-2-vol", img)
	second.Volumes = volumes
	h2 := start(t, d, second)
	waitHTTP(t, "http://"+h2.Addr+"/env").Body.Close()
	if code, body := get(t, "http://"+h2.Addr+"/file?path=/data/x"); code != http.StatusOK || body != "kept" {
		t.Errorf("named volume after a new task = %d %q, want kept", code, body)
	}
}

// TestExec: a command health check runs in the task's container; exit 0
// passes, anything else fails with the code.
func TestExec(t *testing.T) {
	img := testImage(t)
	d := newDriver(t)
	h := start(t, d, spec("web-3-exec", img))
	waitHTTP(t, "http://"+h.Addr+"/env").Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.Exec(ctx, h, []string{"/app", "-exit", "0"}); err != nil {
		t.Errorf("Exec of a command exiting 0: %v", err)
	}
	if err := d.Exec(ctx, h, []string{"/app", "-exit", "3"}); err == nil || !strings.Contains(err.Error(), "exit code 3") {
		t.Errorf("Exec of a command exiting 3 = %v, want exit code 3", err)
	}
}

// TestContainerLogsBounded: containers log to the engine's json-file driver
// with a size cap and without ever blocking the task.
func TestContainerLogsBounded(t *testing.T) {
	img := testImage(t)
	d := newDriver(t)
	h := start(t, d, spec("web-3-logs", img))
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	insp, err := cli.ContainerInspect(context.Background(), h.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	lc := insp.HostConfig.LogConfig
	if lc.Type != "json-file" || lc.Config["max-size"] == "" || lc.Config["max-file"] == "" || lc.Config["mode"] != "non-blocking" {
		t.Errorf("log config = %+v, want json-file with max-size, max-file and mode non-blocking", lc)
	}
}
