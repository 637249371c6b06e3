package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// planRepo is a git repository whose spec sits in app/, with services
// found by services_from and a shared package.
func planRepo(t *testing.T) (top, specPath string) {
	t.Helper()
	top = t.TempDir()
	files := map[string]string{
		"app/berth.yaml":             "project: p\nservices_from: svc/*\nshared: [pkg/]\n",
		"app/svc/a/Dockerfile":       "FROM scratch\n",
		"app/svc/a/main.go":          "package main\n",
		"app/svc/b/Dockerfile":       "FROM scratch\n",
		"app/svc/b/main.go":          "package main\n",
		"app/pkg/lib.go":             "package pkg\n",
		"app/docs/readme.md":         "docs\n",
		"other/unrelated/Dockerfile": "FROM scratch\n",
	}
	for p, c := range files {
		full := filepath.Join(top, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	planGit(t, top, "init", "-q", "-b", "main")
	planCommit(t, top, "init")
	return top, filepath.Join(top, "app", "berth.yaml")
}

func planGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x.invalid", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func planCommit(t *testing.T, dir, msg string) string {
	t.Helper()
	planGit(t, dir, "add", "-A")
	planGit(t, dir, "commit", "-q", "-m", msg)
	return planGit(t, dir, "rev-parse", "HEAD")
}

func planChange(t *testing.T, top, rel string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(top, rel), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("// changed\n"); err != nil {
		t.Fatal(err)
	}
}

// TestPlanSince checks `berth plan --since` on a spec in a subdirectory of
// its repository: paths are mapped to the top level, shared paths fan out,
// unrelated paths do not, and -o json is a list of service/action/reason.
func TestPlanSince(t *testing.T) {
	tests := []struct {
		name    string
		touch   []string
		actions map[string]string
		reason  map[string]string
	}{
		{"own dir", []string{"app/svc/a/main.go"}, map[string]string{"a": "deploy", "b": "skip"}, map[string]string{"a": "own dir changed"}},
		{"shared package", []string{"app/pkg/lib.go"}, map[string]string{"a": "deploy", "b": "deploy"}, map[string]string{"b": "shared path app/pkg"}},
		{"outside every service", []string{"app/docs/readme.md", "other/unrelated/Dockerfile"}, map[string]string{"a": "skip", "b": "skip"}, map[string]string{"a": "unchanged since"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			top, spec := planRepo(t)
			base := planGit(t, top, "rev-parse", "HEAD")
			for _, p := range tc.touch {
				planChange(t, top, p)
			}
			planCommit(t, top, tc.name)

			var stdout, stderr bytes.Buffer
			if code := run([]string{"-f", spec, "plan", "--since", base, "-o", "json"}, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			var rows []map[string]string
			if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil {
				t.Fatalf("plan -o json: %v\n%s", err, stdout.String())
			}
			if len(rows) != 2 {
				t.Fatalf("want 2 rows, got %s", stdout.String())
			}
			for _, r := range rows {
				if len(r) != 3 {
					t.Errorf("row %v: want exactly service, action, reason", r)
				}
				if r["action"] != tc.actions[r["service"]] {
					t.Errorf("%s: action %s (%s), want %s", r["service"], r["action"], r["reason"], tc.actions[r["service"]])
				}
				if want := tc.reason[r["service"]]; want != "" && !strings.Contains(r["reason"], want) {
					t.Errorf("%s: reason %q, want it to contain %q", r["service"], r["reason"], want)
				}
			}

			stdout.Reset()
			if code := run([]string{"-f", spec, "plan", "--since", base}, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), "SERVICE") || !strings.Contains(stdout.String(), "unchanged\n") {
				t.Errorf("plan table:\n%s", stdout.String())
			}
		})
	}
}

// TestPlanErrors checks the plan's errors say what to do next.
func TestPlanErrors(t *testing.T) {
	_, spec := planRepo(t)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown revision", []string{"plan", "--since", "nope"}, exitUsage, "unknown revision"},
		{"no control plane", []string{"--state", t.TempDir(), "plan"}, exitUnreach, "pass --since REV"},
		{"unknown service", []string{"plan", "--since", "HEAD", "c"}, exitUsage, "no service \"c\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("BERTH_API", "")
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"-f", spec}, tc.args...), &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr.String(), tc.code, tc.want)
			}
		})
	}
}
