package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
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

// TestMalformedRequestsAreRefused: malformed deploy, rollback and scale
// requests to a running control plane (missing config sections, wrong
// types, unknown services, hostile names, negative or huge counts, huge
// bodies) each get a 4xx naming the problem; the daemon keeps serving,
// nothing changes, and a restart afterwards comes up with the service
// still healthy.
func TestMalformedRequestsAreRefused(t *testing.T) {
	p := deployed(t, goodSpec)
	before := p.service("catalog")
	cfg := func(service string) string {
		return `{"service":{"name":"catalog","run":"/bin/true",` + service + `}}`
	}
	deployOf := func(config string) string {
		return `{"commit":"x","releases":[{"service":"catalog","commit":"x","config":` + config + `}]}`
	}
	const sections = `"health":{"path":"/health"},"deploy":{"strategy":"rolling"}`
	huge := `{"commit":"` + strings.Repeat("x", 9<<20) + `"}`
	cases := []struct {
		name, path, body string
		code             int
		want             string
	}{
		{"deploy without health", "/v1/deploy", deployOf(cfg(`"deploy":{}`)), 400, "service.health"},
		{"deploy without deploy", "/v1/deploy", deployOf(cfg(`"health":{}`)), 400, "service.deploy"},
		{"deploy without config", "/v1/deploy", `{"commit":"x","releases":[{"service":"catalog","commit":"x"}]}`, 400, "config"},
		{"deploy without service", "/v1/deploy", deployOf(`{"root":"/tmp"}`), 400, "service"},
		{"deploy wrong type", "/v1/deploy", deployOf(cfg(sections + `,"count":"many"`)), 400, "service.count"},
		{"deploy wrong body type", "/v1/deploy", `{"releases":"catalog"}`, 400, "releases"},
		{"deploy hostile name", "/v1/deploy", `{"commit":"x","releases":[{"service":"../../x","commit":"x","config":` + cfg(sections) + `}]}`, 400, "../../x"},
		{"deploy negative count", "/v1/deploy", deployOf(cfg(sections + `,"count":-1`)), 400, "service.count"},
		{"deploy huge count", "/v1/deploy", deployOf(cfg(sections + `,"count":10000`)), 400, "service.count"},
		{"deploy bad strategy", "/v1/deploy", deployOf(cfg(`"health":{},"deploy":{"strategy":"yolo"}`)), 400, "service.deploy.strategy"},
		{"deploy nothing", "/v1/deploy", `{"commit":"x","releases":[]}`, 400, "releases"},
		{"deploy not json", "/v1/deploy", `{"commit":`, 400, "invalid request body"},
		{"deploy huge body", "/v1/deploy", huge, 413, "larger than"},
		{"rollback hostile name", "/v1/rollback", `{"service":"../../x"}`, 400, "../../x"},
		{"rollback unknown service", "/v1/rollback", `{"service":"nosuch"}`, 404, "nosuch"},
		{"rollback negative release", "/v1/rollback", `{"service":"catalog","to":-1}`, 400, "to"},
		{"rollback missing release", "/v1/rollback", `{"service":"catalog","to":999}`, 404, "999"},
		{"rollback wrong type", "/v1/rollback", `{"service":"catalog","to":"one"}`, 400, "to"},
		{"rollback nothing named", "/v1/rollback", `{}`, 400, "name a service"},
		{"rollback huge body", "/v1/rollback", huge, 413, "larger than"},
		{"scale negative", "/v1/scale", `{"counts":{"catalog":-1}}`, 400, "counts.catalog"},
		{"scale huge", "/v1/scale", `{"counts":{"catalog":10000}}`, 400, "counts.catalog"},
		{"scale hostile name", "/v1/scale", `{"counts":{"../../x":1}}`, 400, "../../x"},
		{"scale unknown service", "/v1/scale", `{"counts":{"nosuch":1}}`, 404, "nosuch"},
		{"scale wrong type", "/v1/scale", `{"counts":{"catalog":"ten"}}`, 400, "counts"},
		{"scale nothing", "/v1/scale", `{"counts":{}}`, 400, "counts"},
		{"scale huge body", "/v1/scale", huge, 413, "larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := p.apiCode(http.MethodPost, tc.path, tc.body)
			if code != tc.code {
				t.Errorf("POST %s: %d, want %d: %s", tc.path, code, tc.code, body)
			}
			var e api.Error
			if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, tc.want) {
				t.Errorf("POST %s: error %q does not name %q (body %.200s)", tc.path, e.Error, tc.want, body)
			}
			if _, err := p.status(); err != nil {
				t.Fatalf("the daemon stopped answering after %s: %v", tc.name, err)
			}
		})
	}
	after := p.service("catalog")
	if after.Release != before.Release || after.Desired != before.Desired || after.Healthy != 2 {
		t.Fatalf("bad requests changed the service: before %+v, after %+v", before, after)
	}
	if out := p.mustBerth("history", "catalog", "-o", "json"); strings.Count(out, `"number"`) != 1 {
		t.Fatalf("a bad request made a release:\n%s", out)
	}
	p.stopServe()
	p.startServe()
	p.waitFor("catalog healthy after the restart", 30*time.Second, func() bool {
		s := p.service("catalog")
		return s.Release == before.Release && s.Healthy == 2
	})
}

// apiCode calls the control plane's API and returns the status code and
// body, whatever the code.
func (p *project) apiCode(method, path, body string) (int, string) {
	p.t.Helper()
	req, err := http.NewRequest(method, "http://berth"+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	p.record(method+" "+path, fmt.Sprintf("%d %.300s", resp.StatusCode, b))
	return resp.StatusCode, string(b)
}
