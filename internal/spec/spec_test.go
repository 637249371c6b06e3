package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata golden files and schema/berth.schema.json")

// parse parses an inline spec as berth.yaml in a fresh temp dir.
func parse(t *testing.T, src string) (*Spec, error) {
	t.Helper()
	return Parse(filepath.Join(t.TempDir(), "berth.yaml"), []byte(src))
}

func mustParse(t *testing.T, src string) *Spec {
	t.Helper()
	s, err := parse(t, src)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return s
}

// problemsOf returns the problems of a Parse error, failing if there is none.
func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %v", err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(err, ErrInvalid) = false")
	}
	out := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		if p.File != "berth.yaml" && !strings.HasSuffix(p.File, "berth.yaml") {
			t.Errorf("problem file = %q", p.File)
		}
		out[i] = strings.TrimPrefix(p.String(), p.File)
	}
	return out
}

func TestParse_MinimalServiceGetsDefaults(t *testing.T) {
	s := mustParse(t, "project: shop\nservices:\n  web: {run: ./web, route: {path: /}}\n")
	web := s.Services["web"]
	if web == nil {
		t.Fatal("no service web")
	}
	if web.Name != "web" || web.Line != 3 {
		t.Errorf("Name, Line = %q, %d; want web, 3", web.Name, web.Line)
	}
	wantHealth := Health{Path: "/health", Interval: Duration(time.Second), Timeout: Duration(time.Second),
		Healthy: 1, Unhealthy: 3, Grace: 0, Deadline: Duration(60 * time.Second)}
	if !reflect.DeepEqual(*web.Health, wantHealth) {
		t.Errorf("Health = %+v, want %+v", *web.Health, wantHealth)
	}
	d := web.Deploy
	if d.Strategy != "rolling" || *d.MaxSurge != 1 || *d.MaxUnavailable != 0 || d.Drain.Std() != 10*time.Second || d.CircuitBreaker != 3 {
		t.Errorf("Deploy = %+v", d)
	}
	wantAnalysis := Analysis{Max5xxRate: 5, MaxP99: 0, MinRequests: 20, Window: Duration(10 * time.Second)}
	if !reflect.DeepEqual(*d.Analysis, wantAnalysis) {
		t.Errorf("Analysis = %+v, want %+v", *d.Analysis, wantAnalysis)
	}
	if *web.Count != 1 || web.Port != 0 || web.Dir != "." {
		t.Errorf("Count, Port, Dir = %d, %d, %q; want 1, 0 (process), .", *web.Count, web.Port, web.Dir)
	}
	if s.Engine != "auto" || s.Listen != DefaultListen {
		t.Errorf("Engine, Listen = %q, %q", s.Engine, s.Listen)
	}
	if !reflect.DeepEqual(s.Order, []string{"web"}) {
		t.Errorf("Order = %v", s.Order)
	}
	if !filepath.IsAbs(s.Root) || filepath.Base(s.Path) != "berth.yaml" || filepath.Dir(s.Path) != s.Root {
		t.Errorf("Path, Root = %q, %q", s.Path, s.Root)
	}
}

func TestParse_DerivedDefaults(t *testing.T) {
	s := mustParse(t, `
project: shop
services:
  img: {image: example/img:1}
  built: {build: {target: prod}}
  can: {run: x, deploy: {strategy: canary}}
  bg: {run: x, deploy: {strategy: bluegreen}}
  nopause: {run: x, deploy: {strategy: canary, pause: 0s, linear: {step: 10%, every: 1m}}}
`)
	if p := s.Services["img"].Port; p != DefaultPort {
		t.Errorf("image service port = %d, want %d", p, DefaultPort)
	}
	if b := s.Services["built"].Build; !b.Docker() || b.Context != "." || b.Dockerfile != "Dockerfile" || b.Target != "prod" {
		t.Errorf("docker build = %+v", b)
	}
	can := s.Services["can"].Deploy
	if !reflect.DeepEqual(can.Steps, builtinSteps) || can.Pause != builtinPause {
		t.Errorf("canary defaults: steps %v pause %v", can.Steps, can.Pause)
	}
	if bg := s.Services["bg"].Deploy.Preview; bg == nil || bg.Header != DefaultPreviewHeader {
		t.Errorf("bluegreen preview = %+v", bg)
	}
	np := s.Services["nopause"].Deploy
	if np.Pause != 0 || len(np.Steps) != 0 || np.Linear.Step != 10 || np.Linear.Every.Std() != time.Minute {
		t.Errorf("explicit pause 0 and linear kept: %+v %+v", np, np.Linear)
	}
}

func TestParse_DefaultsLayerFieldByField(t *testing.T) {
	s := mustParse(t, `
project: shop
defaults:
  count: 2
  health: {path: /ready, grace: 5s}
  deploy: {strategy: canary, drain: 3s}
  env: {A: "1", B: "2"}
services:
  a: {run: x}
  b:
    run: x
    count: 0
    health: {grace: 0s, timeout: 2s}
    deploy: {drain: 1s}
    env: {B: "3", C: 4}
`)
	a, b := s.Services["a"], s.Services["b"]
	if *a.Count != 2 || a.Health.Path != "/ready" || a.Health.Grace.Std() != 5*time.Second || a.Deploy.Strategy != "canary" {
		t.Errorf("a did not get defaults: count %d health %+v deploy %+v", *a.Count, a.Health, a.Deploy)
	}
	if *b.Count != 0 {
		t.Errorf("explicit count 0 lost: %d", *b.Count)
	}
	if b.Health.Path != "/ready" || b.Health.Grace != 0 || b.Health.Timeout.Std() != 2*time.Second || b.Health.Unhealthy != 3 {
		t.Errorf("b health = %+v", b.Health)
	}
	if b.Deploy.Strategy != "canary" || b.Deploy.Drain.Std() != time.Second {
		t.Errorf("b deploy = %+v", b.Deploy)
	}
	if want := map[string]string{"A": "1", "B": "3", "C": "4"}; !reflect.DeepEqual(b.Env, want) {
		t.Errorf("b env = %v, want %v", b.Env, want)
	}
	if a.Env["B"] != "2" {
		t.Errorf("a env = %v: defaults shared a map with b", a.Env)
	}
}

func TestParse_DirDefaultsToServicesDirWhenPresent(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "services", "api"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := Parse(filepath.Join(dir, "berth.yaml"), []byte("project: p\nservices:\n  api: {run: x}\n  web: {run: y}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Services["api"].Dir != "services/api" || s.Services["web"].Dir != "." {
		t.Errorf("dirs = %q, %q", s.Services["api"].Dir, s.Services["web"].Dir)
	}
}

func TestParse_Order(t *testing.T) {
	s := mustParse(t, `
project: p
services:
  web: {run: x, depends_on: [api, auth]}
  api: {run: x, depends_on: [db]}
  auth: {run: x}
  db: {run: x}
  zed: {run: x}
`)
	want := []string{"auth", "db", "api", "web", "zed"}
	if !reflect.DeepEqual(s.Order, want) {
		t.Errorf("Order = %v, want %v", s.Order, want)
	}
}

func TestParse_Errors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // each must be one of the problems, file name stripped
	}{
		{"malformed yaml", "project: p\nservices:\n  web: {run: x\n  api: y\n",
			[]string{":3: invalid YAML: did not find expected ',' or '}'"}},
		{"empty", "", []string{":1: project: the spec is empty"}},
		{"top level not a mapping", "- a\n", []string{":1:1: expected a mapping of keys at the top level"}},
		{"indentation", "project: p\nservices:\n  web:\n    run: x\n   bad: 1\n",
			[]string{":5: invalid YAML: did not find expected key"}},
		{"scanner error", "project: p\nservices:\n  web:\n    run: x: y\n",
			[]string{":4: invalid YAML: mapping values are not allowed in this context"}},
		{"unknown key did you mean", "project: p\nservices:\n  web:\n    run: x\n    heath: {path: /}\n",
			[]string{`:5:5: services.web.heath: unknown key "heath" (did you mean "health"?)`}},
		{"unknown top-level key", "project: p\nservice:\n  web: {run: x}\n",
			[]string{`:2:1: service: unknown key "service" (did you mean "services"?)`}},
		{"unknown key no suggestion", "project: p\nservices:\n  web: {run: x, zzzzzz: 1}\n",
			[]string{`:3:17: services.web.zzzzzz: unknown key "zzzzzz"`}},
		{"unknown deep key", "project: p\nservices:\n  web:\n    run: x\n    deploy:\n      analysis: {max_5xx: 1%}\n",
			[]string{`:6:18: services.web.deploy.analysis.max_5xx: unknown key "max_5xx" (did you mean "max_5xx_rate"?)`}},
		{"duplicate key", "project: p\nservices:\n  web: {run: x}\n  web: {run: y}\n",
			[]string{`:4:3: services.web: duplicate key "web" (first at line 3)`}},
		{"wrong type int", "project: p\nservices:\n  web: {run: x, count: three}\n",
			[]string{`:3:24: services.web.count: expected an integer, got "three"`}},
		{"wrong type mapping", "project: p\nservices:\n  web: {run: x, health: fast}\n",
			[]string{`:3:25: services.web.health: expected a mapping or none, got "fast"`}},
		{"wrong type list", "project: p\nservices:\n  web: {run: x, depends_on: api}\n",
			[]string{`:3:29: services.web.depends_on: expected a list, got "api"`}},
		{"wrong type string", "project: p\nservices:\n  web: {run: [a, b]}\n",
			[]string{`:3:14: services.web.run: expected a string, got a list`}},
		{"wrong type bool", "project: p\nservices:\n  web: {run: x, route: {path: /, default: yes please}}\n",
			[]string{`:3:43: services.web.route.default: expected true or false, got "yes please"`}},
		{"missing project", "services:\n  web: {run: x}\n",
			[]string{":1: project: missing project name (add `project: <name>` at the top)"}},
		{"no run", "project: p\nservices:\n  web:\n    route: {path: /}\n",
			[]string{":3:3: services.web: no way to run this service: it has no run, image or docker build (add `run: <command>`)"}},
		{"null service", "project: p\nservices:\n  web:\n",
			[]string{":3:3: services.web: no way to run this service"}},
		{"invalid service name", "project: p\nservices:\n  Web_1: {run: x}\n",
			[]string{`:3:3: services.Web_1: invalid name "Web_1" (use lower-case letters`}},
		{"invalid env name", "project: p\nservices:\n  web: {run: x, env: {1X: a}}\n",
			[]string{`:3:23: services.web.env.1X: invalid name "1X"`}},
		{"negative count", "project: p\nservices:\n  web: {run: x, count: -1}\n",
			[]string{":3:24: services.web.count: must be at least 0, got -1"}},
		{"bad duration", "project: p\nservices:\n  web: {run: x, health: {interval: 10}}\n",
			[]string{`:3:36: services.web.health.interval: duration "10" has no unit (write e.g. 10s)`}},
		{"negative duration", "project: p\nservices:\n  web: {run: x, deploy: {drain: -1s}}\n",
			[]string{`:3:33: services.web.deploy.drain: duration "-1s" is negative`}},
		{"bad percent", "project: p\nservices:\n  web: {run: x, deploy: {analysis: {max_5xx_rate: lots}}}\n",
			[]string{`:3:51: services.web.deploy.analysis.max_5xx_rate: invalid percentage "lots" (write e.g. 10%)`}},
		{"percent over 100", "project: p\nservices:\n  web: {run: x, deploy: {analysis: {max_5xx_rate: 150%}}}\n",
			[]string{`services.web.deploy.analysis.max_5xx_rate: percentage "150%" is outside 0%..100%`}},
		{"bad strategy", "project: p\nservices:\n  web: {run: x, deploy: {strategy: canery}}\n",
			[]string{`:3:36: services.web.deploy.strategy: invalid value "canery" (did you mean "canary"?)`}},
		{"bad engine", "project: p\nengine: kubernetes\nservices:\n  web: {run: x}\n",
			[]string{`:2:9: engine: invalid value "kubernetes" (one of auto, process, docker)`}},
		{"steps not increasing", "project: p\nservices:\n  web:\n    run: x\n    deploy:\n      strategy: canary\n      steps: [10%, pause, 5%, 100%]\n",
			[]string{":7:27: services.web.deploy.steps[2]: canary steps must increase: 5% follows 10%"}},
		{"steps not ending at 100", "project: p\nservices:\n  web:\n    run: x\n    deploy:\n      strategy: canary\n      steps: [10%, 50%, pause]\n",
			[]string{":7:20: services.web.deploy.steps[1]: canary steps must end at 100% (add 100% as the last step)"}},
		{"bad step", "project: p\nservices:\n  web: {run: x, deploy: {strategy: canary, steps: [half, 100%]}}\n",
			[]string{`:3:52: services.web.deploy.steps[0]: invalid canary step "half"`}},
		{"steps without canary", "project: p\nservices:\n  web: {run: x, deploy: {steps: [100%]}}\n",
			[]string{":3:26: services.web.deploy.steps: steps only apply to strategies canary and bluegreen (add `strategy: canary`)"}},
		{"rolling cannot progress", "project: p\nservices:\n  web: {run: x, deploy: {max_surge: 0}}\n",
			[]string{":3:26: services.web.deploy.max_surge: max_surge and max_unavailable are both 0"}},
		{"route clash", "project: p\nservices:\n  web:\n    run: x\n    route: {path: /api}\n  api:\n    run: y\n    route: {path: /api/}\n",
			[]string{
				":5:5: services.web.route: route clash: path /api is also routed to api (line 6)",
				":8:5: services.api.route: route clash: path /api is also routed to web (line 3)",
			}},
		{"route clash by host", "project: p\nservices:\n  a: {run: x, route: {host: A.example.com}}\n  b: {run: x, route: {hosts: [x.example.com, a.example.com]}}\n",
			[]string{
				":3:15: services.a.route: route clash: host a.example.com path / is also routed to b (line 4)",
				":4:15: services.b.route: route clash: host a.example.com path / is also routed to a (line 3)",
			}},
		{"two default routes", "project: p\nservices:\n  a: {run: x, route: {default: true}}\n  b: {run: x, route: {default: true}}\n",
			[]string{
				":3:23: services.a.route.default: more than one default route: also b (line 4)",
				":4:23: services.b.route.default: more than one default route: also a (line 3)",
			}},
		{"route matches nothing", "project: p\nservices:\n  a: {run: x, route: {priority: 3}}\n",
			[]string{":3:15: services.a.route: route matches nothing"}},
		{"port clash", "project: p\nservices:\n  a: {run: a, port: 9000}\n  b: {run: b, port: 9000}\n",
			[]string{
				":3:15: services.a.port: port clash: port 9000 is also used by b (line 4)",
				":4:15: services.b.port: port clash: port 9000 is also used by a (line 3)",
			}},
		{"port is listen port", "project: p\nlisten: :9000\nservices:\n  a: {run: a, port: 9000}\n",
			[]string{":4:15: services.a.port: port clash: port 9000 is the router's listen port (listen: :9000)"}},
		{"port out of range", "project: p\nservices:\n  a: {image: a, port: 70000}\n",
			[]string{":3:23: services.a.port: must be at most 65535, got 70000"}},
		{"bad listen", "project: p\nlisten: localhost\nservices:\n  a: {run: x}\n",
			[]string{`:2:1: listen: invalid listen address "localhost"`}},
		{"unknown dependency", "project: p\nservices:\n  web: {run: x, depends_on: [catalgo]}\n  catalog: {run: y}\n",
			[]string{`:3:30: services.web.depends_on[0]: unknown service "catalgo" (did you mean "catalog"?)`}},
		{"dependency cycle", "project: p\nservices:\n  a: {run: x, depends_on: [b]}\n  b: {run: x, depends_on: [c]}\n  c: {run: x, depends_on: [a]}\n",
			[]string{":3:15: services.a.depends_on: dependency cycle: a → b → c → a (remove one of these depends_on entries)"}},
		{"self dependency", "project: p\nservices:\n  a: {run: x, depends_on: [a]}\n",
			[]string{":3:28: services.a.depends_on[0]: a service cannot depend on itself"}},
		{"empty secret", "project: p\nservices:\n  web:\n    run: x\n    secrets: {API_KEY: \"\"}\n",
			[]string{":5:15: services.web.secrets.API_KEY: empty secret reference (write a secret name, ssm:/path or secretsmanager:name#key)"}},
		{"unknown secret provider", "project: p\nservices:\n  web:\n    run: x\n    secrets: {API_KEY: \"vault:kv/api\"}\n",
			[]string{`:5:15: services.web.secrets.API_KEY: unknown secret provider "vault" (write a secret name, ssm:/path or secretsmanager:name#key)`}},
		{"misspelt secret provider", "project: p\nservices:\n  web:\n    run: x\n    secrets: {API_KEY: \"smm:/a\"}\n",
			[]string{`unknown secret provider "smm" (did you mean "ssm"?)`}},
		{"bad ssm ref", "project: p\nservices:\n  web:\n    run: x\n    secrets: {API_KEY: \"ssm:api\"}\n",
			[]string{`:5:15: services.web.secrets.API_KEY: invalid SSM reference "ssm:api" (write ssm:/path/to/parameter)`}},
		{"empty config", "project: p\nservices:\n  web:\n    run: x\n    config: {FLAGS: }\n",
			[]string{":5:14: services.web.config.FLAGS: empty config reference"}},
		{"notify not http", "project: p\nservices:\n  web: {run: x}\nnotify:\n  - url: ftp://example.com/hook\n",
			[]string{`:5:5: notify[0].url: notify URL "ftp://example.com/hook" is not an http(s) URL`}},
		{"error in defaults reported once at defaults", "project: p\ndefaults:\n  deploy: {strategy: canary, steps: [50%]}\nservices:\n  a: {run: x}\n  b: {run: x}\n",
			[]string{":3:38: defaults.deploy.steps[0]: canary steps must end at 100%"}},
		{"dir does not exist", "project: p\nservices:\n  a: {run: x, dir: nowhere}\n",
			[]string{`:3:15: services.a.dir: directory "nowhere" does not exist`}},
		{"dir leaves project", "project: p\nservices:\n  a: {run: x, dir: ../other}\n",
			[]string{`:3:15: services.a.dir: path "../other" leaves the project`}},
		{"no services", "project: p\n", []string{":1: services: no services (add a `services:` mapping or `services_from: <glob>`)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.src)
			got := problemsOf(t, err)
			for _, w := range tt.want {
				found := false
				for _, g := range got {
					if strings.HasPrefix(g, w) || (!strings.HasPrefix(w, ":") && strings.Contains(g, w)) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing problem %q\ngot:\n%s", w, strings.Join(got, "\n"))
				}
			}
			if strings.HasPrefix(tt.name, "error in defaults") && len(got) != 1 {
				t.Errorf("want the defaults problem once, got:\n%s", strings.Join(got, "\n"))
			}
		})
	}
}

func TestParse_ReportsEveryProblemInFileOrder(t *testing.T) {
	src := `project: p
services:
  web:
    run: x
    heath: {path: /}
    count: -2
  api:
    image: api
    depends_on: [wbe]
    deploy: {strategy: canary, steps: [20%, 10%]}
  Bad: {run: x}
`
	_, err := parse(t, src)
	got := problemsOf(t, err)
	want := []string{
		`:5:5: services.web.heath: unknown key "heath" (did you mean "health"?)`,
		`:6:12: services.web.count: must be at least 0, got -2`,
		`:9:18: services.api.depends_on[0]: unknown service "wbe" (did you mean "web"?)`,
		`:10:45: services.api.deploy.steps[1]: canary steps must increase: 10% follows 20%`,
		`:10:45: services.api.deploy.steps[1]: canary steps must end at 100% (add 100% as the last step)`,
		`:11:3: services.Bad: invalid name "Bad" (use lower-case letters, digits and '-', starting with a letter, at most 63 characters)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(err.Error(), "berth.yaml:5:5: services.web.heath: unknown key") {
		t.Errorf("Error() lacks file:line:col: %s", err)
	}
	if n := strings.Count(err.Error(), "\n"); n != len(want)-1 {
		t.Errorf("Error() has %d lines, want one per problem", n+1)
	}
}

func TestParse_YAMLAnchorsAndMergeKeys(t *testing.T) {
	s := mustParse(t, `
project: p
x-health: &health {path: /ready, interval: 5s}
services:
  a:
    run: x
    health:
      <<: *health
      interval: 2s
`)
	h := s.Services["a"].Health
	if h.Path != "/ready" || h.Interval.Std() != 2*time.Second {
		t.Errorf("health = %+v", h)
	}
}

func TestLoad_MissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "berth.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load missing file: %v, want os.ErrNotExist", err)
	}
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

func TestLoad_ServicesFrom(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "microservices", "catalog", "Dockerfile"), "FROM scratch\n")
	writeFile(t, filepath.Join(dir, "microservices", "cart", "Dockerfile"), "FROM scratch\n")
	writeFile(t, filepath.Join(dir, "microservices", "docs", "README.md"), "no Dockerfile\n")
	writeFile(t, filepath.Join(dir, "berth.yaml"), `project: shop
services_from: microservices/*
shared: [lib]
services:
  cart:
    count: 3
    build: {target: prod}
    route: {path: /cart}
    shared: [proto]
  web: {run: ./web}
`)
	s, err := Load(filepath.Join(dir, "berth.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Order; !reflect.DeepEqual(got, []string{"cart", "catalog", "web"}) {
		t.Fatalf("services = %v", got)
	}
	cat := s.Services["catalog"]
	if cat.Dir != "microservices/catalog" || cat.Line != 2 || *cat.Count != 1 || cat.Port != DefaultPort ||
		!reflect.DeepEqual(cat.Build, &Build{Context: "microservices/catalog", Dockerfile: "Dockerfile"}) {
		t.Errorf("catalog = %+v build %+v", cat, cat.Build)
	}
	cart := s.Services["cart"]
	if cart.Dir != "microservices/cart" || cart.Line != 5 || *cart.Count != 3 || cart.Route.Path != "/cart" ||
		!reflect.DeepEqual(cart.Build, &Build{Context: "microservices/cart", Dockerfile: "Dockerfile", Target: "prod"}) ||
		!reflect.DeepEqual(cart.Shared, []string{"proto"}) {
		t.Errorf("cart = %+v build %+v", cart, cart.Build)
	}
	if !reflect.DeepEqual(s.Shared, []string{"lib"}) {
		t.Errorf("shared = %v", s.Shared)
	}
}

func TestLoad_ServicesFromProblems(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a", "Bad_Name", "Dockerfile"), "FROM scratch\n")
	writeFile(t, filepath.Join(dir, "berth.yaml"), "project: p\nservices_from: a/*\n")
	_, err := Load(filepath.Join(dir, "berth.yaml"))
	got := strings.Join(problemsOf(t, err), "\n")
	for _, w := range []string{
		":2:1: services_from: directory a/Bad_Name does not make a valid service name",
		`:1: services: no services (services_from "a/*" matched no directory holding a Dockerfile)`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
}

func TestForEnvironment(t *testing.T) {
	s := mustParse(t, `
project: p
environments:
  dev: {engine: process}
  prod:
    engine: docker
    registry: ecr.example.com/p
    listen: 0.0.0.0:80
    env: {LOG_LEVEL: info, REGION: eu}
services:
  a: {run: x, env: {LOG_LEVEL: debug, OWN: "1"}}
  b: {image: b}
`)
	prod, err := s.ForEnvironment("prod")
	if err != nil {
		t.Fatal(err)
	}
	if prod.Engine != "docker" || prod.Registry != "ecr.example.com/p" || prod.Listen != "0.0.0.0:80" {
		t.Errorf("prod = engine %q registry %q listen %q", prod.Engine, prod.Registry, prod.Listen)
	}
	if want := map[string]string{"LOG_LEVEL": "info", "REGION": "eu", "OWN": "1"}; !reflect.DeepEqual(prod.Services["a"].Env, want) {
		t.Errorf("a env = %v, want %v", prod.Services["a"].Env, want)
	}
	if want := map[string]string{"LOG_LEVEL": "info", "REGION": "eu"}; !reflect.DeepEqual(prod.Services["b"].Env, want) {
		t.Errorf("b env = %v, want %v", prod.Services["b"].Env, want)
	}
	if s.Services["a"].Env["LOG_LEVEL"] != "debug" || s.Engine != "auto" {
		t.Errorf("ForEnvironment changed the original")
	}
	if prod.Services["a"].Line != s.Services["a"].Line || prod.Root != s.Root {
		t.Errorf("copy lost Line or Root")
	}
	dev, err := s.ForEnvironment("dev")
	if err != nil || dev.Engine != "process" || dev.Registry != "" {
		t.Errorf("dev = %+v, %v", dev, err)
	}
	_, err = s.ForEnvironment("prd")
	if !errors.Is(err, ErrUnknownEnvironment) || !strings.Contains(err.Error(), `did you mean "prod"?`) {
		t.Errorf("unknown environment error = %v", err)
	}
}

func TestSpec_JSONRoundTrip(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "full", "berth.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Spec
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	back.Path, back.Root = s.Path, s.Root
	for name, svc := range back.Services {
		svc.Line = s.Services[name].Line
	}
	if !reflect.DeepEqual(&back, s) {
		b2, _ := json.Marshal(&back)
		t.Errorf("round trip differs:\n%s\n%s", b, b2)
	}
}

func TestSpec_Golden(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "full", "berth.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "full", "golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("normalised spec differs from %s (run go test ./internal/spec -update and review the diff):\n%s", golden, got)
	}
}

func TestParse_ContainersMayShareAPort(t *testing.T) {
	src := "project: p\nlisten: 127.0.0.1:80\nservices:\n  a: {image: a, port: 80}\n  b: {build: {context: .}, port: 80}\n"
	if _, err := Parse("berth.yaml", []byte(src)); err != nil {
		t.Fatalf("containers publish their own port on a free loopback port, so a shared port is fine: %v", err)
	}
}
