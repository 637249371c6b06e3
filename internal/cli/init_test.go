package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/spec"
)

// runInit runs `berth init args...` in dir and returns the exit code and
// what it printed.
func runInit(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	t.Chdir(dir)
	var out bytes.Buffer
	code := run(append([]string{"init"}, args...), &out, &out)
	return code, out.String()
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func loadSpec(t *testing.T, p string) *spec.Spec {
	t.Helper()
	s, err := spec.Load(p)
	if err != nil {
		data, _ := os.ReadFile(p)
		t.Fatalf("the written spec does not load: %v\n%s", err, data)
	}
	return s
}

const shopCompose = `services:
  web:
    build: ./web
    ports: ["8000:80"]
    depends_on: [db]
  db:
    image: postgres:16
    volumes: ["data:/var/lib/postgresql/data"]
volumes:
  data:
`

func TestInitFromCompose(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shop")
	writeFiles(t, dir, map[string]string{"docker-compose.yml": shopCompose})
	code, out := runInit(t, dir)
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	s := loadSpec(t, filepath.Join(dir, "berth.yaml"))
	if s.Project != "shop" || !reflect.DeepEqual(s.Order, []string{"db", "web"}) {
		t.Errorf("project %q services %v", s.Project, s.Order)
	}
	if db := s.Services["db"]; db.Image != "postgres:16" || db.Route != nil || len(db.Volumes) != 1 || db.Health.Kind() != spec.HealthTCP {
		t.Errorf("db = image %q route %+v volumes %+v health %+v; want an image service with its volume and a tcp check", db.Image, db.Route, db.Volumes, db.Health)
	}
	for _, want := range []string{
		"from docker-compose.yml",
		"`berth up`",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestInitFromFlagAndSpecFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"deploy/compose.yaml": shopCompose})
	code, out := runInit(t, dir, "--from", "deploy/compose.yaml", "-f", "deploy/berth.yaml")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	loadSpec(t, filepath.Join(dir, "deploy", "berth.yaml"))
	if !strings.Contains(out, "`berth up -f deploy/berth.yaml`") {
		t.Errorf("the next step does not name the spec:\n%s", out)
	}
}

func TestInitRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	const mine = "project: mine\nservices:\n  web: {run: ./web}\n"
	writeFiles(t, dir, map[string]string{"compose.yaml": shopCompose, "berth.yaml": mine})
	code, out := runInit(t, dir)
	if code != exitUsage || !strings.Contains(out, "already exists") || !strings.Contains(out, "--force") {
		t.Errorf("exit %d, want %d and a message naming --force:\n%s", code, exitUsage, out)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "berth.yaml")); string(data) != mine {
		t.Errorf("berth.yaml was changed:\n%s", data)
	}
	if code, out := runInit(t, dir, "--force"); code != exitOK {
		t.Fatalf("--force: exit %d:\n%s", code, out)
	}
	if s := loadSpec(t, filepath.Join(dir, "berth.yaml")); s.Services["db"] == nil {
		t.Errorf("--force did not write the converted spec: %v", s.Order)
	}
}

func TestInitWithoutCompose(t *testing.T) {
	cases := []struct {
		name     string
		files    map[string]string
		want     string // in the output
		services []string
		from     string
	}{
		{
			name: "dockerfiles under services",
			files: map[string]string{
				"services/cart/Dockerfile":    "FROM scratch\n",
				"services/catalog/Dockerfile": "FROM scratch\n",
				"tools/lint/Dockerfile":       "FROM scratch\n",
				"services/README.md":          "no service\n",
			},
			want:     "discovering services from services/*",
			services: []string{"cart", "catalog"},
			from:     "services/*",
		},
		{
			name:     "nothing to discover",
			files:    map[string]string{"README.md": "hello\n"},
			want:     "one example service",
			services: []string{"web"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			code, out := runInit(t, dir)
			if code != exitOK || !strings.Contains(out, tc.want) || !strings.Contains(out, "then run `berth up`") {
				t.Errorf("exit %d, want 0 and %q:\n%s", code, tc.want, out)
			}
			s := loadSpec(t, filepath.Join(dir, "berth.yaml"))
			if !reflect.DeepEqual(s.Order, tc.services) || s.ServicesFrom != tc.from {
				t.Errorf("services %v from %q, want %v from %q", s.Order, s.ServicesFrom, tc.services, tc.from)
			}
		})
	}
}

// TestInitIgnoresStateDir: init adds .berth/ to the .gitignore beside the
// spec, says so, and keeps what the file held.
func TestInitIgnoresStateDir(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"compose.yaml": shopCompose, ".gitignore": "node_modules/\n"})
	code, out := runInit(t, dir)
	if code != 0 {
		t.Fatalf("init exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, "added .berth/ to ") {
		t.Errorf("init does not say it added .berth/ to .gitignore:\n%s", out)
	}
	b, err := os.ReadFile(filepath.Join(dir, ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "node_modules/\n") || !strings.HasSuffix(string(b), "\n.berth/\n") {
		t.Errorf(".gitignore = %q, want the old lines then .berth/", b)
	}
}
