package deploy

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// loopback starts an httptest server on 127.0.0.1 only.
func loopback(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func TestRunSmoke(t *testing.T) {
	srv := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ready", "/catalog":
			_, _ = io.WriteString(w, "ok")
		case "/broken":
			http.Error(w, "database down", http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	got := RunSmoke(context.Background(), srv.Client(), srv.URL+"/", []string{"/ready", "/broken", "/missing", "/catalog"})
	want := []CheckResult{
		{Name: "GET /ready", OK: true, Detail: "200 OK"},
		{Name: "GET /broken", Detail: "503 Service Unavailable: database down"},
		{Name: "GET /missing", Detail: "404 Not Found: 404 page not found"},
		{Name: "GET /catalog", OK: true, Detail: "200 OK"},
	}
	if len(got) != len(want) {
		t.Fatalf("RunSmoke = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("result %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestRunSmoke_Unreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	got := RunSmoke(context.Background(), nil, "http://"+addr, []string{"/ready"})
	if len(got) != 1 || got[0].OK || !strings.Contains(got[0].Detail, "refused") {
		t.Fatalf("RunSmoke = %+v", got)
	}
}

func TestCallWebhook(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		ok     bool
		detail string
	}{
		{"empty 200 passes", 200, "", true, "200 OK"},
		{"empty 204 passes", 204, "", true, "204 No Content"},
		{"pass true", 200, `{"pass": true}`, true, "200 OK"},
		{"pass false with reason", 200, `{"pass": false, "reason": "error budget spent"}`, false, "answered pass: false: error budget spent"},
		{"pass false with message", 200, `{"pass": false, "message": "p95 too high"}`, false, "answered pass: false: p95 too high"},
		{"pass false bare", 200, `{"pass": false}`, false, "answered pass: false"},
		{"no pass field", 200, `{"ok": true}`, false, `200 OK: answer is not {"pass": true|false}: {"ok": true}`},
		{"not json", 200, "yes", false, `200 OK: answer is not {"pass": true|false}: yes`},
		{"500", 500, "boom", false, "500 Internal Server Error: boom"},
		{"pass true but 403", 403, `{"pass": true}`, false, `403 Forbidden: {"pass": true}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got WebhookPayload
			srv := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
					http.Error(w, "want POST JSON", http.StatusBadRequest)
					return
				}
				if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			payload := WebhookPayload{Service: "catalog", Release: 7, FromRelease: 6, Strategy: "canary", Phase: "checks"}
			res := CallWebhook(context.Background(), srv.Client(), srv.URL+"/gate?token=s3cret", payload)
			if res.OK != tc.ok || res.Detail != tc.detail {
				t.Fatalf("CallWebhook = %+v, want ok %v detail %q", res, tc.ok, tc.detail)
			}
			if res.Name != "webhook "+srv.URL+"/gate" {
				t.Fatalf("name %q must hold the URL without its query", res.Name)
			}
			if got != payload {
				t.Fatalf("server got %+v, want %+v", got, payload)
			}
		})
	}
}

func TestCallWebhook_HangingServerFailsAtTheDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res := CallWebhook(ctx, srv.Client(), srv.URL, struct{}{})
	if res.OK || !strings.Contains(res.Detail, "deadline exceeded") {
		t.Fatalf("CallWebhook = %+v", res)
	}
}

func TestCallWebhook_ErrorsDoNotRepeatTheURLsToken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	res := CallWebhook(context.Background(), nil, "http://"+addr+"/hook?token=s3cret", nil)
	if res.OK || strings.Contains(res.Name+res.Detail, "s3cret") || !strings.Contains(res.Detail, "refused") {
		t.Fatalf("CallWebhook = %+v", res)
	}
}
