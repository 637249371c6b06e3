package boundaries

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/berth-dev/berth"

// goPackage is the part of `go list -json` the rules read.
type goPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
}

// list runs `go list -deps=false -json` on the patterns.
func list(t *testing.T, patterns ...string) map[string]goPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, patterns...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	pkgs := map[string]goPackage{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// berthDeps are the berth packages p depends on, directly or not.
func berthDeps(p goPackage) []string {
	var out []string
	for _, d := range p.Deps {
		if strings.HasPrefix(d, module+"/") {
			out = append(out, strings.TrimPrefix(d, module+"/"))
		}
	}
	return out
}

// ioPackages do I/O: files, processes, the network, databases, syscalls.
func isIO(imp string) bool {
	switch {
	case imp == "os", imp == "os/exec", imp == "os/signal", imp == "syscall", imp == "io/ioutil",
		imp == "database/sql", imp == "plugin", imp == "unsafe",
		imp == "net", strings.HasPrefix(imp, "net/"),
		strings.HasPrefix(imp, "golang.org/x/sys/"),
		strings.HasPrefix(imp, "modernc.org/"),
		strings.HasPrefix(imp, "github.com/docker/"):
		return true
	}
	return false
}

func TestDeploy_DecidesWithoutIO(t *testing.T) {
	pkgs := list(t, "./internal/deploy")
	p := pkgs[module+"/internal/deploy"]
	// The smoke checks and webhook of release analysis are deploy's one
	// place that talks to the network; every other file decides only.
	allowed := map[string][]string{"analysis_http.go": {"net/http", "net/url"}}
	fset := token.NewFileSet()
	for _, name := range p.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, is := range f.Imports {
			imp, _ := strconv.Unquote(is.Path.Value)
			if isIO(imp) && !slices.Contains(allowed[name], imp) {
				t.Errorf("internal/deploy/%s imports %s: decisions do no I/O (do it in internal/control and pass the result in)", name, imp)
			}
		}
	}
	for _, d := range berthDeps(p) {
		if d != "internal/spec" && d != "internal/api" {
			t.Errorf("internal/deploy depends on %s: it may use only internal/spec and internal/api", d)
		}
	}
	// Third-party and standard packages reached through internal/spec
	// (which reads the spec file, and links compose-go for berth init) are
	// spec's business, not deploy's: the rule is on deploy's own imports.
}

func TestAPI_ImportsNothingOfBerth(t *testing.T) {
	pkgs := list(t, "./internal/api/...")
	if len(pkgs) == 0 {
		t.Fatal("no api packages")
	}
	for path, p := range pkgs {
		for _, d := range berthDeps(p) {
			if !strings.HasPrefix(d, "internal/api") {
				t.Errorf("%s depends on %s: the API types import nothing of berth", path, d)
			}
		}
	}
}

func TestSpec_DependsOnlyOnTheAPITypes(t *testing.T) {
	p := list(t, "./internal/spec")[module+"/internal/spec"]
	for _, d := range berthDeps(p) {
		if d != "internal/api" {
			t.Errorf("internal/spec depends on %s: the spec model is read by everyone and reads nothing of theirs", d)
		}
	}
}

func TestIsIO(t *testing.T) {
	for imp, want := range map[string]bool{
		"os": true, "os/exec": true, "net": true, "net/http": true, "database/sql": true, "syscall": true,
		"modernc.org/sqlite": true, "github.com/docker/docker/client": true,
		"time": false, "sort": false, "encoding/json": false, "io": false, module + "/internal/spec": false,
	} {
		if got := isIO(imp); got != want {
			t.Errorf("isIO(%q) = %v, want %v", imp, got, want)
		}
	}
}
