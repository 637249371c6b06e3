package spec

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestImportCompose(t *testing.T) {
	type check func(t *testing.T, s *Spec, notes []string)
	svc := func(t *testing.T, s *Spec, name string) *Service {
		t.Helper()
		v, ok := s.Services[name]
		if !ok {
			t.Fatalf("no service %q in %v", name, s.Order)
		}
		return v
	}
	cases := []struct {
		file  string
		check check
	}{
		{"build-string.yml", func(t *testing.T, s *Spec, _ []string) {
			web := svc(t, s, "web")
			if s.Project != "compose" {
				t.Errorf("project = %q, want the directory's name", s.Project)
			}
			if want := (&Build{Context: "web", Dockerfile: "Dockerfile"}); !reflect.DeepEqual(web.Build, want) {
				t.Errorf("build = %+v, want %+v", web.Build, want)
			}
			if web.Port != 80 || web.Route == nil || !web.Route.Default {
				t.Errorf("port %d route %+v, want 80 and the default route", web.Port, web.Route)
			}
		}},
		{"build-mapping.yml", func(t *testing.T, s *Spec, _ []string) {
			want := &Build{Context: "api", Dockerfile: "Dockerfile.prod", Target: "prod", Args: map[string]string{"GO_VERSION": "1.26"}}
			if got := svc(t, s, "api").Build; !reflect.DeepEqual(got, want) {
				t.Errorf("build = %+v, want %+v", got, want)
			}
		}},
		{"image-only.yml", func(t *testing.T, s *Spec, notes []string) {
			web := svc(t, s, "web")
			if s.Project != "shop" || web.Image != "nginx:1.27" || web.Build != nil || web.Port != DefaultPort {
				t.Errorf("project %q image %q build %+v port %d", s.Project, web.Image, web.Build, web.Port)
			}
			if web.Route != nil {
				t.Errorf("route = %+v, want none for a service without ports", web.Route)
			}
			wantNote(t, notes, "service web: not routed")
		}},
		{"env-list.yml", func(t *testing.T, s *Spec, notes []string) {
			want := map[string]string{"LOG_LEVEL": "info", "API_KEY": "${API_KEY}"}
			if got := svc(t, s, "web").Env; !reflect.DeepEqual(got, want) {
				t.Errorf("env = %v, want %v", got, want)
			}
			wantNote(t, notes, "service web: environment API_KEY kept as written")
		}},
		{"env-map.yml", func(t *testing.T, s *Spec, _ []string) {
			want := map[string]string{"LOG_LEVEL": "info", "PORT": "8080"}
			if got := svc(t, s, "web").Env; !reflect.DeepEqual(got, want) {
				t.Errorf("env = %v, want %v", got, want)
			}
		}},
		{"depends-list.yml", func(t *testing.T, s *Spec, _ []string) {
			web := svc(t, s, "web")
			if !reflect.DeepEqual(web.DependsOn, []string{"api", "db"}) {
				t.Errorf("depends_on = %v", web.DependsOn)
			}
			// Image services are reached on loopback, not routed.
			if web.Port != 80 || web.Route != nil || !reflect.DeepEqual(web.Ports, []PortMapping{{Container: 80, Protocol: "tcp"}}) {
				t.Errorf("web: port %d route %+v ports %v, want 80 published on loopback, no route", web.Port, web.Route, web.Ports)
			}
			if api := svc(t, s, "api"); api.Port != 3000 || api.Route != nil || api.Health.Kind() != HealthTCP {
				t.Errorf("api: port %d route %+v health %+v, want 3000, no route, a tcp check", api.Port, api.Route, api.Health)
			}
			if got := s.Order; !reflect.DeepEqual(got, []string{"api", "db", "web"}) {
				t.Errorf("order = %v", got)
			}
		}},
		{"depends-map.yml", func(t *testing.T, s *Spec, _ []string) {
			if got := svc(t, s, "web").DependsOn; !reflect.DeepEqual(got, []string{"api"}) {
				t.Errorf("depends_on = %v", got)
			}
		}},
		{"replicas.yml", func(t *testing.T, s *Spec, _ []string) {
			if c := svc(t, s, "web").Count; c == nil || *c != 3 {
				t.Errorf("count = %v, want 3", c)
			}
		}},
		{"ports-long.yml", func(t *testing.T, s *Spec, _ []string) {
			web := svc(t, s, "web")
			if want := []PortMapping{{Host: 9090, Container: 9000, Protocol: "tcp"}}; web.Port != 9000 || web.Route != nil || !reflect.DeepEqual(web.Ports, want) {
				t.Errorf("port %d route %+v ports %v, want the container port 9000 published on 127.0.0.1:9090, no route", web.Port, web.Route, web.Ports)
			}
		}},
		{"healthcheck-curl.yml", func(t *testing.T, s *Spec, _ []string) {
			want := Health{Path: "/healthz", Interval: Duration(5e9), Timeout: Duration(2e9), Healthy: 1, Unhealthy: 4, Grace: Duration(10e9), Deadline: Duration(60e9)}
			if got := *svc(t, s, "web").Health; !reflect.DeepEqual(got, want) {
				t.Errorf("web health = %+v, want %+v", got, want)
			}
			api := svc(t, s, "api")
			if api.Health.Path != "/ready" || api.Port != 3000 {
				t.Errorf("api: health %q port %d, want /ready on the health check's port 3000", api.Health.Path, api.Port)
			}
		}},
		{"dayone.yml", func(t *testing.T, s *Spec, notes []string) {
			// A web app, an API, a worker, postgres and redis: every one can run.
			web, api, worker, db, redis := svc(t, s, "web"), svc(t, s, "api"), svc(t, s, "worker"), svc(t, s, "db"), svc(t, s, "redis")
			if web.Route == nil || !web.Route.Default || web.Build == nil || web.Build.Context != "." {
				t.Errorf("web: route %+v build %+v, want the default route built from context .", web.Route, web.Build)
			}
			if api.Route == nil || api.Route.Path != "/api" {
				t.Errorf("api: route %+v, want /api", api.Route)
			}
			if worker.Route != nil || worker.Health.Kind() != HealthNone {
				t.Errorf("worker: route %+v health %+v, want no route and health: none", worker.Route, worker.Health)
			}
			for _, is := range []*Service{db, redis} {
				if is.Route != nil || is.Health.Kind() != HealthTCP || is.Build != nil {
					t.Errorf("%s: route %+v health %+v build %+v, want an image service with a tcp check", is.Name, is.Route, is.Health, is.Build)
				}
			}
			if db.Port != 5432 || redis.Port != 6379 {
				t.Errorf("ports: db %d redis %d, want 5432 and 6379", db.Port, redis.Port)
			}
			if want := []Volume{{Source: "pgdata", Target: "/var/lib/postgresql/data"}, {Source: "./init", Target: "/docker-entrypoint-initdb.d", ReadOnly: true, Bind: true}}; !reflect.DeepEqual(db.Volumes, want) {
				t.Errorf("db volumes = %+v, want %+v", db.Volumes, want)
			}
			for k, want := range map[string]string{
				"web.API_URL":       "${BERTH_ROUTER_URL}/api",
				"api.DATABASE_URL":  "postgres://app:secret@127.0.0.1:15432/app?sslmode=disable",
				"api.REDIS_ADDR":    "127.0.0.1:6379",
				"worker.REDIS_HOST": "127.0.0.1",
			} {
				name, key, _ := strings.Cut(k, ".")
				if got := svc(t, s, name).Env[key]; got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			wantNote(t, notes, "service web: environment API_URL: http://api:8080 became ${BERTH_ROUTER_URL}/api")
			wantNote(t, notes, "service api: build arg GIT_SHA not converted")
			for _, n := range notes {
				if strings.Contains(n, "volumes not converted") {
					t.Errorf("note %q: the image service's volumes are converted", n)
				}
			}
		}},
		{"unconverted.yml", func(t *testing.T, s *Spec, notes []string) {
			if s.Project != "my-shop" {
				t.Errorf("project = %q", s.Project)
			}
			if web := svc(t, s, "web"); web.Port != DefaultPort || web.Image != "" || web.Env != nil {
				t.Errorf("web: port %d image %q env %v", web.Port, web.Image, web.Env)
			}
			db := svc(t, s, "db")
			if !reflect.DeepEqual(db.Health.Command, []string{"pg_isready"}) || db.Port != 5432 || db.Route != nil {
				t.Errorf("db: health %+v port %d route %+v, want the command check on 5432 and no route", db.Health, db.Port, db.Route)
			}
			if want := []Volume{{Source: "data", Target: "/var/lib/postgresql/data"}}; !reflect.DeepEqual(db.Volumes, want) {
				t.Errorf("db volumes = %+v, want %+v", db.Volumes, want)
			}
			if w := svc(t, s, "worker-1"); w.Health.Kind() != HealthNone {
				t.Errorf("worker-1 health = %+v, want none", w.Health)
			}
			for _, n := range []string{
				"service db: networks not converted",
				"service db: deploy.resources not converted",
				"service web: command not converted",
				"service web: image shop/web:latest not converted",
				"service web: environment FROM_SHELL not converted",
				"service worker-1: renamed from \"worker_1\"",
				"top-level networks not converted",
			} {
				wantNote(t, notes, n)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			file := filepath.Join("testdata", "compose", tc.file)
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			out, notes, err := ImportCompose(file, data)
			if err != nil {
				t.Fatalf("ImportCompose: %v", err)
			}
			if !strings.HasPrefix(string(out), "# Generated by `berth init` from "+tc.file) {
				t.Errorf("output does not start with the generated-from header:\n%s", out)
			}
			s, err := Parse(filepath.Join("testdata", "compose", "berth.yaml"), out)
			if err != nil {
				t.Fatalf("the converted spec does not load: %v\n%s", err, out)
			}
			tc.check(t, s, notes)
			if t.Failed() {
				t.Logf("converted spec:\n%s\nnotes:\n%s", out, strings.Join(notes, "\n"))
			}
		})
	}
}

func wantNote(t *testing.T, notes []string, prefix string) {
	t.Helper()
	for _, n := range notes {
		if strings.HasPrefix(n, prefix) {
			return
		}
	}
	t.Errorf("no note starting %q in:\n%s", prefix, strings.Join(notes, "\n"))
}

func TestImportComposeSharedPort(t *testing.T) {
	data := []byte("services:\n  a: {image: a, ports: ['80:80']}\n  b: {image: b, ports: ['81:80']}\n")
	out, _, err := ImportCompose(filepath.Join(t.TempDir(), "compose.yaml"), data)
	if err != nil {
		t.Fatalf("ImportCompose: %v\n%s", err, out)
	}
	sp, err := Parse("berth.yaml", out)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Services["a"].Port != 80 || sp.Services["b"].Port != 80 {
		t.Errorf("containers sharing port 80: a=%d b=%d, want both 80", sp.Services["a"].Port, sp.Services["b"].Port)
	}
}

func TestImportComposeInvalid(t *testing.T) {
	_, _, err := ImportCompose("compose.yaml", []byte("services:\n  web:\n    image: [\n"))
	if !errors.Is(err, ErrCompose) {
		t.Errorf("err = %v, want ErrCompose", err)
	}
}

func TestHTTPGet(t *testing.T) {
	cases := []struct {
		test []string
		want string // "" when not an HTTP GET
	}{
		{[]string{"CMD", "curl", "-f", "http://localhost:8080/health"}, "/health"},
		{[]string{"CMD-SHELL", "curl -f http://localhost/ || exit 1"}, "/"},
		{[]string{"CMD-SHELL", "wget --spider -q http://127.0.0.1:3000/ping?deep=1"}, "/ping?deep=1"},
		{[]string{"CMD", "curl", "-X", "POST", "http://localhost/health"}, ""},
		{[]string{"CMD", "curl", "http://example.com/health"}, ""},
		{[]string{"CMD", "pg_isready"}, ""},
	}
	for _, tc := range cases {
		u, ok := httpGet(tc.test)
		got := ""
		if ok {
			got = u.RequestURI()
		}
		if got != tc.want {
			t.Errorf("httpGet(%q) = %q, want %q", tc.test, got, tc.want)
		}
	}
}
