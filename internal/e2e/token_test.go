package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTCPAPINeedsTheTokenEverywhere: over TCP every route, /metrics
// included (it lists task addresses), answers 401 without the token, which
// berth serve read from --token-file (so it never shows in ps). The TCP
// API is HTTPS only, with a certificate of the local CA the CLI pins;
// plain HTTP is refused saying why.
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
	caPath := filepath.Join(p.state, "tls", "ca", "ca.pem")
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatalf("the local CA of the TCP API: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	resp, err := http.Get("http://" + addr + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "HTTPS only") {
		t.Errorf("plain HTTP to the TCP API: %s %q, want 400 saying it is HTTPS only", resp.Status, b)
	}

	// The CLI elsewhere: BERTH_API over https with the CA pinned.
	cmd := exec.CommandContext(context.Background(), berthBin, "status")
	cmd.Dir = t.TempDir()
	cmd.Env = append(cleanEnv(), "BERTH_API=https://"+addr, "BERTH_TOKEN="+token, "BERTH_API_CA="+caPath)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "project e2e") {
		t.Errorf("berth status over the TLS API: %v\n%s", err, out)
	}

	for _, path := range []string{"/metrics", "/v1/status", "/v1/events", "/v1/services/catalog/history"} {
		for _, auth := range []string{"", "Bearer wrong", "Bearer " + token} {
			req, err := http.NewRequest(http.MethodGet, "https://"+addr+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := hc.Do(req)
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
