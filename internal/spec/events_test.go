package spec

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestEventKinds_MatchTheAPI keeps EventKinds equal to the Event*
// constants of internal/api, so a kind added there is accepted in notify:
// and a kind removed there is refused.
func TestEventKinds_MatchTheAPI(t *testing.T) {
	files, err := filepath.Glob("../api/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no api sources: %v", err)
	}
	var want []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Event") || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, _ := strconv.Unquote(lit.Value)
					want = append(want, v)
				}
			}
			return true
		})
	}
	got := slices.Sorted(slices.Values(EventKinds))
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("EventKinds = %v\napi constants = %v\nupdate internal/spec/events.go", got, want)
	}
}

func TestParse_NotifyEventsAreChecked(t *testing.T) {
	mustParse(t, "project: p\nnotify: [{url: 'https://h.example/x', events: [deploy.succeeded, rolled_back, task.exited]}]\nservices:\n  a: {run: x}\n")
	_, err := parse(t, "project: p\nnotify: [{url: 'https://h.example/x', events: [deployment.succeeded, deploy.succeded]}]\nservices:\n  a: {run: x}\n")
	got := strings.Join(problemsOf(t, err), "\n")
	for _, w := range []string{
		`notify[0].events[0]: unknown event "deployment.succeeded" (did you mean "deploy.succeeded"?)`,
		`notify[0].events[1]: unknown event "deploy.succeded" (did you mean "deploy.succeeded"?)`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in\n%s", w, got)
		}
	}
}

func TestParse_BlueGreenTakesAPauseStep(t *testing.T) {
	s := mustParse(t, "project: p\nservices:\n  a: {run: x, deploy: {strategy: bluegreen, steps: [pause]}}\n")
	if st := s.Services["a"].Deploy.Steps; len(st) != 1 || !st[0].Gate {
		t.Errorf("steps = %v, want [pause]", st)
	}
	_, err := parse(t, "project: p\nservices:\n  a: {run: x, deploy: {strategy: bluegreen, steps: [50%, 100%]}}\n")
	got := strings.Join(problemsOf(t, err), "\n")
	if !strings.Contains(got, "services.a.deploy.steps[0]: a blue/green switches all traffic at once, so its steps can only be pause, got 50%") {
		t.Errorf("got\n%s", got)
	}
	_, err = parse(t, "project: p\nservices:\n  a: {run: x, deploy: {steps: [pause]}}\n")
	if got := strings.Join(problemsOf(t, err), "\n"); !strings.Contains(got, "steps only apply to strategies canary and bluegreen") {
		t.Errorf("rolling with steps: got\n%s", got)
	}
}

func TestParse_BakeOutsideBlueGreenWarns(t *testing.T) {
	s := mustParse(t, "project: p\nservices:\n  a: {run: x, deploy: {strategy: canary, bake: 1m}}\n  b: {run: x, deploy: {strategy: bluegreen, bake: 1m}}\n")
	if len(s.Warnings) != 1 {
		t.Fatalf("warnings = %v, want one (for a)", s.Warnings)
	}
	w := s.Warnings[0]
	if w.Line != 3 || w.Path != "services.a.deploy.bake" || !strings.Contains(w.Message, "bake has no effect on a canary deployment") {
		t.Errorf("warning = %s", w)
	}
}
