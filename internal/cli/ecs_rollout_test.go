package cli

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/awsfake"
	"github.com/berth-dev/berth/internal/engine/ecs"
)

// editSpec replaces old with new in the ECS project's berth.yaml.
func (c *ecsCLI) editSpec(old, new string) {
	c.t.Helper()
	b, err := os.ReadFile(c.spec)
	if err != nil {
		c.t.Fatal(err)
	}
	s := strings.Replace(string(b), old, new, 1)
	if s == string(b) {
		c.t.Fatalf("%q not in the spec", old)
	}
	if err := os.WriteFile(c.spec, []byte(s), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// `berth plan --env prod -o json` shows per service the ECS strategy, its
// parameters, the alarms and hooks, and the durations rounded to minutes.
func TestECS_PlanJSONShowsTheNativeRollout(t *testing.T) {
	c := newECSCLI(t, awsfake.Options{}, "application")
	c.editSpec("    route: {path: /}\n", `    route: {path: /}
    deploy: {strategy: canary, steps: [20%, pause, 100%], pause: 45s, analysis: {max_5xx_rate: 2%, min_requests: 50, window: 90s, max_p99: 500ms}}
    scale: {min: 2, max: 8, target: {rps_per_task: 100}}
`)
	c.editSpec("    route: {path: /api}\n", `    route: {path: /api}
    deploy: {strategy: bluegreen, steps: [pause], bake: 5m, analysis: {smoke: [/healthz]}}
`)
	var rows []planRow
	out := c.mustRun("plan", "--env", "prod", "-o", "json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]*ecs.Rollout{}
	for _, r := range rows {
		got[r.Service] = r.ECS
	}
	web, api := got["web"], got["api"]
	if web == nil || api == nil {
		t.Fatalf("plan rows without ecs: %s", out)
	}
	if web.Strategy != "CANARY" || web.Canary.Percent != 20 || web.Canary.BakeMinutes != 1 {
		t.Errorf("web = %+v canary %+v", web, web.Canary)
	}
	if len(web.Alarms) != 2 || web.Alarms[0].Name != "berth-shop-prod-web-5xx" || web.Alarms[0].EvaluationMinutes != 2 || web.Alarms[1].Name != "berth-shop-prod-web-p99" {
		t.Errorf("web alarms = %+v", web.Alarms)
	}
	if len(web.Hooks) != 1 || web.Hooks[0].Purpose != "gate" || web.Hooks[0].TimeoutAction != "ROLLBACK" {
		t.Errorf("web hooks = %+v", web.Hooks)
	}
	if !strings.Contains(out, `"key": "deploy.pause"`) || !strings.Contains(out, `"effective": "1m"`) {
		t.Errorf("rounded pause missing:\n%s", out)
	}
	if a := web.Autoscaling; a == nil || a.Metric != "ALBRequestCountPerTarget" || a.TargetValue != 6000 {
		t.Errorf("web autoscaling = %+v", a)
	}
	// The gate and berth's smoke check both hold api after test traffic
	// moved, through the preview header's test listener rule.
	if api.Strategy != "BLUE_GREEN" || *api.BakeMinutes != 5 || len(api.Hooks) != 2 || api.Hooks[0].Stage != "POST_TEST_TRAFFIC_SHIFT" ||
		api.Hooks[1].Purpose != "smoke" || api.Hooks[1].Stage != "POST_TEST_TRAFFIC_SHIFT" || api.Hooks[1].TimeoutAction != "ROLLBACK" || api.Hooks[1].TimeoutMinutes != 10 ||
		api.TestTraffic != "header X-Berth-Preview: 1" {
		t.Errorf("api = %+v", api)
	}
	text := c.mustRun("plan", "--env", "prod")
	if !strings.Contains(text, "web on ECS: CANARY 20% for 1m, then 100%") || !strings.Contains(text, "deploy.pause 45s → 1m") {
		t.Errorf("text plan:\n%s", text)
	}
}

// A step list ECS cannot run is a plan-time error naming the nearest one.
func TestECS_PlanRefusesStepsECSCannotRun(t *testing.T) {
	c := newECSCLI(t, awsfake.Options{}, "application")
	c.editSpec("    route: {path: /}\n", "    route: {path: /}\n    deploy: {strategy: canary, steps: [10%, 50%, 100%]}\n")
	out, errs, code := c.run("plan", "--env", "prod")
	if code != exitUsage || !strings.Contains(errs, "steps: [10%, 100%] (CANARY)") {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
}

// scale: becomes Application Auto Scaling target tracking; berth scale
// on an autoscaled service sets its minimum and says so.
func TestECS_AutoscalingAndScaleSetsTheMinimum(t *testing.T) {
	c := newECSCLI(t, awsfake.Options{}, "application")
	c.editSpec("    route: {path: /}\n", "    route: {path: /}\n    scale: {min: 2, max: 6, target: {cpu: 60%}, up_cooldown: 30s, down_cooldown: 5m}\n")
	planCommit(t, c.top, "autoscale web")
	c.mustRun("deploy", "--env", "prod")
	calls := strings.Join(c.mutating(), " ")
	if !strings.Contains(calls, "RegisterScalableTarget") || !strings.Contains(calls, "PutScalingPolicy") {
		t.Fatalf("deploy made no autoscaling calls: %s", calls)
	}
	out := c.mustRun("scale", "--env", "prod", "web=3")
	if !strings.Contains(out, "3 is now its minimum") {
		t.Errorf("scale output:\n%s", out)
	}
	if got := c.status()["web"].Desired; got != 3 {
		t.Errorf("desired after scale = %d", got)
	}
	c.editSpec("target: {cpu: 60%}", "target: {p99: 200ms}")
	if _, errs, code := c.run("plan", "--env", "prod"); code != exitUsage || !strings.Contains(errs, "p99") {
		t.Errorf("p99 target: exit %d %s", code, errs)
	}
}

// deploy --detach returns once ECS has the deployment; status shows the
// gate it waits at, and berth promote lets it finish.
func TestECS_DetachStatusAndPromote(t *testing.T) {
	c := newECSCLI(t, awsfake.Options{}, "application")
	c.editSpec("    route: {path: /}\n", "    route: {path: /}\n    deploy: {strategy: bluegreen, steps: [pause], bake: 1m}\n")
	planCommit(t, c.top, "bluegreen web")
	c.mustRun("deploy", "--env", "prod", "web")
	c.setImage("web", "2222")
	out := c.mustRun("deploy", "--env", "prod", "--detach", "web")
	if !strings.Contains(out, "detached") || !strings.Contains(out, "bluegreen") {
		t.Fatalf("deploy --detach:\n%s", out)
	}
	waitStatus := func(what string, ok func(map[string]api.Service) bool) {
		t.Helper()
		for i := 0; i < 500; i++ {
			if ok(c.status()) {
				return
			}
		}
		t.Fatalf("status never showed %s: %+v", what, c.status()["web"].Deployment)
	}
	waitStatus("the gate", func(st map[string]api.Service) bool {
		d := st["web"].Deployment
		return d != nil && strings.Contains(d.Reason, "awaits `berth promote --env prod web`") && strings.Contains(d.Reason, "test traffic")
	})
	c.mustRun("promote", "--env", "prod", "web")
	waitStatus("release 2 live", func(st map[string]api.Service) bool {
		return st["web"].Deployment == nil && st["web"].Release == 2
	})
}
