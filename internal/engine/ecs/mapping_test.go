package ecs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/spec"
)

const testSpec = `project: shop
environments:
  prod:
    engine: ecs
    aws:
      region: eu-west-1
      cluster: shop-prod
      subnets: [subnet-a]
      security_groups: [sg-1]
      listener: arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/1/2
      execution_role: arn:aws:iam::123456789012:role/shop-exec
defaults:
  cpu: 256
  memory: 512
services:
  web:
    image: web:1
    route: {path: /, default: true}
  api:
    image: api:1
    port: 9000
    route: {path: /api, strip_prefix: true}
    env: {MODE: prod}
    secrets: {DB: ssm:/shop/db}
    deploy: {max_surge: 2, max_unavailable: 1, drain: 300s, circuit_breaker: 5}
  admin:
    image: admin:1
    route: {host: admin.example.com, path: /api}
  worker:
    image: worker:1
    port: 8080
`

func testEngine(t *testing.T) *Engine {
	t.Helper()
	s, err := spec.Parse(filepath.Join(t.TempDir(), "berth.yaml"), []byte(testSpec))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := s.ForEnvironment("prod")
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Spec: sp, AWS: aws.Config{Region: "eu-west-1"}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestDeploymentConfiguration_PercentagesOfDesired(t *testing.T) {
	surge, unavail := 1, 0
	svc := &spec.Service{Deploy: &spec.Deploy{MaxSurge: &surge, MaxUnavailable: &unavail, CircuitBreaker: 3}}
	for _, c := range []struct {
		desired, surge, unavail int
		max, min                int32
	}{
		{1, 1, 0, 200, 100},
		{3, 1, 0, 134, 100}, // ceil(133.3): ECS rounds the maximum down, so 4 tasks fit
		{3, 1, 1, 134, 66},  // floor(66.7): ECS rounds the minimum up, so 2 stay
		{10, 2, 3, 120, 70},
		{0, 1, 0, 200, 100},
		{2, 0, 1, 100, 50},
	} {
		surge, unavail = c.surge, c.unavail
		got := DeploymentConfiguration(svc, c.desired)
		if *got.MaximumPercent != c.max || *got.MinimumHealthyPercent != c.min {
			t.Errorf("desired %d surge %d unavailable %d: max %d min %d, want %d %d", c.desired, c.surge, c.unavail, *got.MaximumPercent, *got.MinimumHealthyPercent, c.max, c.min)
		}
		// ECS's own rounding must allow the surge and keep the minimum.
		if c.desired > 0 {
			maxTasks := int(*got.MaximumPercent) * c.desired / 100
			minTasks := (int(*got.MinimumHealthyPercent)*c.desired + 99) / 100
			if maxTasks < c.desired+c.surge || minTasks > c.desired-c.unavail && c.unavail > 0 {
				t.Errorf("desired %d: ECS would allow %d..%d tasks", c.desired, minTasks, maxTasks)
			}
		}
		cb := got.DeploymentCircuitBreaker
		if !cb.Enable || !cb.Rollback || cb.ThresholdConfiguration.Value != 3 || cb.ThresholdConfiguration.Type != "COUNT" {
			t.Errorf("circuit breaker = %+v", cb)
		}
	}
}

func TestTaskDefinition_Mapping(t *testing.T) {
	e := testEngine(t)
	api := e.sp.Services["api"]
	in := e.taskDefinition(api, "123.dkr.ecr.eu-west-1.amazonaws.com/shop/api@sha256:abc", resolvedSecrets{ValueFrom: map[string]string{"DB": "arn:aws:ssm:eu-west-1:1:parameter/shop/db"}, Version: "v1"})
	if aws.ToString(in.Family) != "shop-prod-api" || aws.ToString(in.Cpu) != "256" || aws.ToString(in.Memory) != "512" || in.NetworkMode != "awsvpc" {
		t.Errorf("task definition = family %s cpu %s memory %s mode %s", aws.ToString(in.Family), aws.ToString(in.Cpu), aws.ToString(in.Memory), in.NetworkMode)
	}
	c := in.ContainerDefinitions[0]
	if aws.ToString(c.Image) != "123.dkr.ecr.eu-west-1.amazonaws.com/shop/api@sha256:abc" {
		t.Errorf("image = %s", aws.ToString(c.Image))
	}
	if len(c.PortMappings) != 1 || aws.ToInt32(c.PortMappings[0].ContainerPort) != 9000 {
		t.Errorf("ports = %+v", c.PortMappings)
	}
	if len(c.Secrets) != 1 || aws.ToString(c.Secrets[0].ValueFrom) != "arn:aws:ssm:eu-west-1:1:parameter/shop/db" {
		t.Errorf("secrets = %+v", c.Secrets)
	}
	if aws.ToInt32(c.StopTimeout) != 120 {
		t.Errorf("stop timeout = %d, want Fargate's 120 max for a 300s drain", aws.ToInt32(c.StopTimeout))
	}
	if c.LogConfiguration.Options["awslogs-group"] != "/berth/shop/prod/api" {
		t.Errorf("log options = %v", c.LogConfiguration.Options)
	}
	if c.HealthCheck != nil {
		t.Error("a routed service got a container health check; the ALB checks it")
	}
	w := e.taskDefinition(e.sp.Services["worker"], "w@sha256:1", resolvedSecrets{}).ContainerDefinitions[0]
	if w.HealthCheck == nil || !strings.Contains(strings.Join(w.HealthCheck.Command, " "), "http://127.0.0.1:8080/health") {
		t.Errorf("worker health check = %+v", w.HealthCheck)
	}
	if fingerprint(in) == fingerprint(e.taskDefinition(api, "other@sha256:def", resolvedSecrets{})) {
		t.Error("different images have the same fingerprint")
	}
	if fingerprint(in) != fingerprint(e.taskDefinition(api, "123.dkr.ecr.eu-west-1.amazonaws.com/shop/api@sha256:abc", resolvedSecrets{ValueFrom: map[string]string{"DB": "arn:aws:ssm:eu-west-1:1:parameter/shop/db"}, Version: "v1"})) {
		t.Error("the same release has two fingerprints")
	}
}

func TestTargetHealth_ClampsWithWarnings(t *testing.T) {
	e := testEngine(t)
	th, warn := TargetHealth(e.sp.Services["web"])
	want := targetHealth{Path: "/health", Interval: 5, Timeout: 2, Healthy: 2, Unhealthy: 3, DeregistrationDelaySeconds: 10}
	if th != want {
		t.Errorf("health = %+v, want %+v", th, want)
	}
	if len(warn) != 3 {
		t.Fatalf("warnings = %q, want interval, timeout and healthy", warn)
	}
	for i, w := range []string{"interval 1s", "timeout 1s", "healthy 1"} {
		if !strings.Contains(warn[i], w) {
			t.Errorf("warning %d = %q, want it to mention %q", i, warn[i], w)
		}
	}
	ok := &spec.Service{Name: "ok", Health: &spec.Health{Path: "/up", Interval: spec.Duration(10 * time.Second), Timeout: spec.Duration(5 * time.Second), Healthy: 3, Unhealthy: 3}}
	if _, warn := TargetHealth(ok); len(warn) != 0 {
		t.Errorf("in-range health warned: %q", warn)
	}
	all := e.Warnings()
	if len(all) == 0 || !strings.Contains(strings.Join(all, "\n"), "120s stop timeout") {
		t.Errorf("engine warnings = %q, want the clamped health checks and api's drain", all)
	}
}

func TestPriorities_BlockAndOrder(t *testing.T) {
	e := testEngine(t)
	p := e.Priorities()
	base := e.blockStart()
	if base < 1 || base+priorityBlock-1 > 50000 || (base-1)%priorityBlock != 0 {
		t.Fatalf("block starts at %d", base)
	}
	// admin (host + /api) before api (/api), both before web (default);
	// each leaves the priority before its own to its preview rule.
	want := map[string]int{"admin": base + 1, "api": base + 3, "web": base + priorityBlock - 1}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("priorities = %v, want %v", p, want)
	}
}

func TestRuleConditionsAndRewrite(t *testing.T) {
	got := describeConditions(ruleConditions(&spec.Route{Path: "/api", Host: "a.example.com", Hosts: []string{"b.example.com"}}))
	if got != "host-header=a.example.com,b.example.com path-pattern=/api,/api/*" {
		t.Errorf("conditions = %s", got)
	}
	if got := describeConditions(ruleConditions(&spec.Route{Path: "/"})); got != "path-pattern=/*" {
		t.Errorf("root conditions = %s", got)
	}
	tr := ruleTransforms(&spec.Route{Path: "/api", StripPrefix: true})
	if len(tr) != 1 || aws.ToString(tr[0].UrlRewriteConfig.Rewrites[0].Regex) != "^/api/?(.*)$" {
		t.Errorf("transforms = %+v", tr)
	}
	if ruleTransforms(&spec.Route{Path: "/api"}) != nil {
		t.Error("a route without strip_prefix got a rewrite")
	}
}

func TestTargetGroupName_FitsALB(t *testing.T) {
	e := testEngine(t)
	if n := e.targetGroupName("web"); n != "shop-prod-web" {
		t.Errorf("name = %s", n)
	}
	long := e.targetGroupName("a-very-long-service-name-indeed")
	if len(long) > 32 || !strings.HasPrefix(long, "shop-prod-a-very-long") {
		t.Errorf("long name = %s (%d chars)", long, len(long))
	}
	if long == e.targetGroupName("a-very-long-service-name-indeee") {
		t.Error("two long names collide")
	}
}

func TestRevisionOf(t *testing.T) {
	if n := revisionOf("arn:aws:ecs:eu-west-1:1:task-definition/shop-prod-web:12"); n != 12 {
		t.Errorf("revision = %d", n)
	}
}

// The policy in docs/ecs.md is the one `berth aws policy` prints.
func TestPolicy_MatchesDocs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "ecs.md"))
	if err != nil {
		t.Fatal(err)
	}
	p := Policy(PolicyInput{Project: "PROJECT", Cluster: "CLUSTER", Roles: []string{"arn:aws:iam::ACCOUNT:role/EXECUTION_ROLE", "arn:aws:iam::ACCOUNT:role/TASK_ROLE"}})
	if !strings.Contains(string(doc), "```json\n"+p+"```") {
		t.Error("docs/ecs.md does not hold the policy berth aws policy prints: paste the output of `berth aws policy` outside a project")
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(p), &v); err != nil {
		t.Fatalf("policy is not JSON: %v", err)
	}
}

// revisionOf reads what AWS sends: it never panics, and agrees with
// strconv on the part after the last colon.
func FuzzRevisionOf(f *testing.F) {
	for _, s := range []string{"arn:aws:ecs:eu-west-1:1:task-definition/web:12", "", ":", "web:", "web:-1", "a:b:99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := revisionOf(s)
		i := strings.LastIndex(s, ":")
		want := 0
		if i >= 0 {
			if n, err := strconv.Atoi(s[i+1:]); err == nil {
				want = n
			}
		}
		if got != want {
			t.Errorf("revisionOf(%q) = %d, want %d", s, got, want)
		}
	})
}
