package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
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

	"github.com/berth-dev/berth/internal/api"
)

// Binaries built at most once per test run, on first use (so `go test
// -list` or a run selecting no end-to-end test builds nothing). Their
// paths are fixed in TestMain; call needBinaries before using them.
var (
	berthBin   string
	catalogBin string

	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	berthBin = filepath.Join(dir, "berth")
	catalogBin = filepath.Join(dir, "catalog")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needBinaries builds berth and the shop's catalog service the first time a
// test needs them, and fails t if that build failed.
func needBinaries(t testing.TB) {
	t.Helper()
	buildOnce.Do(func() {
		for _, b := range [][2]string{{berthBin, "../../cmd/berth"}, {catalogBin, "../../examples/shop/services/catalog"}} {
			cmd := exec.Command("go", "build", "-o", b[0], b[1])
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", b[1], err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// project is one berth project under test: a spec in a temp dir (or the
// shop in a temp git repository, see newShop) with its own state, router
// address and `berth serve`, and a transcript of every CLI output and API
// response (the secrets test searches it for leaks).
type project struct {
	t         *testing.T
	top       string       // git repository top level (shops only)
	dir       string       // directory of berth.yaml, where berth runs
	state     string       // state directory
	listen    string       // router address
	name      string       // project name (shops only; the written specs say e2e)
	marker    string       // E2E_MARKER value for the written specs' tasks
	tasks     string       // environment entry ("NAME=value") that marks the project's task processes
	serveArgs []string     // extra arguments of `berth serve`, such as --engine docker
	bin       string       // the berth binary to run; berthBin when empty
	client    *http.Client // the control plane's API on its unix socket

	serve      *exec.Cmd
	served     *lockedWriter // serve's output
	exited     chan struct{} // closed when serve has exited
	transcript lockedWriter
}

// newProject returns an empty project in a temp dir; its tasks are the
// processes whose environment holds its marker.
func newProject(t *testing.T) *project {
	t.Helper()
	dir := t.TempDir()
	p := &project{
		t:      t,
		dir:    dir,
		state:  filepath.Join(dir, ".berth"),
		listen: freeAddr(t),
		marker: "e2e-" + random(),
	}
	p.tasks = "E2E_MARKER=" + p.marker
	p.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", filepath.Join(p.state, "berth.sock"))
		},
	}}
	t.Cleanup(p.cleanup)
	return p
}

// deployed returns a project whose `berth serve` runs release 1 of spec, a
// writeSpec format.
func deployed(t *testing.T, spec string) *project {
	t.Helper()
	p := newProject(t)
	p.writeSpec(spec)
	p.startServe()
	p.mustBerth("deploy")
	return p
}

// newShop copies examples/shop into a fresh git repository, in
// examples/shop beside a go.mod and a .gitignore as in berth's own
// repository, with a unique project name and the project's router address;
// edit turns that spec into the test's before the first commit. The state
// directory is outside the work tree.
func newShop(t *testing.T, edit func(p *project, spec string) string) *project {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("skipping: git not installed")
	}
	p := newProject(t)
	p.top, p.dir, p.state = p.dir, filepath.Join(p.dir, "examples", "shop"), t.TempDir()
	p.name = "e2e" + random()[:8]
	p.tasks = "BERTH_PROJECT=" + p.name
	if err := os.CopyFS(p.dir, os.DirFS("../../examples/shop")); err != nil {
		t.Fatalf("copy shop: %v", err)
	}
	_ = os.RemoveAll(filepath.Join(p.dir, ".berth"))
	goLine := "go 1.26"
	if data, err := os.ReadFile("../../go.mod"); err == nil {
		if m := regexp.MustCompile(`(?m)^go \S+$`).Find(data); m != nil {
			goLine = string(m)
		}
	}
	writeFile(t, filepath.Join(p.top, "go.mod"), "module github.com/berth-dev/berth\n\n"+goLine+"\n")
	writeFile(t, filepath.Join(p.top, ".gitignore"), ".berth/\n")
	raw, err := os.ReadFile(filepath.Join(p.dir, "berth.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	spec := string(raw)
	for _, r := range [][2]string{{"project: shop\n", "project: " + p.name + "\n"}, {"listen: 127.0.0.1:8080\n", "listen: " + p.listen + "\n"}} {
		if !strings.Contains(spec, r[0]) {
			t.Fatalf("examples/shop/berth.yaml changed shape: no %q", r[0])
		}
		spec = strings.Replace(spec, r[0], r[1], 1)
	}
	writeFile(t, filepath.Join(p.dir, "berth.yaml"), edit(p, spec))
	p.git("init", "-q", "-b", "main")
	p.commitAll("shop")
	return p
}

// random returns a random lowercase string, for names and values no other
// run shares.
func random() string { return strings.ToLower(rand.Text()) }

// freeAddr returns a loopback address no one listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writeFile writes a file, creating its directory.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeSpec writes berth.yaml; %[1]s is the catalog binary, %[2]s the
// listen address, %[3]s the marker.
func (p *project) writeSpec(format string) {
	p.t.Helper()
	needBinaries(p.t)
	writeFile(p.t, filepath.Join(p.dir, "berth.yaml"), fmt.Sprintf(format, catalogBin, p.listen, p.marker))
}

// appendTo appends text to a file of the project, rel to its directory.
func (p *project) appendTo(rel, text string) {
	p.t.Helper()
	f, err := os.OpenFile(filepath.Join(p.dir, rel), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		p.t.Fatal(err)
	}
}

// git runs git in the shop's repository as a fixed test author.
func (p *project) git(args ...string) {
	p.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = p.top
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@berth.invalid",
		"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@berth.invalid", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// commitAll commits every change of the shop's repository.
func (p *project) commitAll(msg string) {
	p.t.Helper()
	p.git("add", "-A")
	p.git("commit", "-q", "-m", msg)
}

// cleanEnv is the environment without the caller's BERTH_* settings (so,
// for one, the master key file of the state dir is used).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BERTH_") {
			env = append(env, kv)
		}
	}
	return env
}

// command prepares a berth command on the project's spec and state, run in
// its directory with cleanEnv.
func (p *project) command(ctx context.Context, args ...string) *exec.Cmd {
	needBinaries(p.t)
	bin := p.bin
	if bin == "" {
		bin = berthBin
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"-f", filepath.Join(p.dir, "berth.yaml"), "--state", p.state}, args...)...)
	cmd.Dir = p.dir
	cmd.Env = cleanEnv()
	return cmd
}

// berth runs the CLI and returns its combined output and exit code.
func (p *project) berth(args ...string) (string, int) {
	p.t.Helper()
	return p.berthIn("", args...)
}

// berthIn runs the CLI with stdin, records its combined output in the
// transcript and returns it with the exit code.
func (p *project) berthIn(stdin string, args ...string) (string, int) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := p.command(ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	p.record("berth "+strings.Join(args, " "), string(out))
	if ee := (*exec.ExitError)(nil); err != nil && !errors.As(err, &ee) {
		p.t.Fatalf("run berth %v: %v", args, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// mustBerth runs the CLI and fails the test unless it exits 0.
func (p *project) mustBerth(args ...string) string {
	p.t.Helper()
	return p.mustBerthIn("", args...)
}

// mustBerthIn runs the CLI with stdin and fails the test unless it exits 0.
func (p *project) mustBerthIn(stdin string, args ...string) string {
	p.t.Helper()
	out, code := p.berthIn(stdin, args...)
	if code != 0 {
		p.t.Fatalf("berth %s exited %d:\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// record adds text to the transcript.
func (p *project) record(label, text string) {
	fmt.Fprintf(&p.transcript, "== %s\n%s\n", label, text)
}

// startServe runs `berth serve` with the project's serveArgs and waits
// until its API answers.
func (p *project) startServe() {
	p.t.Helper()
	cmd := p.command(context.Background(), append([]string{"serve"}, p.serveArgs...)...)
	buf := &lockedWriter{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	exited := make(chan struct{})
	p.serve, p.served, p.exited = cmd, buf, exited
	go func() { _ = cmd.Wait(); close(exited) }()
	p.waitFor("the control plane answers", 30*time.Second, func() bool {
		select {
		case <-exited:
			p.t.Fatalf("berth serve exited early:\n%s", buf.String())
		default:
		}
		_, err := p.status()
		return err == nil
	})
}

// stopServe sends SIGTERM to `berth serve`, waits for it to exit (failing
// the test and killing it after 90s) and records its output.
func (p *project) stopServe() {
	p.t.Helper()
	if p.serve == nil {
		return
	}
	_ = p.serve.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(90 * time.Second):
		p.t.Errorf("berth serve did not stop within 90s:\n%s", p.served.String())
		_ = p.serve.Process.Kill()
		<-p.exited
	}
	p.record("berth serve output", p.served.String())
	p.serve = nil
}

// kill9 kills `berth serve` the hard way, as a crash would.
func (p *project) kill9() {
	p.t.Helper()
	if err := p.serve.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Fatal("berth serve survived SIGKILL")
	}
	p.serve = nil
}

// cleanup stops serve and, whatever the test did, kills the project's
// router process and tasks (a stopped serve leaves both running).
func (p *project) cleanup() {
	p.stopServe()
	for _, pid := range append(p.routerPIDs(), p.taskPIDs()...) {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// routerPIDs lists the project's live router processes.
func (p *project) routerPIDs() []int { return pidsWithEnv("BERTH_ROUTER_STATE=" + p.state) }

// api calls the control plane's HTTP API and records the answer's body.
func (p *project) api(method, path, body string) (string, error) {
	req, err := http.NewRequest(method, "http://berth"+path, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	p.record(method+" "+path, string(b))
	if err != nil {
		return string(b), err
	}
	if resp.StatusCode/100 != 2 {
		return string(b), fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return string(b), nil
}

// apiJSON GETs path from the control plane's API and decodes it into v.
func (p *project) apiJSON(path string, v any) error {
	body, err := p.api(http.MethodGet, path, "")
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(body), v)
}

// status asks the running control plane for its status.
func (p *project) status() (api.Status, error) {
	var st api.Status
	return st, p.apiJSON("/v1/status", &st)
}

// service returns the status of one service, failing the test without it.
func (p *project) service(name string) api.Service {
	p.t.Helper()
	st, err := p.status()
	if err != nil {
		p.t.Fatal(err)
	}
	for _, s := range st.Services {
		if s.Name == name {
			return s
		}
	}
	p.t.Fatalf("no service %s in status", name)
	return api.Service{}
}

// get fetches a path through the project's router (not recorded).
func (p *project) get(path string) (int, string, error) {
	resp, err := http.Get("http://" + p.listen + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitFor polls cond until it holds or the deadline passes.
func (p *project) waitFor(what string, d time.Duration, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// processes lists the process ids of /proc.
func processes() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// environ returns the environment entries of a process (none if unreadable).
func environ(pid int) [][]byte {
	env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	return bytes.Split(env, []byte{0})
}

// processGone reports whether a process has exited; a zombie has.
func processGone(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// pidsWithEnv lists the live processes whose environment holds the exact
// entry kv.
func pidsWithEnv(kv string) []int {
	var pids []int
	for _, pid := range processes() {
		for _, entry := range environ(pid) {
			if string(entry) == kv && !processGone(pid) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// taskPIDs lists the project's live task processes.
func (p *project) taskPIDs() []int { return pidsWithEnv(p.tasks) }

// taskOf returns the BERTH_TASK of a process.
func taskOf(pid int) string {
	for _, kv := range environ(pid) {
		if v, ok := bytes.CutPrefix(kv, []byte("BERTH_TASK=")); ok {
			return string(v)
		}
	}
	return ""
}

// load sends requests through the router until stopped, logging every
// answer and counting those other than 200 OK (or a transport error) as
// failed.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string // the first ten failures
	log        []result // every request, in completion order
	stop       chan struct{}
	wg         sync.WaitGroup
}

// result is one request the load generator made.
type result struct {
	sent   time.Time // when the request was sent
	at     time.Time // when it completed
	status int       // 0 for a transport error
	body   string    // the error for a transport error
}

// startLoad starts workers sending GET url until halted (at the latest
// when the test ends).
func startLoad(t *testing.T, url string, workers int) *load {
	l := &load{stop: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				l.record(fetch(client, url))
			}
		})
	}
	t.Cleanup(l.halt)
	return l
}

// fetch makes one request of the load.
func fetch(client *http.Client, url string) result {
	sent := time.Now()
	resp, err := client.Get(url)
	if err != nil {
		return result{sent: sent, at: time.Now(), body: err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{sent: sent, at: time.Now(), body: err.Error()}
	}
	return result{sent: sent, at: time.Now(), status: resp.StatusCode, body: string(b)}
}

// record logs and counts one result.
func (l *load) record(r result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = append(l.log, r)
	if r.status == http.StatusOK {
		l.ok.Add(1)
		return
	}
	l.failed.Add(1)
	if len(l.errs) < 10 {
		l.errs = append(l.errs, fmt.Sprintf("%d %s", r.status, strings.TrimSpace(r.body)))
	}
}

// results returns a copy of every request so far.
func (l *load) results() []result {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]result(nil), l.log...)
}

// answers counts the distinct bodies of the successful answers so far.
func (l *load) answers() map[string]int {
	seen := map[string]int{}
	for _, r := range l.results() {
		if r.status == http.StatusOK {
			seen[r.body]++
		}
	}
	return seen
}

// halt stops the load and waits for the requests in flight.
func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// check stops the load and fails the test if any request failed or none
// succeeded.
func (l *load) check(t *testing.T) {
	t.Helper()
	l.halt()
	if n := l.failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed; first errors: %v", n, n+l.ok.Load(), l.errs)
	}
	if l.ok.Load() == 0 {
		t.Fatal("the load generator sent no successful request")
	}
	t.Logf("%d requests, none failed", l.ok.Load())
}

// lockedWriter collects a process's output for concurrent reading.
type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
