package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/driver/drivertest"
	"github.com/berth-dev/berth/internal/engine/local/localtest"
)

// changedRepo is a git repository whose spec sits in app/: services a and
// b built by copying the test server (so every build is byte-identical),
// a shared package, and a go.mod at the top level, above the spec.
func changedRepo(t *testing.T, aExtra string) (top, specPath string) {
	t.Helper()
	bin := drivertest.BuildTestServer(t)
	top = t.TempDir()
	svc := func(name, extra string) string {
		return "  " + name + ":\n    dir: svc/" + name + "\n    build: cp " + bin + " $BERTH_ARTIFACT\n    run: $BERTH_ARTIFACT\n" + extra
	}
	files := map[string]string{
		"go.mod":              "module example.com/x\n",
		"app/berth.yaml":      "project: p\nshared: [pkg/]\nservices:\n" + svc("a", aExtra) + svc("b", ""),
		"app/svc/a/main.go":   "package main\n",
		"app/svc/b/main.go":   "package main\n",
		"app/pkg/lib.go":      "package pkg\n",
		"app/docs/readme.md":  "docs\n",
		"other/unrelated.txt": "x\n",
	}
	for p, c := range files {
		writeFile(t, filepath.Join(top, p), c)
	}
	planGit(t, top, "init", "-q", "-b", "main")
	planCommit(t, top, "init")
	return top, filepath.Join(top, "app", "berth.yaml")
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// berth runs the command line and fails the test unless it exits with code.
func berth(t *testing.T, code int, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if got := run(args, &stdout, &stderr); got != code {
		t.Fatalf("berth %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, stdout.String(), stderr.String())
	}
	return stdout.String() + stderr.String()
}

// planOf runs `plan -o json` with extra arguments and returns service → row.
func planOf(t *testing.T, args ...string) map[string]planRow {
	t.Helper()
	out := berth(t, 0, append(args, "plan", "-o", "json")...)
	var rows []planRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, out)
	}
	m := map[string]planRow{}
	for _, r := range rows {
		m[r.Service] = r
	}
	return m
}

func wantPlan(t *testing.T, got map[string]planRow, service, action, reason string) {
	t.Helper()
	r, ok := got[service]
	if !ok || r.Action != action || !strings.Contains(r.Reason, reason) {
		t.Errorf("plan of %s: %+v; want %s with a reason containing %q", service, r, action, reason)
	}
}

// TestPlanSpecChangeSince: a committed change to one service's env in
// berth.yaml deploys that service (and only it) in `plan --since`.
func TestPlanSpecChangeSince(t *testing.T) {
	top, sp := changedRepo(t, "    env:\n      LOG_LEVEL: info\n")
	base := planGit(t, top, "rev-parse", "HEAD")
	b, err := os.ReadFile(sp)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, sp, strings.Replace(string(b), "LOG_LEVEL: info", "LOG_LEVEL: debug", 1))
	planCommit(t, top, "more logs")

	got := planOf(t, "-f", sp, "--since", base)
	wantPlan(t, got, "a", "deploy", "spec changed: env.LOG_LEVEL")
	wantPlan(t, got, "b", "skip", "unchanged since")
}

// TestPlanSharedAboveSpec: a shared path above the spec's directory but
// inside the repository is an input (its change deploys the services that
// declare it); one that leaves the repository is refused with exit 2.
func TestPlanSharedAboveSpec(t *testing.T) {
	top, sp := changedRepo(t, "    shared: [../go.mod]\n")
	base := planGit(t, top, "rev-parse", "HEAD")
	writeFile(t, filepath.Join(top, "go.mod"), "module example.com/x\n\nrequire example.com/y v1.0.0\n")
	planCommit(t, top, "bump")

	got := planOf(t, "-f", sp, "--since", base)
	wantPlan(t, got, "a", "deploy", "shared path go.mod changed")
	wantPlan(t, got, "b", "skip", "unchanged since")

	b, err := os.ReadFile(sp)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, sp, strings.Replace(string(b), "[../go.mod]", "[../../outside]", 1))
	planCommit(t, top, "outside")
	if out := berth(t, exitUsage, "-f", sp, "plan", "--since", base); !strings.Contains(out, "leaves the git repository") {
		t.Errorf("a shared path outside the repository: %s", out)
	}
}

// TestDeployChangedSettles runs a real control plane with the process
// driver: a comment-only change in a shared package rebuilds both services
// once, finds their artifacts byte-identical and records the new commit as
// live without restarting a task, so the next plan says skip; then a
// committed env change deploys exactly the service it belongs to, in
// `plan` and `deploy --changed`.
func TestDeployChangedSettles(t *testing.T) {
	t.Setenv("BERTH_API", "")
	top, sp := changedRepo(t, "    env:\n      LOG_LEVEL: info\n")
	state := t.TempDir()
	plane := localtest.Start(t, "p", state)
	g := []string{"-f", sp, "--state", state}
	berth(t, 0, append(g, "deploy")...)
	before := taskIDs(t, plane)

	// A comment in the shared package: both rebuilt, nothing new to run.
	writeFile(t, filepath.Join(top, "app/pkg/lib.go"), "package pkg\n\n// a comment\n")
	head := planCommit(t, top, "comment")[:12]
	got := planOf(t, g...)
	wantPlan(t, got, "a", "deploy", "shared path app/pkg changed")
	out := berth(t, 0, append(g, "deploy", "--changed")...)
	if !strings.Contains(out, "a: unchanged") || !strings.Contains(out, "b: unchanged") {
		t.Fatalf("deploy --changed of byte-identical artifacts:\n%s", out)
	}
	got = planOf(t, g...)
	wantPlan(t, got, "a", "skip", "unchanged since "+head)
	wantPlan(t, got, "b", "skip", "unchanged since "+head)
	if out := berth(t, 0, append(g, "deploy", "--changed")...); !strings.Contains(out, "nothing changed since the live commits") || strings.Contains(out, "building") {
		t.Errorf("second deploy --changed rebuilt:\n%s", out)
	}
	if after := taskIDs(t, plane); !equalStrings(before, after) {
		t.Errorf("tasks restarted: before %v, after %v", before, after)
	}

	// A committed env change in berth.yaml deploys a, and only a.
	b, err := os.ReadFile(sp)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, sp, strings.Replace(string(b), "LOG_LEVEL: info", "LOG_LEVEL: debug", 1))
	planCommit(t, top, "more logs")
	got = planOf(t, g...)
	wantPlan(t, got, "a", "deploy", "spec changed: env.LOG_LEVEL")
	wantPlan(t, got, "b", "skip", "unchanged since")
	out = berth(t, 0, append(g, "deploy", "--changed")...)
	if !strings.Contains(out, "a: release 1 → 2") || strings.Contains(out, "b: release") {
		t.Errorf("deploy --changed after an env change:\n%s", out)
	}
}

func taskIDs(t *testing.T, p *localtest.Plane) []string {
	t.Helper()
	st, err := p.Client().Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range st.Services {
		for _, tk := range s.Tasks {
			if tk.State != "stopped" && tk.State != "exited" {
				ids = append(ids, s.Name+"/"+tk.ID)
			}
		}
	}
	if len(ids) == 0 {
		t.Fatalf("no running tasks: %+v", st)
	}
	return ids
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, ",") == strings.Join(b, ",")
}
