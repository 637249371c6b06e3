package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestTCPAPINeedsTheTokenEverywhere: over TCP every route, /metrics
// included (it lists task addresses), answers 401 without the token, which
// berth serve read from --token-file (so it never shows in ps).
func TestTCPAPINeedsTheTokenEverywhere(t *testing.T) {
	p := newProject(t)
	p.writeSpec(goodSpec)
	token := "tok-" + random()
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, token+"\n")
	addr := freeAddr(t)
	p.serveArgs = []string{"--api-listen", addr, "--token-file", tokenFile}
	p.startServe()
	if strings.Contains(strings.Join(p.serve.Args, " "), token) {
		t.Fatalf("the token is on berth serve's command line: %v", p.serve.Args)
	}
	for _, path := range []string{"/metrics", "/v1/status", "/v1/events", "/v1/services/catalog/history"} {
		for _, auth := range []string{"", "Bearer wrong", "Bearer " + token} {
			req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			wantOK := auth == "Bearer "+token
			if got := resp.StatusCode == http.StatusUnauthorized; got == wantOK {
				t.Errorf("GET %s with %q: %s", path, auth, resp.Status)
			}
		}
	}
}
