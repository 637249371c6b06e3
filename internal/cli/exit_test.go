package cli

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/api"
)

const exitSpec = `project: shop
environments:
  dev: {engine: process}
  prod: {engine: docker}
services:
  catalog: {run: ./c, route: {path: /catalog}}
  orders: {run: ./o, route: {path: /orders}}
  web: {run: ./w, route: {path: /}}
`

// specDir writes exitSpec as berth.yaml in a temp dir and returns its path.
func specDir(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "berth.yaml")
	if err := os.WriteFile(p, []byte(exitSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRun_BadInputExits2(t *testing.T) {
	t.Setenv("BERTH_API", "")
	spec := specDir(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus" for "berth"`},
		{[]string{"stauts"}, `(did you mean "status"?)`},
		{[]string{"status", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"status", "-o"}, "flag needs an argument"},
		{[]string{"version", "extra"}, `unknown command "extra" for "berth version"`},
		{[]string{"history"}, "accepts 1 arg(s), received 0"},
		{[]string{"secret", "bogus"}, `unknown command "bogus" for "berth secret"`},
		{[]string{"-f", spec, "deploy", "catalgo"}, `no service "catalgo" in ` + spec + ` (did you mean "catalog"?)`},
		{[]string{"-f", spec, "--env", "prdo", "deploy"}, `did you mean "prod"?`},
		{[]string{"-f", filepath.Join(t.TempDir(), "missing.yaml"), "status"}, "no spec at "},
		{[]string{"-f", filepath.Join(t.TempDir(), "missing.yaml"), "history", "web"}, "no spec at "},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, stderr)
			}
			if strings.Contains(stderr, "dial") || strings.Contains(stderr, "socket") {
				t.Errorf("stderr talks about the socket:\n%s", stderr)
			}
		})
	}
}

func TestRun_NoControlPlaneExits3(t *testing.T) {
	t.Setenv("BERTH_API", "")
	code, _, stderr := runCLI(t, "-f", specDir(t), "status")
	if code != exitUnreach || !strings.Contains(stderr, "start one with `berth up`") {
		t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUnreach, stderr)
	}
}

// fakeAPI answers every request with status and an api.Error.
func fakeAPI(t *testing.T, status int, e api.Error) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(e)
	}))
	t.Cleanup(srv.Close)
	// A token goes over HTTPS only, to the pinned CA.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BERTH_API", srv.URL)
	t.Setenv("BERTH_API_CA", ca)
	t.Setenv("BERTH_TOKEN", "t")
}

func TestRun_UnknownServiceFromTheControlPlaneExits2WithDidYouMean(t *testing.T) {
	fakeAPI(t, http.StatusNotFound, api.Error{Error: `unknown service "ordres"`, Hint: "run `berth status` to see the services berth knows"})
	spec := specDir(t)
	for _, args := range [][]string{
		{"history", "ordres"},
		{"rollback", "ordres"},
		{"promote", "ordres"},
		{"scale", "ordres=2"},
	} {
		code, _, stderr := runCLI(t, append([]string{"-f", spec}, args...)...)
		if code != exitUsage || !strings.Contains(stderr, `no service "ordres"`) || !strings.Contains(stderr, `(did you mean "orders"?)`) {
			t.Errorf("%v: exit %d; stderr:\n%s", args, code, stderr)
		}
	}
}

func TestRun_RefusedRequestsSayWhyWithoutJargon(t *testing.T) {
	fakeAPI(t, http.StatusBadRequest, api.Error{Error: "bad request: count of web must not be negative"})
	code, _, stderr := runCLI(t, "-f", specDir(t), "scale", "web=2")
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	if strings.Contains(stderr, "bad request") || !strings.Contains(stderr, "count of web must not be negative") {
		t.Errorf("stderr:\n%s", stderr)
	}
}

func TestHelp_BooleanFlagsShowNoPlaceholder(t *testing.T) {
	root := newRootCommand(&globals{})
	walk(root, func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if name, _ := pflag.UnquoteUsage(f); f.Value.Type() == "bool" && name != "" {
				t.Errorf("%s --%s renders as taking %q: %s", c.CommandPath(), f.Name, name, f.Usage)
			}
		})
	})
	// The two the issue saw.
	_, out, _ := runCLI(t, "deploy", "--help")
	if strings.Contains(out, "--changed berth plan") || !strings.Contains(out, "--changed  ") {
		t.Errorf("deploy --help:\n%s", out)
	}
	_, out, _ = runCLI(t, "logs", "--help")
	if strings.Contains(out, "--follow logs") {
		t.Errorf("logs --help:\n%s", out)
	}
}

func TestCompletion_OffersServicesAndEnvironments(t *testing.T) {
	t.Setenv("BERTH_API", "")
	spec := specDir(t)
	complete := func(args ...string) []string {
		t.Helper()
		code, out, stderr := runCLI(t, append([]string{cobra.ShellCompRequestCmd, "-f", spec}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasPrefix(l, ":") {
				got = append(got, l)
			}
		}
		return got
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"history", ""}, "catalog orders web"},
		{[]string{"deploy", "web", ""}, "catalog orders web"},
		{[]string{"logs", ""}, "catalog orders web"},
		{[]string{"scale", ""}, "catalog= orders= web="},
		{[]string{"status", "--env", ""}, "dev prod"},
		{[]string{"history", "web", ""}, ""},
		{[]string{"deploy", "--services", "web,"}, "web,catalog web,orders web,web"},
	} {
		if got := strings.Join(complete(tc.args...), " "); got != tc.want {
			t.Errorf("complete %v = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestVersionLine(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v0.9.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		version, commit string
		bi              *debug.BuildInfo
		want            string
	}{
		{"v1.2.3", "deadbeef", bi, "berth v1.2.3 (commit deadbeef, modified)"},
		{"", "", bi, "berth v0.9.0 (commit abc123, modified)"},
		{"", "", &debug.BuildInfo{}, "berth (devel) (commit unknown)"},
		{"", "", nil, "berth (devel) (commit unknown)"},
	} {
		if got := versionLine(tc.version, tc.commit, tc.bi); got != tc.want {
			t.Errorf("versionLine(%q, %q) = %q, want %q", tc.version, tc.commit, got, tc.want)
		}
	}
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "berth ") || !strings.Contains(out, "(commit ") {
		t.Errorf("berth version: exit %d, %q", code, out)
	}
}

func TestScale_RefusesCountsAboveMaxCountBeforeAsking(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the control plane was asked: %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("BERTH_API", srv.URL)
	spec := specDir(t)
	code, _, stderr := runCLI(t, "-f", spec, "scale", "web=2", "orders=101")
	if code != exitUsage || !strings.Contains(stderr, "orders=101: orders may run at most 100 tasks (max_count, "+spec+":7)") {
		t.Errorf("exit %d; stderr:\n%s", code, stderr)
	}
	code, _, stderr = runCLI(t, "-f", spec, "scale", "ordres=1")
	if code != exitUsage || !strings.Contains(stderr, `(did you mean "orders"?)`) {
		t.Errorf("exit %d; stderr:\n%s", code, stderr)
	}
}

func TestLoadSpec_PrintsWarnings(t *testing.T) {
	p := filepath.Join(t.TempDir(), "berth.yaml")
	if err := os.WriteFile(p, []byte("project: p\nservices:\n  a: {run: x, deploy: {strategy: canary, bake: 1m}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	g := &globals{file: p, stdout: io.Discard, stderr: &errb}
	if _, err := g.loadSpec(); err != nil {
		t.Fatal(err)
	}
	if want := "warning: " + p + ":3:42: services.a.deploy.bake: bake has no effect on a canary deployment"; !strings.HasPrefix(errb.String(), want) {
		t.Errorf("stderr = %q, want it to start with %q", errb.String(), want)
	}
}
