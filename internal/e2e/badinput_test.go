package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInputChangesNothing: every kind of bad spec gets a clear error
// with file:line and exit code 2, and the running release is untouched.
func TestBadInputChangesNothing(t *testing.T) {
	p := deployed(t, goodSpec)
	before := p.service("catalog")

	cases := []struct {
		name string
		spec string
		want []string
	}{
		{"malformed yaml", "project: e2e\nservices:\n  catalog: {run: x\n", []string{"berth.yaml:"}},
		{"unknown key", "project: e2e\nservices:\n  catalog:\n    run: x\n    heath: {path: /health}\n", []string{"berth.yaml:5", `unknown key "heath"`, `did you mean "health"`}},
		{"route clash", "project: e2e\nservices:\n  a: {run: x, route: {path: /api}}\n  b: {run: x, route: {path: /api}}\n", []string{"berth.yaml:", "/api"}},
		{"port clash", "project: e2e\nlisten: 127.0.0.1:9000\nservices:\n  a: {run: x, port: 9000}\n", []string{"berth.yaml:4", "9000"}},
		{"missing command", "project: e2e\nservices:\n  a: {route: {path: /a}}\n", []string{"berth.yaml:3", "run"}},
		{"unknown dependency", "project: e2e\nservices:\n  a: {run: x, depends_on: [catalgo]}\n  catalog: {run: x}\n", []string{"berth.yaml:3", "catalgo", `did you mean "catalog"`}},
		{"dependency cycle", "project: e2e\nservices:\n  a: {run: x, depends_on: [b]}\n  b: {run: x, depends_on: [a]}\n", []string{"berth.yaml:", "a → b → a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, filepath.Join(p.dir, "berth.yaml"), tc.spec)
			out, code := p.berth("deploy")
			if code != 2 {
				t.Fatalf("exit code %d, want 2:\n%s", code, out)
			}
			if !strings.Contains(out, "nothing was changed") {
				t.Errorf("output does not say nothing changed:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	after := p.service("catalog")
	if after.Release != before.Release || after.Healthy != 2 || len(after.Tasks) != 2 {
		t.Fatalf("bad input changed what runs: before %+v, after %+v", before, after)
	}
	for i := range before.Tasks {
		if before.Tasks[i].ID != after.Tasks[i].ID {
			t.Fatalf("tasks changed: %v -> %v", before.Tasks, after.Tasks)
		}
	}
	if out := p.mustBerth("history", "catalog", "-o", "json"); strings.Count(out, `"number"`) != 1 {
		t.Fatalf("a bad spec made a release:\n%s", out)
	}
}
