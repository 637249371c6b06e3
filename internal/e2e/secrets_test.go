package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
)

// TestSecretsInjectRollRollBackAndNeverLeak drives the secrets feature as a
// user would, on examples/shop with auth reading AUTH_SECRET from the
// secret auth-secret: a deploy without the secret starts nothing; set it,
// deploy and read it back from inside the task through the router; change
// it and watch exactly auth roll with no failed request; roll back to the
// old value; then search the state dir, every API response, the CLI output
// and every process command line for the plaintexts.
func TestSecretsInjectRollRollBackAndNeverLeak(t *testing.T) {
	s := newShop(t, func(_ *project, spec string) string {
		authRoute := "    route:\n      path: /auth\n"
		if !strings.Contains(spec, authRoute) {
			t.Fatalf("examples/shop/berth.yaml changed shape: no auth route %q", authRoute)
		}
		return strings.Replace(spec, authRoute, authRoute+
			"    env:\n      SHOP_DEBUG_ENV: \"1\"\n"+
			"    secrets:\n      AUTH_SECRET: auth-secret\n", 1)
	})
	s.serveArgs = []string{"--engine", "process"}
	first := "first-" + random()
	second := "second-" + random()
	secretURL := "/auth/debug/env/AUTH_SECRET"

	s.startServe()

	// A missing secret: the deployment does not start, anywhere.
	out, code := s.berth("deploy")
	if code == 0 {
		t.Fatalf("deploy without the secret succeeded:\n%s", out)
	}
	for _, want := range []string{"service auth", "AUTH_SECRET", "auth-secret", "berth secret set"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing-secret error does not name %q:\n%s", want, out)
		}
	}
	if st, err := s.status(); err != nil || len(st.Services) != 0 {
		t.Fatalf("after a refused deploy the control plane runs %+v (%v), want nothing", st.Services, err)
	}

	// Set it (no service uses it yet), deploy, read it from inside the task.
	out = s.mustBerthIn(first+"\n", "secret", "set", "auth-secret")
	if !strings.Contains(out, "stored auth-secret version 1") {
		t.Fatalf("secret set:\n%s", out)
	}
	s.mustBerth("deploy")
	if code, body, err := s.get(secretURL); err != nil || code != 200 || body != first {
		t.Fatalf("GET %s = %d %q %v, want the first value", secretURL, code, body, err)
	}
	before := releases(t, s)

	// Change it under load: exactly auth rolls, no request fails.
	load := startLoad(t, "http://"+s.listen+secretURL, 3)
	out = s.mustBerthIn(second, "secret", "set", "auth-secret")
	load.check(t)
	answers := load.answers()
	if !strings.Contains(out, "rolling auth to the new version") || !strings.Contains(out, "all 1 deployments succeeded") {
		t.Fatalf("secret set did not roll auth:\n%s", out)
	}
	t.Logf("answers during the roll: %d distinct", len(answers))
	for body := range answers {
		if body != first && body != second {
			t.Fatalf("during the roll auth answered %q, want one of the two values", body)
		}
	}
	if code, body, err := s.get(secretURL); err != nil || code != 200 || body != second {
		t.Fatalf("after the roll GET %s = %d %q %v, want the second value", secretURL, code, body, err)
	}
	after := releases(t, s)
	for svc, n := range before {
		want := n
		if svc == "auth" {
			want = n + 1
		}
		if after[svc] != want {
			t.Errorf("%s: live release %d → %d, want %d (only auth uses the secret)", svc, n, after[svc], want)
		}
	}
	hist := history(t, s, "auth")
	if len(hist.Releases) < 2 || hist.Releases[0].Secrets["auth-secret"] != 2 || hist.Releases[1].Secrets["auth-secret"] != 1 {
		t.Fatalf("auth releases record secret versions %+v, want 2 then 1", hist.Releases)
	}

	// The value is only in the task's environment.
	if pids := pidsWithEnv("AUTH_SECRET=" + second); len(pids) == 0 {
		t.Error("no process has AUTH_SECRET in its environment")
	}
	for _, pid := range processes() {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if bytes.Contains(cmdline, []byte(first)) || bytes.Contains(cmdline, []byte(second)) {
			t.Errorf("/proc/%d/cmdline holds a secret: %q", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		}
	}

	// Rolling back auth restores the previous secret version.
	s.mustBerth("rollback", "auth")
	if code, body, err := s.get(secretURL); err != nil || code != 200 || body != first {
		t.Fatalf("after rollback GET %s = %d %q %v, want the first value", secretURL, code, body, err)
	}

	// The CLI never shows a value unless asked with --reveal.
	if out, code := s.berth("secret", "get", "auth-secret"); code == 0 || !strings.Contains(out, "--reveal") {
		t.Fatalf("secret get without --reveal: exit %d\n%s", code, out)
	}
	var rows []struct {
		Name    string   `json:"name"`
		Version int      `json:"version"`
		UsedBy  []string `json:"used_by"`
	}
	if err := json.Unmarshal([]byte(s.mustBerth("secret", "ls", "-o", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Name != "auth-secret" || rows[0].Version != 2 || strings.Join(rows[0].UsedBy, ",") != "auth" {
		t.Fatalf("secret ls = %+v", rows)
	}

	// Collect what a user or a log shipper could see.
	for _, args := range [][]string{
		{"status", "-o", "json"}, {"history", "auth", "-o", "json"}, {"history", "web"}, {"secret", "ls"},
	} {
		s.mustBerth(args...)
	}
	_, _ = s.api(http.MethodGet, "/v1/events", "")
	_, _ = s.api(http.MethodGet, "/v1/services/auth/logs?tail=10000", "")
	for _, d := range history(t, s, "auth").Deployments {
		_, _ = s.api(http.MethodGet, fmt.Sprintf("/v1/deployments/%s", d.ID), "")
	}
	_, _ = s.api(http.MethodPost, "/v1/secrets/rollout", `{"names":["auth-secret"]}`)
	s.stopServe()

	// The leak check.
	seen := s.transcript.String()
	for _, v := range []string{first, second} {
		if strings.Contains(seen, v) {
			i := strings.Index(seen, v)
			t.Errorf("a CLI output or API response holds a secret value: …%s…", seen[max(0, i-200):i])
		}
	}
	files := 0
	err := filepath.WalkDir(s.state, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&os.ModeSocket != 0 {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, v := range []string{first, second} {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds a secret value", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Fatalf("searched only %d files in %s", files, s.state)
	}
}

// releases maps each service to its live release.
func releases(t *testing.T, p *project) map[string]int {
	t.Helper()
	st, err := p.status()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, svc := range st.Services {
		out[svc.Name] = svc.Release
	}
	return out
}

// history reads a service's releases and deployments.
func history(t *testing.T, p *project, service string) api.History {
	t.Helper()
	var h api.History
	if err := p.apiJSON("/v1/services/"+service+"/history", &h); err != nil {
		t.Fatal(err)
	}
	return h
}
