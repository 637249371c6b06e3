package router

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestWeightedSplit(t *testing.T) {
	stable := backend(t, "stable", nil)
	canary := backend(t, "canary", nil)
	idle := backend(t, "idle", nil)
	rt, base := startRouter(t, Config{})
	rt.Publish(&Table{Routes: []Route{{Name: "web", Groups: []TargetGroup{
		{Name: "web@1", Release: 1, Weight: 90, Targets: []Target{{ID: "s", Addr: stable}}},
		{Name: "web@2", Release: 2, Weight: 10, Targets: []Target{{ID: "c", Addr: canary}}},
		{Name: "web@0", Release: 0, Weight: 0, Targets: []Target{{ID: "i", Addr: idle}}},
	}}}})
	counts := map[string]int{}
	for range 500 {
		code, body, _ := get(t, base+"/")
		if code != 200 {
			t.Fatalf("status %d: %s", code, body)
		}
		counts[body]++
	}
	if counts["stable"] != 450 || counts["canary"] != 50 || counts["idle"] != 0 {
		t.Fatalf("split = %v, want stable 450, canary 50, idle 0", counts)
	}
	if s := rt.Signals("web@2", time.Minute); s.Requests != 50 || s.Errors5xx != 0 {
		t.Errorf("canary signals = %+v, want 50 requests, 0 errors", s)
	}
	if s := rt.ReleaseSignals("web", 1, time.Minute); s.Requests != 450 {
		t.Errorf("release 1 signals = %+v, want 450 requests", s)
	}
}

func TestRetryOnConnectionRefused(t *testing.T) {
	live := backend(t, "live", nil)
	dead := deadAddr(t)
	r, base := startRouter(t, Config{EjectFor: time.Hour})
	r.Publish(&Table{Routes: []Route{{Name: "web", Groups: []TargetGroup{
		{Name: "web@1", Weight: 50, Targets: []Target{{ID: "d", Addr: dead}}},
		{Name: "web@2", Weight: 50, Targets: []Target{{ID: "l", Addr: live}}},
	}}}})
	for i := range 20 {
		req, _ := http.NewRequest(http.MethodPost, base+"/", strings.NewReader("payload"))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "live" {
			t.Fatalf("request %d: %d %q, want 200 live", i, resp.StatusCode, b)
		}
	}
	x := r.table.Load()
	if x.addrs[dead].healthy(time.Now().UnixNano()) {
		t.Error("dead target not ejected")
	}
}

func TestDraining(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := backend(t, "slow", func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "old")
	})
	fresh := backend(t, "new", nil)
	r, base := startRouter(t, Config{})
	r.Publish(&Table{Version: 1, Routes: []Route{one("web", "", slow)}})

	type result struct {
		code int
		body string
	}
	done := make(chan result, 1)
	go func() {
		resp, err := client.Get(base + "/slow")
		if err != nil {
			done <- result{body: err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, string(b)}
	}()
	<-started
	if n := r.InFlight(slow); n != 1 {
		t.Fatalf("InFlight(slow) = %d, want 1", n)
	}
	r.Publish(&Table{Version: 2, Routes: []Route{one("web", "", fresh)}})
	for range 5 {
		if _, body, _ := get(t, base+"/"); body != "new" {
			t.Fatalf("after publish got %q, want new", body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	err := r.WaitDrained(ctx, slow)
	cancel()
	if err == nil {
		t.Fatal("WaitDrained returned while a request was in flight")
	}
	close(release)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.WaitDrained(ctx, slow); err != nil {
		t.Fatal(err)
	}
	if res := <-done; res.code != 200 || res.body != "old" {
		t.Fatalf("in-flight request got %d %q, want 200 old", res.code, res.body)
	}
	if n := r.InFlight(slow); n != 0 {
		t.Errorf("InFlight after drain = %d", n)
	}
}

func TestHealthEjectionAndRecovery(t *testing.T) {
	var aHealthy atomic.Bool
	aHealthy.Store(true)
	a := backend(t, "a", func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/health" && !aHealthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "a")
	})
	b := backend(t, "b", nil)
	r, base := startRouter(t, Config{})
	rt := one("web", "", a, b)
	rt.Health = HealthCheck{Path: "/health", Interval: 5 * time.Millisecond, Timeout: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2}
	r.Publish(&Table{Routes: []Route{rt}})

	seen := func() map[string]int {
		m := map[string]int{}
		for range 10 {
			_, body, _ := get(t, base+"/")
			m[body]++
		}
		return m
	}
	if m := seen(); m["a"] == 0 || m["b"] == 0 {
		t.Fatalf("both targets should start healthy, got %v", m)
	}
	aHealthy.Store(false)
	eventually(t, 5*time.Second, "a to be marked unhealthy", func() bool { return !r.table.Load().addrs[a].up.Load() })
	if m := seen(); m["a"] != 0 || m["b"] != 10 {
		t.Fatalf("unhealthy target got traffic: %v", m)
	}
	aHealthy.Store(true)
	eventually(t, 5*time.Second, "a to recover", func() bool { return r.table.Load().addrs[a].up.Load() })
	if m := seen(); m["a"] == 0 {
		t.Fatalf("recovered target gets no traffic: %v", m)
	}
	// Removing the target stops its checker.
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.WaitDrained(ctx, a); err != nil {
		t.Fatal(err)
	}
}

func TestHealthObserve(t *testing.T) {
	hc := HealthCheck{HealthyThreshold: 2, UnhealthyThreshold: 3}
	tests := []struct {
		name   string
		start  healthState
		passes []bool
		wantUp bool
	}{
		{"up stays up on passes", healthState{Up: true}, []bool{true, true}, true},
		{"two failures are not enough", healthState{Up: true}, []bool{false, false}, true},
		{"three failures take it down", healthState{Up: true}, []bool{false, false, false}, false},
		{"a pass resets the failure run", healthState{Up: true}, []bool{false, false, true, false, false}, true},
		{"one pass does not bring it up", healthState{}, []bool{true}, false},
		{"two passes bring it up", healthState{}, []bool{true, true}, true},
		{"a failure resets the pass run", healthState{}, []bool{true, false, true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.start
			for _, p := range tt.passes {
				s = s.observe(p, hc)
			}
			if s.Up != tt.wantUp {
				t.Errorf("Up = %v, want %v (state %+v)", s.Up, tt.wantUp, s)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	echo := backend(t, "echo", func(w http.ResponseWriter, req *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{
			"xff":         req.Header.Get("X-Forwarded-For"),
			"proto":       req.Header.Get("X-Forwarded-Proto"),
			"fhost":       req.Header.Get("X-Forwarded-Host"),
			"host":        req.Host,
			"rid":         req.Header.Get("X-Request-Id"),
			"traceparent": req.Header.Get("Traceparent"),
			"secret":      req.Header.Get("X-Hop"),
			"path":        req.URL.Path,
		})
	})
	r, base := startRouter(t, Config{})
	strip := one("strip", "/strip", echo)
	strip.StripPrefix = true
	r.Publish(&Table{Routes: []Route{one("web", "", echo), strip}})
	decode := func(body string) map[string]string {
		m := map[string]string{}
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("decode %q: %v", body, err)
		}
		return m
	}

	_, body, hdr := get(t, base+"/x", "Host", "shop.test:8080", "Connection", "X-Hop", "X-Hop", "1")
	m := decode(body)
	if m["xff"] != "127.0.0.1" || m["proto"] != "http" || m["fhost"] != "shop.test:8080" || m["host"] != "shop.test:8080" {
		t.Errorf("forwarded headers = %v", m)
	}
	if len(m["rid"]) != 32 || hdr.Get("X-Request-Id") != m["rid"] {
		t.Errorf("generated request id %q, echoed %q", m["rid"], hdr.Get("X-Request-Id"))
	}
	if !validTraceparent(m["traceparent"]) {
		t.Errorf("generated traceparent %q is not valid", m["traceparent"])
	}
	if m["secret"] != "" {
		t.Errorf("header named in Connection was forwarded: %q", m["secret"])
	}
	if m["path"] != "/x" {
		t.Errorf("path = %q, want /x unchanged", m["path"])
	}

	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	_, body, _ = get(t, base+"/x", "X-Forwarded-For", "203.0.113.9", "X-Request-Id", "abc-123", "Traceparent", tp)
	m = decode(body)
	if m["xff"] != "203.0.113.9, 127.0.0.1" || m["rid"] != "abc-123" || m["traceparent"] != tp {
		t.Errorf("kept headers = %v", m)
	}

	_, body, _ = get(t, base+"/strip/items/1")
	if m = decode(body); m["path"] != "/items/1" {
		t.Errorf("stripped path = %q, want /items/1", m["path"])
	}
}

func TestErrorStatuses(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	slow := backend(t, "slow", func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-hang:
		case <-req.Context().Done():
		}
	})
	garbage := rawBackend(t, "this is not http\r\n\r\n")
	dead := deadAddr(t)
	r, base := startRouter(t, Config{ResponseHeaderTimeout: 50 * time.Millisecond, EjectFor: time.Hour})
	r.Publish(&Table{Routes: []Route{
		one("slow", "/slow", slow),
		one("garbage", "/garbage", garbage),
		one("dead", "/dead", dead),
		one("empty", "/empty"),
	}})
	tests := []struct {
		path     string
		wantCode int
		wantBody string
	}{
		{"/nowhere", 404, "no route matches"},
		{"/empty", 503, `route empty: route has no targets`},
		{"/dead", 502, "route dead: target refused the connection"},
		{"/dead", 503, "route dead: route has no healthy targets"}, // now ejected
		{"/slow", 504, "route slow: timed out waiting for the target"},
		{"/garbage", 502, "route garbage: target sent an invalid response"},
	}
	for _, tt := range tests {
		code, body, hdr := get(t, base+tt.path)
		if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tt.path, code, body, tt.wantCode, tt.wantBody)
		}
		if !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
			t.Errorf("GET %s content type %q", tt.path, hdr.Get("Content-Type"))
		}
	}
	if s := r.Signals("dead@1", time.Minute); s.Errors5xx != 2 || s.FirstErrorAt.IsZero() {
		t.Errorf("dead signals = %+v, want 2 errors and a first error time", s)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(r.Collector()); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var got float64
	for _, f := range fams {
		if f.GetName() != "berth_router_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == "slow" && labels["code"] == "5xx" {
				got = m.GetCounter().GetValue()
			}
		}
	}
	if got != 1 {
		t.Errorf("slow 5xx counter = %v, want 1", got)
	}
}

// rawBackend answers every connection with raw bytes.
func rawBackend(t *testing.T, raw string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = http.ReadRequest(bufio.NewReader(c))
				_, _ = io.WriteString(c, raw)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestH2C(t *testing.T) {
	b := backend(t, "", func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.WriteString(w, "hello "+req.Header.Get("X-Forwarded-Proto"))
	})
	r, base := startRouter(t, Config{})
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	h2 := &http.Client{Transport: &http.Transport{Protocols: &p}, Timeout: 5 * time.Second}
	defer h2.CloseIdleConnections()
	for range 3 {
		resp, err := h2.Get(base + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || string(body) != "hello http" {
			t.Fatalf("got %s %q, want HTTP/2 %q", resp.Proto, body, "hello http")
		}
	}
}
