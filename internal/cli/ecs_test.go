package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/awsfake"
)

const ecsCLISpec = `project: shop
environments:
  prod:
    engine: ecs
    aws:
      region: us-east-1
      cluster: shop-prod
      subnets: [subnet-a]
      security_groups: [sg-1]
      listener: LISTENER
      execution_role: arn:aws:iam::123456789012:role/shop-exec
      infrastructure_role: arn:aws:iam::123456789012:role/ecs-infra
defaults:
  cpu: 256
  memory: 512
services:
  web:
    image: reg.example/shop/web@sha256:1111
    route: {path: /}
  api:
    image: reg.example/shop/api@sha256:1111
    route: {path: /api}
`

// ecsCLI is a project in a git repository whose prod environment runs on
// the AWS fake, reached through the standard AWS environment variables.
type ecsCLI struct {
	t    *testing.T
	srv  *awsfake.Server
	top  string
	spec string
}

func newECSCLI(t *testing.T, opts awsfake.Options, lbType string) *ecsCLI {
	t.Helper()
	opts.AutoAdvance = time.Second
	srv := awsfake.New(opts)
	t.Cleanup(srv.Close)
	lb := srv.AddLoadBalancer("shop", lbType)
	top := t.TempDir()
	for p, body := range map[string]string{
		"berth.yaml":             strings.ReplaceAll(ecsCLISpec, "LISTENER", lb.ListenerArn),
		"services/web/main.go":   "package main\n",
		"services/api/main.go":   "package main\n",
		"services/api/README.md": "api\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(top, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(top, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	planGit(t, top, "init", "-q", "-b", "main")
	planCommit(t, top, "init")
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":            srv.URL(),
		"AWS_ACCESS_KEY_ID":           "AKIAFAKE",
		"AWS_SECRET_ACCESS_KEY":       "secret",
		"AWS_REGION":                  "us-east-1",
		"AWS_CONFIG_FILE":             filepath.Join(top, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(top, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_PROFILE":                 "",
		"BERTH_ECS_POLL":              "1ms",
		"BERTH_ENV":                   "",
		"BERTH_API":                   "",
	} {
		t.Setenv(k, v)
	}
	return &ecsCLI{t: t, srv: srv, top: top, spec: filepath.Join(top, "berth.yaml")}
}

func (c *ecsCLI) run(args ...string) (string, string, int) {
	c.t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"-f", c.spec}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

func (c *ecsCLI) mustRun(args ...string) string {
	c.t.Helper()
	out, errs, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("berth %v: exit %d\n%s%s", args, code, out, errs)
	}
	return out
}

func (c *ecsCLI) mutating() []string {
	var out []string
	for _, call := range c.srv.Calls() {
		if call.Mutating() {
			out = append(out, call.Service+":"+call.Operation)
		}
	}
	return out
}

func (c *ecsCLI) setImage(svc, digest string) {
	c.t.Helper()
	b, err := os.ReadFile(c.spec)
	if err != nil {
		c.t.Fatal(err)
	}
	s := strings.Replace(string(b), "reg.example/shop/"+svc+"@sha256:1111", "reg.example/shop/"+svc+"@sha256:"+digest, 1)
	if err := os.WriteFile(c.spec, []byte(s), 0o644); err != nil {
		c.t.Fatal(err)
	}
	planChange(c.t, c.top, "services/"+svc+"/main.go")
	planCommit(c.t, c.top, "change "+svc)
}

func (c *ecsCLI) status() map[string]api.Service {
	c.t.Helper()
	var st api.Status
	if err := json.Unmarshal([]byte(c.mustRun("status", "--env", "prod", "-o", "json")), &st); err != nil {
		c.t.Fatal(err)
	}
	out := map[string]api.Service{}
	for _, s := range st.Services {
		out[s.Name] = s
	}
	return out
}

// TestECS_CLIDeployFollowStatusRollback is the vertical slice through the
// real command line: deploy → follow → status → plan → a second deploy
// --changed that changes nothing and calls nothing that mutates → a dry
// run → a change-aware redeploy → rollback → down.
func TestECS_CLIDeployFollowStatusRollback(t *testing.T) {
	c := newECSCLI(t, awsfake.Options{}, "application")
	head := planGit(t, c.top, "rev-parse", "HEAD")[:12]

	out := c.mustRun("deploy", "--env", "prod")
	for _, want := range []string{"web: release 0 → 1", "api: release 0 → 1", "all 2 deployments succeeded", "warning: web: health interval 1s"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, out)
		}
	}
	st := c.status()
	if st["web"].Release != 1 || st["web"].Commit != head || st["api"].Commit != head {
		t.Errorf("status after the first deploy: %+v", st)
	}

	out = c.mustRun("plan", "--env", "prod")
	if !strings.Contains(out, "0 to deploy, 2 unchanged") {
		t.Errorf("plan right after deploying:\n%s", out)
	}

	c.srv.ResetCalls()
	out = c.mustRun("deploy", "--env", "prod", "--changed")
	if !strings.Contains(out, "nothing changed since the live commits") {
		t.Errorf("deploy --changed with nothing changed:\n%s", out)
	}
	if m := c.mutating(); len(m) != 0 {
		t.Errorf("deploy --changed with nothing changed made mutating AWS calls: %v", m)
	}

	c.setImage("api", "2222")
	c.srv.ResetCalls()
	out = c.mustRun("deploy", "--env", "prod", "--changed", "--dry-run")
	for _, want := range []string{"DEPLOY  own dir changed (services/api/main.go)", "~ image: reg.example/shop/api@sha256:1111 → reg.example/shop/api@sha256:2222", "register task definition shop-prod-api (release 2)", "update ECS service shop-prod-api", "dry run: nothing was changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if m := c.mutating(); len(m) != 0 {
		t.Errorf("a dry run made mutating AWS calls: %v", m)
	}

	out = c.mustRun("deploy", "--env", "prod", "--changed")
	if !strings.Contains(out, "api: release 1 → 2") || strings.Contains(out, "web: release") || !strings.Contains(out, "all 1 deployments succeeded") {
		t.Errorf("change-aware redeploy:\n%s", out)
	}
	if st := c.status(); st["api"].Release != 2 || st["web"].Release != 1 {
		t.Errorf("status after redeploying api: %+v", st)
	}

	out = c.mustRun("history", "--env", "prod", "api")
	if !strings.Contains(out, "RELEASE") || strings.Count(out, "\n2 ") == 0 && !strings.Contains(out, "2  ") {
		t.Errorf("history:\n%s", out)
	}

	c.srv.ResetCalls()
	out = c.mustRun("rollback", "--env", "prod", "api", "--dry-run")
	if !strings.Contains(out, "update ECS service shop-prod-api: task definition") || !strings.Contains(out, "(release 2 → 1") || !strings.Contains(out, "dry run: nothing was changed") || len(c.mutating()) != 0 {
		t.Errorf("rollback --dry-run: %s (mutating %v)", out, c.mutating())
	}
	out = c.mustRun("scale", "--env", "prod", "web=5", "--dry-run")
	if !strings.Contains(out, "desired count 1 → 5") || len(c.mutating()) != 0 {
		t.Errorf("scale --dry-run: %s (mutating %v)", out, c.mutating())
	}

	out = c.mustRun("rollback", "--env", "prod", "api")
	if !strings.Contains(out, "api: release 2 → 1") || !strings.Contains(out, "all 1 deployments succeeded") {
		t.Errorf("rollback:\n%s", out)
	}
	if st := c.status(); st["api"].Release != 1 {
		t.Errorf("status after rollback: %+v", st["api"])
	}

	out = c.mustRun("scale", "--env", "prod", "web=3")
	if !strings.Contains(out, "scaling web=3") {
		t.Errorf("scale: %s", out)
	}

	_, errs, code := c.run("down", "--env", "prod")
	if code != exitUsage || !strings.Contains(errs, "--yes") {
		t.Errorf("down without --yes: exit %d %s", code, errs)
	}
	c.srv.ResetCalls()
	out = c.mustRun("down", "--env", "prod", "--dry-run")
	if !strings.Contains(out, "delete ECS service shop-prod-web") || len(c.mutating()) != 0 {
		t.Errorf("down --dry-run: %s (mutating %v)", out, c.mutating())
	}
	c.mustRun("down", "--env", "prod", "--yes")
	if st := c.status(); len(st) != 0 {
		t.Errorf("status after down: %+v", st)
	}
}

func TestECS_CLIVerifyAndPolicy(t *testing.T) {
	c := newECSCLI(t, awsfake.Options{}, "application")
	out := c.mustRun("verify", "--env", "prod")
	for _, want := range []string{"credentials", "account 123456789012", "listener", "route priorities", "all "} {
		if !strings.Contains(out, want) {
			t.Errorf("verify lacks %q:\n%s", want, out)
		}
	}
	if m := c.mutating(); len(m) != 0 {
		t.Errorf("verify made mutating calls: %v", m)
	}
	out = c.mustRun("aws", "policy", "--env", "prod")
	if !strings.Contains(out, `"arn:aws:ecs:*:*:service/shop-prod/shop-*"`) || !strings.Contains(out, "arn:aws:iam::123456789012:role/shop-exec") {
		t.Errorf("policy:\n%s", out)
	}
}

func TestECS_CLIBadInput(t *testing.T) {
	t.Run("wrong credentials", func(t *testing.T) {
		c := newECSCLI(t, awsfake.Options{AccessKeys: []string{"AKIAOTHER"}}, "application")
		_, errs, code := c.run("deploy", "--env", "prod")
		if code == 0 || !strings.Contains(errs, "AWS credentials") || !strings.Contains(errs, "AWS_PROFILE") {
			t.Errorf("deploy with a wrong key: exit %d\n%s", code, errs)
		}
		if m := c.mutating(); len(m) != 0 {
			t.Errorf("mutating calls with wrong credentials: %v", m)
		}
	})
	t.Run("listener of a network load balancer", func(t *testing.T) {
		c := newECSCLI(t, awsfake.Options{}, "network")
		_, errs, code := c.run("deploy", "--env", "prod")
		if code == 0 || !strings.Contains(errs, "not an Application Load Balancer listener") {
			t.Errorf("deploy to an NLB listener: exit %d\n%s", code, errs)
		}
		if m := c.mutating(); len(m) != 0 {
			t.Errorf("mutating calls with an NLB listener: %v", m)
		}
	})
	t.Run("service without cpu and memory", func(t *testing.T) {
		c := newECSCLI(t, awsfake.Options{}, "application")
		b, _ := os.ReadFile(c.spec)
		os.WriteFile(c.spec, bytes.Replace(b, []byte("defaults:\n  cpu: 256\n  memory: 512\n"), nil, 1), 0o644)
		_, errs, code := c.run("deploy", "--env", "prod")
		if code != exitUsage || !strings.Contains(errs, "berth.yaml:") || !strings.Contains(errs, "services.api.cpu: an ecs environment needs cpu and memory") {
			t.Errorf("deploy without cpu/memory: exit %d\n%s", code, errs)
		}
	})
	t.Run("throttling is retried", func(t *testing.T) {
		c := newECSCLI(t, awsfake.Options{}, "application")
		c.srv.Throttle(awsfake.ServiceECS, "DescribeServices", 2)
		c.srv.Throttle(awsfake.ServiceELBv2, "CreateRule", 1)
		out := c.mustRun("deploy", "--env", "prod")
		if !strings.Contains(out, "all 2 deployments succeeded") {
			t.Errorf("deploy under throttling:\n%s", out)
		}
	})
}

// deploy --env prod --from staging deploys exactly what staging runs
// (images and commits), with prod's settings, building nothing.
func TestECS_CLIPromoteFromAnotherEnvironment(t *testing.T) {
	c := newECSCLI(t, awsfake.Options{}, "application")
	b, err := os.ReadFile(c.spec)
	if err != nil {
		t.Fatal(err)
	}
	// staging: the same account, its own cluster.
	s := strings.Replace(string(b), "environments:\n", "environments:\n  staging:\n    engine: ecs\n    aws:\n      cluster: shop-staging\n      subnets: [subnet-s]\n      listener: LISTENER\n      execution_role: arn:aws:iam::123456789012:role/shop-exec\n", 1)
	lb := c.srv.AddLoadBalancer("shop-staging", "application")
	s = strings.Replace(s, "LISTENER", lb.ListenerArn, 1)
	if err := os.WriteFile(c.spec, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	planCommit(t, c.top, "staging")
	c.mustRun("deploy", "--env", "staging")
	staged := planGit(t, c.top, "rev-parse", "HEAD")[:12]

	// The code moves on; prod gets what staging runs, not HEAD.
	c.setImage("api", "9999")
	out := c.mustRun("deploy", "--env", "prod", "--from", "staging")
	for _, want := range []string{"api: promoting release 1 of staging (commit " + staged + ", reg.example/shop/api@sha256:1111)", "all 2 deployments succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("promotion output lacks %q:\n%s", want, out)
		}
	}
	st := c.status()
	if st["api"].Commit != staged || st["web"].Commit != staged {
		t.Errorf("prod after promotion: %+v", st)
	}
	var h api.History
	if err := json.Unmarshal([]byte(c.mustRun("history", "--env", "prod", "api", "-o", "json")), &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Releases) != 1 || h.Releases[0].Image != "reg.example/shop/api@sha256:1111" {
		t.Errorf("prod's api runs %+v, want staging's image", h.Releases)
	}
	// Promoting again changes nothing.
	c.srv.ResetCalls()
	out = c.mustRun("deploy", "--env", "prod", "--from", "staging")
	if !strings.Contains(out, "nothing to promote") || len(c.mutating()) != 0 {
		t.Errorf("second promotion: %s (mutating %v)", out, c.mutating())
	}
}
