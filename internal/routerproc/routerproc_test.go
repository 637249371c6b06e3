package routerproc

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/router"
)

// proc is one router "process" run in-process by Run.
type proc struct {
	addr   string
	client *Client
	stop   context.CancelFunc
	done   chan error
}

// startProc runs Run on ln (a new loopback listener when nil) with its
// control socket at sock.
func startProc(t *testing.T, ln net.Listener, sock string, await bool) *proc {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	ctl, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{addr: ln.Addr().String(), client: NewClient(sock, nil), stop: cancel, done: make(chan error, 1)}
	go func() { p.done <- Run(ctx, Config{Listener: ln, Control: ctl, Build: "test", AwaitTable: await}) }()
	t.Cleanup(func() {
		cancel()
		<-p.done
		p.client.Close()
	})
	return p
}

// backend answers its name on every path.
func backend(t *testing.T, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func table(version uint64, routes ...router.Route) *router.Table {
	return &router.Table{Version: version, Routes: routes}
}

func route(name, prefix, addr string) router.Route {
	return router.Route{Name: name, PathPrefix: prefix, Groups: []router.TargetGroup{{
		Name: name + "@1", Release: 1, Weight: 1, Targets: []router.Target{{ID: name + "-1", Addr: addr}},
	}}}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func sockPath(t *testing.T) string {
	// Unix socket paths are short: t.TempDir() can be too long.
	dir, err := os.MkdirTemp("", "rp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, SocketName)
}

func TestPublishedTableIsServedAndReadBack(t *testing.T) {
	p := startProc(t, nil, sockPath(t), false)
	if code, _ := get(t, "http://"+p.addr+"/a"); code != http.StatusServiceUnavailable {
		t.Fatalf("before any table: %d, want 503", code)
	}
	a := backend(t, "a")
	p.client.Publish(table(1, route("a", "/a", a)))
	if code, body := get(t, "http://"+p.addr+"/a"); code != 200 || body != "a" {
		t.Fatalf("GET /a = %d %q", code, body)
	}
	got, err := p.client.Table(context.Background())
	if err != nil || got.Version != 1 || len(got.Routes) != 1 || got.Routes[0].Groups[0].Targets[0].Addr != a {
		t.Fatalf("Table = %+v, %v", got, err)
	}
	info, err := p.client.Info(context.Background())
	if err != nil || info.Listen != p.addr || info.Version != 1 || info.Build != "test" || info.PID != os.Getpid() {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	sig := p.client.ReleaseSignals("a", 1, time.Minute)
	if sig.Requests != 1 {
		t.Fatalf("ReleaseSignals = %+v, want the one request", sig)
	}
	if s := p.client.Signals("a@1", time.Minute); s.Requests != 1 {
		t.Fatalf("Signals = %+v", s)
	}
	fams, err := p.client.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fams {
		names = append(names, f.GetName())
	}
	if !strings.Contains(strings.Join(names, " "), "berth_router_") {
		t.Fatalf("router metrics missing: %v", names)
	}
	health, err := p.client.TargetHealth()
	if err != nil || len(health) != 1 || !health[a] {
		t.Fatalf("TargetHealth = %v, %v; want %s healthy", health, err, a)
	}
	// A drained target: out of the table, nothing in flight.
	p.client.Publish(table(2))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.client.WaitDrained(ctx, a); err != nil {
		t.Fatal(err)
	}
}

func TestOlderTableNeverReplacesNewer(t *testing.T) {
	p := startProc(t, nil, sockPath(t), false)
	a, b := backend(t, "a"), backend(t, "b")
	p.client.Publish(table(5, route("x", "/x", b)))
	p.client.Publish(table(4, route("x", "/x", a)))
	if _, body := get(t, "http://"+p.addr+"/x"); body != "b" {
		t.Fatalf("served %q: an older table replaced a newer one", body)
	}
}

// A control plane that restarts publishes its services one at a time; the
// adopted router keeps the routes it has not republished yet.
func TestAdoptKeepsRoutesUntilRepublished(t *testing.T) {
	sock := sockPath(t)
	p := startProc(t, nil, sock, false)
	a, b := backend(t, "a"), backend(t, "b")
	p.client.Publish(table(7, route("a", "/a", a), route("b", "/b", b)))

	c := NewClient(sock, nil) // the restarted control plane
	defer c.Close()
	if err := c.Adopt(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	c.Publish(table(1, route("a", "/a", a))) // b not recovered yet
	if code, body := get(t, "http://"+p.addr+"/b"); code != 200 || body != "b" {
		t.Fatalf("GET /b during recovery = %d %q: route dropped", code, body)
	}
	if info, _ := c.Info(context.Background()); info.Version != 8 {
		t.Fatalf("table version %d, want 8 (continuing from the adopted 7)", info.Version)
	}
	c.Publish(table(2, route("a", "/a", a), route("b", "/b", b)))
	c.Publish(table(3, route("a", "/a", a))) // b removed for real
	if code, _ := get(t, "http://"+p.addr+"/b"); code == 200 {
		t.Fatalf("GET /b after it was removed = 200: adoption kept it forever")
	}
}

func TestPublishRetriesUntilTheRouterTakesIt(t *testing.T) {
	sock := sockPath(t)
	c := NewClient(sock, nil)
	defer c.Close()
	a := backend(t, "a")
	c.Publish(table(1, route("a", "/a", a))) // no router yet
	p := startProc(t, nil, sock, false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := p.client.Info(context.Background())
		if err == nil && info.Version == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the table published while the router was down never arrived: %+v %v", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The listening socket is handed to a new router process: requests sent
// continuously through the swap all succeed.
func TestHandOverListenerFailsNoRequest(t *testing.T) {
	oldSock := sockPath(t)
	old := startProc(t, nil, oldSock, false)
	a := backend(t, "a")
	old.client.Publish(table(3, route("a", "/a", a)))

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stopLoad := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stopLoad:
					return
				default:
				}
				resp, err := client.Get("http://" + old.addr + "/a")
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = &statusError{code: resp.StatusCode}
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := old.client.Listener(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if ln.Addr().String() != old.addr {
		t.Fatalf("handed-over listener on %s, want %s", ln.Addr(), old.addr)
	}
	tbl, err := old.client.Table(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := startProc(t, ln, sockPath(t), true)
	if err := next.client.Load(ctx, tbl); err != nil {
		t.Fatal(err)
	}
	if err := old.client.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-old.done:
		old.done <- err // for the cleanup
	case <-ctx.Done():
		t.Fatal("the old router did not stop")
	}
	// Load goes on against the new router alone.
	before := ok.Load()
	deadline := time.Now().Add(10 * time.Second)
	for ok.Load() < before+50 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stopLoad)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed across the handover; first: %v", n, n+ok.Load(), firstErr.Load())
	}
	if ok.Load() < before+50 {
		t.Fatalf("only %d requests after the old router stopped", ok.Load()-before)
	}
	if info, err := next.client.Info(ctx); err != nil || info.Version != 3 {
		t.Fatalf("new router Info = %+v, %v", info, err)
	}
}
