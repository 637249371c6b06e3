package shopkit

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// itemsRoutes is a catalog-like service: GET /items relative to its prefix.
func itemsRoutes(mux *http.ServeMux, app App) {
	mux.HandleFunc("GET /items", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"path": r.URL.Path, "release": app.Config.Version.Release})
	})
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestVersion_FromEnvAtRootAndPrefix(t *testing.T) {
	cfg, err := LoadConfig("catalog", "/catalog", envOf(map[string]string{
		"BERTH_SERVICE": "catalog", "BERTH_RELEASE": "12", "BERTH_COMMIT": "9f8e7d6",
	}))
	if err != nil {
		t.Fatal(err)
	}
	h := New(cfg, discard(), Hooks{}, itemsRoutes).Handler()
	for _, path := range []string{"/version", "/catalog/version"} {
		rec := get(t, h, path)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s = %d %q", path, rec.Code, rec.Header().Get("Content-Type"))
		}
		var got map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"service": "catalog", "release": "12", "commit": "9f8e7d6"}
		if len(got) != len(want) || got["service"] != want["service"] || got["release"] != want["release"] || got["commit"] != want["commit"] {
			t.Errorf("GET %s = %v, want %v", path, got, want)
		}
	}
}

func TestPrefix(t *testing.T) {
	tests := []struct {
		name       string
		prefix     string
		path       string
		wantStatus int
		wantPath   string // the path the service's handler saw
	}{
		{"prefixed path as the router passes it", "/catalog", "/catalog/items", 200, "/items"},
		{"stripped path or host-only route", "/catalog", "/items", 200, "/items"},
		{"version under the prefix", "/catalog", "/catalog/version", 200, ""},
		{"bare prefix redirects to the slash form", "/catalog", "/catalog", http.StatusTemporaryRedirect, ""},
		{"no segment-less match", "/catalog", "/catalogitems", 404, ""},
		{"unknown path under the prefix", "/catalog", "/catalog/nope", 404, ""},
		{"root service", "", "/items", 200, "/items"},
		{"prefix from SHOP_PREFIX", "/shop/catalog", "/shop/catalog/items", 200, "/items"},
		{"health only at the root", "/catalog", "/health", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadConfig("catalog", "/catalog", envOf(map[string]string{"SHOP_PREFIX": tt.prefix}))
			if err != nil {
				t.Fatal(err)
			}
			rec := get(t, New(cfg, discard(), Hooks{}, itemsRoutes).Handler(), tt.path)
			if rec.Code != tt.wantStatus {
				t.Fatalf("GET %s = %d, want %d (%s)", tt.path, rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantPath != "" && !strings.Contains(rec.Body.String(), `"path":"`+tt.wantPath+`"`) {
				t.Errorf("body %s, want handler path %s", rec.Body, tt.wantPath)
			}
		})
	}
}

func TestChaosHealth(t *testing.T) {
	for _, fail := range []bool{false, true} {
		h := New(Config{Chaos: Chaos{FailHealth: fail}}, discard(), Hooks{}, itemsRoutes).Handler()
		want, body := http.StatusOK, `{"status":"ok"}`+"\n"
		if fail {
			want, body = http.StatusServiceUnavailable, ""
		}
		rec := get(t, h, "/health")
		if rec.Code != want || (body != "" && rec.Body.String() != body) {
			t.Errorf("fail=%v: GET /health = %d %s, want %d %s", fail, rec.Code, rec.Body, want, body)
		}
		if rec := get(t, h, "/items"); rec.Code != http.StatusOK {
			t.Errorf("fail=%v: GET /items = %d, want 200", fail, rec.Code)
		}
	}
}

func TestChaosErrorRate(t *testing.T) {
	rolls := []float64{0.1, 0.5, 0.29999, 0.3, 0.99}
	var mu sync.Mutex
	next := func() float64 {
		mu.Lock()
		defer mu.Unlock()
		r := rolls[0]
		rolls = rolls[1:]
		return r
	}
	h := New(Config{Chaos: Chaos{ErrorRate: 0.3}}, discard(), Hooks{Rand: next}, itemsRoutes).Handler()

	want := []int{500, 200, 500, 200, 200}
	for i, w := range want {
		if got := get(t, h, "/items").Code; got != w {
			t.Errorf("request %d: status %d, want %d", i, got, w)
		}
		// Health checks neither fail nor consume a roll.
		if got := get(t, h, "/health").Code; got != http.StatusOK {
			t.Errorf("health after request %d: %d", i, got)
		}
	}
	if len(rolls) != 0 {
		t.Errorf("%d rolls left, want every non-health request to roll once", len(rolls))
	}
}

func TestChaosLatency(t *testing.T) {
	var slept []time.Duration
	sleepErr := error(nil)
	hooks := Hooks{Sleep: func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		return sleepErr
	}}
	h := New(Config{Chaos: Chaos{Latency: 200 * time.Millisecond}}, discard(), hooks, itemsRoutes).Handler()

	if rec := get(t, h, "/items"); rec.Code != 200 {
		t.Fatalf("GET /items = %d", rec.Code)
	}
	get(t, h, "/health")
	if len(slept) != 1 || slept[0] != 200*time.Millisecond {
		t.Fatalf("slept %v, want [200ms] (health not delayed)", slept)
	}

	// A client that goes away while delayed never reaches the handler.
	sleepErr = context.Canceled
	called := false
	h = New(Config{Chaos: Chaos{Latency: time.Second}}, discard(), hooks, func(mux *http.ServeMux, _ App) {
		mux.HandleFunc("/", func(http.ResponseWriter, *http.Request) { called = true })
	}).Handler()
	get(t, h, "/x")
	if called {
		t.Error("handler ran after the delayed client went away")
	}
}

func TestDebugEnv(t *testing.T) {
	lookup := envOf(map[string]string{"DB_PASSWORD": "s3cret", "EMPTY": ""})
	tests := []struct {
		enabled    bool
		path       string
		wantStatus int
		wantBody   string
	}{
		{true, "/debug/env/DB_PASSWORD", 200, "s3cret"},
		{true, "/catalog/debug/env/DB_PASSWORD", 200, "s3cret"},
		{true, "/debug/env/EMPTY", 200, ""},
		{true, "/debug/env/MISSING", 404, "MISSING is not set\n"},
		{false, "/debug/env/DB_PASSWORD", 404, "404 page not found\n"},
		{false, "/catalog/debug/env/DB_PASSWORD", 404, "404 page not found\n"},
	}
	for _, tt := range tests {
		cfg := Config{Prefix: "/catalog", DebugEnv: tt.enabled, LookupEnv: lookup}
		rec := get(t, New(cfg, discard(), Hooks{}, itemsRoutes).Handler(), tt.path)
		if rec.Code != tt.wantStatus || rec.Body.String() != tt.wantBody {
			t.Errorf("enabled=%v GET %s = %d %q, want %d %q", tt.enabled, tt.path, rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
		}
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func wait[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestServe_SIGTERMFinishesInFlightRequest(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	shuttingDown := make(chan struct{})
	srv := New(Config{Drain: 10 * time.Second}, discard(), Hooks{OnShutdown: func() { close(shuttingDown) }},
		func(mux *http.ServeMux, _ App) {
			mux.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
				close(entered)
				<-release
				_, _ = io.WriteString(w, "done")
			})
		})
	ln := listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()

	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{resp.StatusCode, string(b), err}
	}()

	wait(t, entered, "the request to reach the handler")
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wait(t, shuttingDown, "shutdown to start")
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with a request in flight", err)
	default:
	}
	close(release)

	r := wait(t, got, "the in-flight response")
	if r.err != nil || r.status != http.StatusOK || r.body != "done" {
		t.Fatalf("in-flight request = %d %q %v, want 200 done", r.status, r.body, r.err)
	}
	if err := wait(t, served, "Serve to return"); err != nil {
		t.Fatalf("Serve = %v, want nil after a graceful shutdown", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("listener still accepts connections after shutdown")
	}
}

func TestChaosExitAfter(t *testing.T) {
	fire := make(chan time.Time, 1)
	exited := make(chan int, 1)
	var asked time.Duration
	hooks := Hooks{
		After: func(d time.Duration) <-chan time.Time { asked = d; return fire },
		Exit:  func(code int) { exited <- code },
	}
	srv := New(Config{Chaos: Chaos{ExitAfter: 5 * time.Second}}, discard(), hooks, nil)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, listen(t)) }()

	fire <- time.Now()
	if code := wait(t, exited, "the chaos exit"); code != ExitCodeChaos {
		t.Errorf("exit code %d, want %d", code, ExitCodeChaos)
	}
	if asked != 5*time.Second {
		t.Errorf("timer asked for %v, want 5s", asked)
	}
	cancel()
	if err := wait(t, served, "Serve to return"); err != nil {
		t.Fatal(err)
	}
}

func TestChaosExitAfter_NotAfterShutdown(t *testing.T) {
	exited := make(chan int, 1)
	hooks := Hooks{
		After: func(time.Duration) <-chan time.Time { return make(chan time.Time) },
		Exit:  func(code int) { exited <- code },
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := New(Config{Chaos: Chaos{ExitAfter: time.Millisecond}}, discard(), hooks, nil).Serve(ctx, listen(t))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exited:
		t.Fatalf("exited %d after a clean shutdown", code)
	default:
	}
}

func TestServe_ListenerError(t *testing.T) {
	ln := listen(t)
	ln.Close()
	err := New(Config{}, discard(), Hooks{}, nil).Serve(context.Background(), ln)
	if err == nil || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve on a closed listener = %v, want net.ErrClosed", err)
	}
}

func TestChaosReadyAfter(t *testing.T) {
	fire := make(chan time.Time, 1)
	hooks := Hooks{After: func(time.Duration) <-chan time.Time { return fire }}
	srv := New(Config{Chaos: Chaos{ReadyAfter: 2 * time.Second}}, discard(), hooks, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln := listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	get := func() int {
		resp, err := http.Get("http://" + ln.Addr().String() + "/health")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(5 * time.Second)
	for get() != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("health never answered 503 while starting")
		}
	}
	fire <- time.Now()
	for get() != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("health never became 200 after CHAOS_READY_AFTER")
		}
	}
	cancel()
	if err := wait(t, served, "Serve to return"); err != nil {
		t.Fatal(err)
	}
}
