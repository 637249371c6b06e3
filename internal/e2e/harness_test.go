package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

// Binaries built once per test run.
var (
	berthBin   string
	catalogBin string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	berthBin = filepath.Join(dir, "berth")
	catalogBin = filepath.Join(dir, "catalog")
	for _, b := range [][2]string{{berthBin, "../../cmd/berth"}, {catalogBin, "../../examples/shop/services/catalog"}} {
		cmd := exec.Command("go", "build", "-o", b[0], b[1])
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b[1], err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// project is one berth project in a temp dir with its own state, router
// port and a marker env value that finds its task processes in /proc.
type project struct {
	t      *testing.T
	dir    string
	state  string
	listen string
	marker string
	serve  *exec.Cmd
	served *lockedWriter
	exited chan struct{} // closed when serve has exited
}

func newProject(t *testing.T) *project {
	t.Helper()
	dir := t.TempDir()
	p := &project{
		t:      t,
		dir:    dir,
		state:  filepath.Join(dir, ".berth"),
		listen: freeAddr(t),
		marker: fmt.Sprintf("e2e-%d-%d", os.Getpid(), time.Now().UnixNano()),
	}
	t.Cleanup(p.cleanup)
	return p
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writeSpec writes berth.yaml; %[1]s is the catalog binary, %[2]s the
// listen address, %[3]s the marker.
func (p *project) writeSpec(format string) {
	p.t.Helper()
	spec := fmt.Sprintf(format, catalogBin, p.listen, p.marker)
	if err := os.WriteFile(filepath.Join(p.dir, "berth.yaml"), []byte(spec), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// berth runs the CLI and returns its combined output and exit code.
func (p *project) berth(args ...string) (string, int) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, berthBin, append([]string{"-f", filepath.Join(p.dir, "berth.yaml"), "--state", p.state}, args...)...)
	cmd.Dir = p.dir
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			p.t.Fatalf("run berth %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// mustBerth runs the CLI and fails the test unless it exits 0.
func (p *project) mustBerth(args ...string) string {
	p.t.Helper()
	out, code := p.berth(args...)
	if code != 0 {
		p.t.Fatalf("berth %s exited %d:\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BERTH_") {
			env = append(env, kv)
		}
	}
	return env
}

// startServe runs `berth serve` and waits until its API answers.
func (p *project) startServe() {
	p.t.Helper()
	cmd := execBerth(p, "serve")
	buf := &lockedWriter{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	exited := make(chan struct{})
	p.serve, p.served, p.exited = cmd, buf, exited
	go func() { _ = cmd.Wait(); close(exited) }()
	p.waitFor("control plane answers", 30*time.Second, func() bool {
		select {
		case <-exited:
			p.t.Fatalf("berth serve exited early:\n%s", buf.String())
		default:
		}
		_, err := p.status()
		return err == nil
	})
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

func processGone(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// A zombie (state Z) is gone for our purposes.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func (p *project) cleanup() {
	if p.serve != nil && p.serve.Process != nil {
		_ = p.serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			_ = p.serve.Process.Kill()
		}
	}
	// Never leave a task behind, whatever the test did.
	for _, pid := range p.taskPIDs() {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// status asks the running control plane for its status.
func (p *project) status() (api.Status, error) {
	var st api.Status
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", filepath.Join(p.state, "berth.sock"))
		},
	}}
	resp, err := c.Get("http://berth/v1/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

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

// taskPIDs lists the live processes whose environment carries the marker.
func (p *project) taskPIDs() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !bytes.Contains(env, []byte("E2E_MARKER="+p.marker+"\x00")) || processGone(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// taskOf returns the BERTH_TASK of a process.
func taskOf(pid int) string {
	env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	for _, kv := range bytes.Split(env, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("BERTH_TASK=")); ok {
			return string(v)
		}
	}
	return ""
}

// load sends requests through the router until stopped, counting every
// transport error or non-2xx answer.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	log        []result // every request, in completion order
	stop       chan struct{}
	wg         sync.WaitGroup
}

// result is one request the load generator made.
type result struct {
	at     time.Time
	status int // 0 for a transport error
	body   string
}

func (l *load) record(r result) {
	l.mu.Lock()
	l.log = append(l.log, r)
	l.mu.Unlock()
}

// results returns a copy of every request so far.
func (l *load) results() []result {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]result(nil), l.log...)
}

func startLoad(t *testing.T, url string, workers int) *load {
	l := &load{stop: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for i := 0; i < workers; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := client.Get(url)
				if err != nil {
					l.record(result{at: time.Now(), body: err.Error()})
					l.fail(err.Error())
					continue
				}
				body := readBody(resp)
				l.record(result{at: time.Now(), status: resp.StatusCode, body: body})
				if resp.StatusCode/100 != 2 {
					l.fail(fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(body)))
					continue
				}
				l.ok.Add(1)
			}
		}()
	}
	t.Cleanup(l.halt)
	return l
}

func (l *load) fail(msg string) {
	l.failed.Add(1)
	l.mu.Lock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, msg)
	}
	l.mu.Unlock()
}

func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// check stops the load and fails the test if any request failed.
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

// execBerth prepares a long-running berth command for the project.
func execBerth(p *project, args ...string) *exec.Cmd {
	cmd := exec.Command(berthBin, append([]string{"-f", filepath.Join(p.dir, "berth.yaml"), "--state", p.state}, args...)...)
	cmd.Dir = p.dir
	cmd.Env = cleanEnv()
	return cmd
}

func readBody(resp *http.Response) string {
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.String()
}
