package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The helpers of the secrets test are self-contained (prefixed sec) so
// changes to the other e2e helpers never break it.

// secShop is examples/shop copied into a temp git repository, with auth
// referencing a secret, and a `berth serve` for it on the process engine.
type secShop struct {
	t       *testing.T
	bin     string // berth binary
	spec    string // berth.yaml
	state   string // state directory, outside the work tree
	listen  string // router address
	project string

	serve    *exec.Cmd
	serveOut *secBuffer
	exited   chan struct{}

	mu  sync.Mutex
	out bytes.Buffer // every CLI output and API response, for the leak check
}

// secRandom returns n random bytes as hex.
func secRandom(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// secBuildBerth builds the berth binary into a temp dir.
func secBuildBerth(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "berth")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/berth-dev/berth/cmd/berth")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build berth: %v\n%s", err, out)
	}
	return bin
}

// newSecShop copies examples/shop into a fresh git repository (beside a
// go.mod, as in berth's own repository) and edits its spec: a unique
// project, and auth with SHOP_DEBUG_ENV=1 and AUTH_SECRET from the secret
// auth-secret.
func newSecShop(t *testing.T) *secShop {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("skipping: git not installed")
	}
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
	secWrite(t, filepath.Join(top, "go.mod"), "module github.com/berth-dev/berth\n\n"+goLine+"\n")

	s := &secShop{
		t:       t,
		bin:     secBuildBerth(t),
		spec:    filepath.Join(dst, "berth.yaml"),
		state:   filepath.Join(t.TempDir(), "state"),
		listen:  secFreeAddr(t),
		project: "shopsec" + secRandom(t, 3),
	}
	raw, err := os.ReadFile(s.spec)
	if err != nil {
		t.Fatal(err)
	}
	spec := strings.Replace(string(raw), "project: shop\n", "project: "+s.project+"\n", 1)
	authRoute := "    route:\n      path: /auth\n"
	if !strings.Contains(spec, authRoute) {
		t.Fatalf("examples/shop/berth.yaml changed shape: no auth route %q", authRoute)
	}
	spec = strings.Replace(spec, authRoute, authRoute+
		"    env:\n      SHOP_DEBUG_ENV: \"1\"\n"+
		"    secrets:\n      AUTH_SECRET: auth-secret\n", 1)
	secWrite(t, s.spec, spec)
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "-A"},
		{"-c", "user.name=berth test", "-c", "user.email=test@berth.invalid", "commit", "-q", "-m", "shop"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = top
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	t.Cleanup(s.cleanup)
	return s
}

func secWrite(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func secFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// secEnv is the environment of every berth process: no BERTH_* of the
// caller (so the master key file of the state dir is used), process engine.
func secEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BERTH_") {
			env = append(env, kv)
		}
	}
	return append(env, "BERTH_ENGINE=process")
}

// record keeps text for the leak check.
func (s *secShop) record(label, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(&s.out, "== %s\n%s\n", label, text)
}

// recorded returns everything recorded so far.
func (s *secShop) recorded() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// berth runs the CLI with stdin and returns its combined output and exit code.
func (s *secShop) berth(stdin string, args ...string) (string, int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, append([]string{"-f", s.spec, "--state", s.state}, args...)...)
	cmd.Dir = filepath.Dir(s.spec)
	cmd.Env = secEnv()
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	s.record("berth "+strings.Join(args, " "), string(out))
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			s.t.Fatalf("run berth %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// mustBerth runs the CLI and fails the test unless it exits 0.
func (s *secShop) mustBerth(stdin string, args ...string) string {
	s.t.Helper()
	out, code := s.berth(stdin, args...)
	if code != 0 {
		s.t.Fatalf("berth %s exited %d:\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// startServe runs `berth serve` and waits until its API answers.
func (s *secShop) startServe() {
	s.t.Helper()
	cmd := exec.Command(s.bin, "-f", s.spec, "--state", s.state, "serve", "--listen", s.listen)
	cmd.Dir = filepath.Dir(s.spec)
	cmd.Env = secEnv()
	s.serveOut = &secBuffer{}
	cmd.Stdout, cmd.Stderr = s.serveOut, s.serveOut
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.serve, s.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.exited) }()
	s.waitFor("the control plane answers", 30*time.Second, func() bool {
		select {
		case <-s.exited:
			s.t.Fatalf("berth serve exited early:\n%s", s.serveOut.String())
		default:
		}
		_, err := s.api(http.MethodGet, "/v1/status", "")
		return err == nil
	})
}

// stopServe sends SIGTERM to `berth serve` and waits for it to exit.
func (s *secShop) stopServe() {
	s.t.Helper()
	if s.serve == nil {
		return
	}
	_ = s.serve.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(90 * time.Second):
		s.t.Fatalf("berth serve did not stop within 90s:\n%s", s.serveOut.String())
	}
	s.record("berth serve output", s.serveOut.String())
	s.serve = nil
}

// cleanup stops serve and, whatever the test did, kills the project's tasks.
func (s *secShop) cleanup() {
	if s.serve != nil {
		_ = s.serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(60 * time.Second):
			_ = s.serve.Process.Kill()
		}
	}
	for _, pid := range secPIDs("BERTH_PROJECT=" + s.project) {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// secPIDs lists the processes (of this user) whose environment holds the
// exact entry kv.
func secPIDs(kv string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, entry := range bytes.Split(env, []byte{0}) {
			if string(entry) == kv {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// secCmdlines returns the command lines of every process this user can read.
func secCmdlines() map[int]string {
	entries, _ := os.ReadDir("/proc")
	out := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil {
			out[pid] = string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
	return out
}

// api calls the control plane's HTTP API on its unix socket and records
// the response body.
func (s *secShop) api(method, path, body string) (string, error) {
	sock := filepath.Join(s.state, "berth.sock")
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest(method, "http://berth"+path, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	s.record(method+" "+path, string(b))
	if err != nil {
		return string(b), err
	}
	if resp.StatusCode/100 != 2 {
		return string(b), fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return string(b), nil
}

// get fetches a path through the router and records the answer.
func (s *secShop) get(path string) (int, string, error) {
	resp, err := http.Get("http://" + s.listen + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitFor polls cond until it holds or the deadline passes.
func (s *secShop) waitFor(what string, within time.Duration, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// secLoad sends requests through the router from a few workers until
// stopped, counting failures and the distinct answers.
type secLoad struct {
	total, failed atomic.Int64
	mu            sync.Mutex
	answers       map[string]int
	firstFailure  string
	cancel        context.CancelFunc
	wg            sync.WaitGroup
}

func secStartLoad(url string, workers int) *secLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &secLoad{answers: map[string]int{}, cancel: cancel}
	client := &http.Client{Timeout: 10 * time.Second}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := client.Do(req)
				if ctx.Err() != nil {
					return
				}
				l.total.Add(1)
				if err != nil {
					l.fail(err.Error())
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					l.fail(fmt.Sprintf("%d %v", resp.StatusCode, err))
					continue
				}
				l.mu.Lock()
				l.answers[string(b)]++
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *secLoad) fail(why string) {
	l.failed.Add(1)
	l.mu.Lock()
	if l.firstFailure == "" {
		l.firstFailure = why
	}
	l.mu.Unlock()
}

// stop ends the load and returns the distinct answers seen.
func (l *secLoad) stop() map[string]int {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.answers
}

// secBuffer is a bytes.Buffer safe for a process's stdout and stderr.
type secBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *secBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *secBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
