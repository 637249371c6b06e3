package router

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestHTTPSRedirect(t *testing.T) {
	isTLS := func(h string) bool { return h == "shop.example.com" || h == "::1" }
	challenged := false
	challenge := func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == ACMEChallengePrefix+"known" {
			challenged = true
			w.WriteHeader(http.StatusOK)
			return true
		}
		return false
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, tc := range []struct {
		name, method, host, target string
		port                       int
		code                       int
		location                   string
	}{
		{"GET to a TLS host", "GET", "shop.example.com", "/a/b?c=d", 8443, 301, "https://shop.example.com:8443/a/b?c=d"},
		{"port 443 is left out", "GET", "shop.example.com:80", "/", 443, 301, "https://shop.example.com/"},
		{"POST keeps its method", "POST", "shop.example.com", "/form", 443, 308, "https://shop.example.com/form"},
		{"host case and trailing dot", "HEAD", "SHOP.example.com.", "/", 443, 301, "https://shop.example.com/"},
		{"IPv6 literal", "GET", "[::1]:80", "/x", 8443, 301, "https://[::1]:8443/x"},
		{"a host without TLS is proxied", "GET", "other.example.com", "/", 443, http.StatusTeapot, ""},
		{"an ACME challenge is answered, not redirected", "GET", "shop.example.com", ACMEChallengePrefix + "known", 443, 200, ""},
		{"an unknown challenge goes on to the route", "GET", "shop.example.com", ACMEChallengePrefix + "other", 443, http.StatusTeapot, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://x"+tc.target, nil)
			req.Host = tc.host
			rec := httptest.NewRecorder()
			HTTPSRedirect(next, isTLS, tc.port, challenge).ServeHTTP(rec, req)
			if rec.Code != tc.code || rec.Header().Get("Location") != tc.location {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Header().Get("Location"), tc.code, tc.location)
			}
		})
	}
	if !challenged {
		t.Error("the challenge handler never answered")
	}
}

func TestHSTS(t *testing.T) {
	rec := httptest.NewRecorder()
	HSTS(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), 180*24*time.Hour).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got := rec.Header().Get("Strict-Transport-Security"); got != "max-age=15552000" {
		t.Fatalf("Strict-Transport-Security = %q", got)
	}
}
