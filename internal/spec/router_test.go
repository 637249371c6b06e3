package spec

import (
	"strings"
	"testing"
)

func TestParse_RouterSection(t *testing.T) {
	sp := mustParse(t, `
project: p
router:
  upstream: std
  client_body_timeout: 30s
  upstream_read_timeout: 2m
  max_request_body: 10m
  max_response_header: 32k
  max_connections: 100
  underscores_in_headers: true
  encoded_slashes: keep
services:
  web: {run: ./web}
`)
	r := sp.Router
	if r == nil || r.Upstream != "std" || r.ClientBodyTimeout.String() != "30s" || r.MaxRequestBody != 10<<20 ||
		r.MaxResponseHeader != 32<<10 || r.MaxConnections != 100 || !r.UnderscoresInHeaders || r.EncodedSlashes != "keep" {
		t.Fatalf("router section = %+v", r)
	}
	if sp := mustParse(t, "project: p\nrouter: {max_request_body: unlimited}\nservices:\n  web: {run: ./web}\n"); sp.Router.MaxRequestBody != -1 {
		t.Fatalf("unlimited = %d, want -1", sp.Router.MaxRequestBody)
	}
	_, err := parse(t, "project: p\nrouter:\n  upstream: curl\n  max_request_body: lots\n  encoded_slashes: maybe\n  nope: 1\nservices:\n  web: {run: ./web}\n")
	got := strings.Join(problemsOf(t, err), "\n")
	for _, want := range []string{"router.upstream", "router.max_request_body", "router.encoded_slashes", "router.nope"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems %q lack %s", got, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{"512": 512, "64k": 64 << 10, "1m": 1 << 20, "2G": 2 << 30, "10MiB": 10 << 20, "3kb": 3 << 10, "unlimited": -1} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5m", "1t", "m", "99999999999g"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}

func TestParse_Sticky(t *testing.T) {
	sp := mustParse(t, "project: p\nservices:\n  web: {run: ./web, deploy: {strategy: canary, sticky: {cookie: berth_sticky}}}\n")
	if st := sp.Services["web"].Deploy.Sticky; st == nil || st.Cookie != "berth_sticky" {
		t.Fatalf("sticky = %+v", st)
	}
	for _, bad := range []string{"{}", "{cookie: a, header: B}", "{cookie: \"a b\"}", "{header: \"X:Y\"}"} {
		_, err := parse(t, "project: p\nservices:\n  web: {run: ./web, deploy: {strategy: canary, sticky: "+bad+"}}\n")
		if got := strings.Join(problemsOf(t, err), "\n"); !strings.Contains(got, "deploy.sticky") {
			t.Errorf("sticky %s: problems %q", bad, got)
		}
	}
}
