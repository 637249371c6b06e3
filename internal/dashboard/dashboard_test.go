package dashboard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestGuard: without a token only loopback Host names are answered (DNS
// rebinding), and a state-changing request from another origin is
// refused with or without a token; the dashboard's own requests pass.
func TestGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, c := range []struct {
		name, token, method, host, origin, site string
		want                                    int
	}{
		{"loopback read", "", "GET", "127.0.0.1:8079", "", "", http.StatusTeapot},
		{"localhost read", "", "GET", "localhost:8079", "", "", http.StatusTeapot},
		{"ipv6 loopback read", "", "GET", "[::1]:8079", "", "", http.StatusTeapot},
		{"rebound name", "", "GET", "evil.example:8079", "", "", http.StatusMisdirectedRequest},
		{"rebound name, post", "", "POST", "evil.example", "http://evil.example", "", http.StatusMisdirectedRequest},
		{"same-origin promote", "", "POST", "127.0.0.1:8079", "http://127.0.0.1:8079", "same-origin", http.StatusTeapot},
		{"cli post without origin", "", "POST", "127.0.0.1:8079", "", "", http.StatusTeapot},
		{"cross-site post", "", "POST", "127.0.0.1:8079", "http://evil.example", "cross-site", http.StatusForbidden},
		{"cross-site post, no sec-fetch", "", "POST", "127.0.0.1:8079", "http://evil.example", "", http.StatusForbidden},
		{"opaque origin", "", "POST", "127.0.0.1:8079", "null", "", http.StatusForbidden},
		{"sec-fetch cross-site only", "", "POST", "127.0.0.1:8079", "", "cross-site", http.StatusForbidden},
		{"token: any host", "tok", "GET", "berth.internal:8079", "", "", http.StatusTeapot},
		{"token: cross-site post", "tok", "POST", "berth.internal:8079", "http://evil.example", "", http.StatusForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "/v1/services/web/promote", nil)
			r.Host = c.host
			if c.origin != "" {
				r.Header.Set("Origin", c.origin)
			}
			if c.site != "" {
				r.Header.Set("Sec-Fetch-Site", c.site)
			}
			w := httptest.NewRecorder()
			Guard(c.token, ok).ServeHTTP(w, r)
			if w.Code != c.want {
				t.Errorf("%s %s Host %s Origin %q: %d, want %d", c.method, r.URL.Path, c.host, c.origin, w.Code, c.want)
			}
		})
	}
}

// TestHandler serves the embedded page and its assets with a strict
// content security policy, and nothing outside them.
func TestHandler(t *testing.T) {
	srv := httptest.NewServer(http.StripPrefix("", Handler()))
	defer srv.Close()
	for path, want := range map[string]string{
		"/ui/":          `<script src="app.js"`,
		"/ui/app.js":    "function renderStatus",
		"/ui/style.css": ".split",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body without %q", path, resp.StatusCode, want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
	resp, err := http.Get(srv.URL + "/ui/nope.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET /ui/nope.js: %d, want 404", resp.StatusCode)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8079": true, "localhost:0": true, "[::1]:8079": true, "127.1.2.3:1": true,
		"0.0.0.0:8079": false, ":8079": false, "10.0.0.1:80": false, "berth.internal:80": false, "nonsense": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// FuzzGuard: any Host and Origin is answered, never a panic.
func FuzzGuard(f *testing.F) {
	f.Add("127.0.0.1:8079", "http://127.0.0.1:8079")
	f.Add("[::1", "http://[::1")
	f.Add("", "%zz")
	f.Fuzz(func(t *testing.T, host, origin string) {
		r := httptest.NewRequest("POST", "/v1/deploy", nil)
		r.Host = host
		r.Header.Set("Origin", origin)
		Guard("", http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), r)
	})
}
