package ecs_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/awsfake"
	"github.com/berth-dev/berth/internal/engine/ecs"
	"github.com/berth-dev/berth/internal/spec"
)

// albHit is one request the loopback ALB forwarded.
type albHit struct {
	rule, targetGroup, path, preview string
}

// loopbackALB plays the fake ALB's data plane on loopback: each request
// goes where the fake's listener rules send it now (the target group of
// the highest weight). The web service's second target group (-b) holds
// release 2, which answers /smoke with smokeStatus; everything else
// answers 200.
type loopbackALB struct {
	srv         *awsfake.Server
	listener    string
	smokeStatus int
	mu          sync.Mutex
	hits        []albHit
}

func (a *loopbackALB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rule, weights := a.srv.Forward(a.listener, r)
	if rule == "" {
		http.Error(w, "no rule", http.StatusNotFound)
		return
	}
	best, top := "", 0
	for tg, wgt := range weights {
		if wgt > top {
			best, top = tg, wgt
		}
	}
	if best == "" {
		http.Error(w, "no target group with weight", http.StatusServiceUnavailable)
		return
	}
	a.mu.Lock()
	a.hits = append(a.hits, albHit{rule: rule, targetGroup: best, path: r.URL.Path, preview: r.Header.Get("X-Berth-Preview")})
	a.mu.Unlock()
	if strings.Contains(best, "targetgroup/shop-prod-web-b/") && r.URL.Path == "/smoke" && a.smokeStatus != http.StatusOK {
		http.Error(w, "release 2 is broken", a.smokeStatus)
		return
	}
	_, _ = w.Write([]byte("ok"))
}

func (a *loopbackALB) smokeHits() []albHit {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []albHit
	for _, h := range a.hits {
		if h.path == "/smoke" {
			out = append(out, h)
		}
	}
	return out
}

// checksWorld has release 1 of web live with deploy, behind an ALB whose
// DNS name and listener port are a loopback server playing its data plane.
func checksWorld(t *testing.T, deploy string, smokeStatus int) (*world, *loopbackALB) {
	t.Helper()
	srv := awsfake.New(awsfake.Options{AutoAdvance: time.Second})
	alb := &loopbackALB{srv: srv, smokeStatus: smokeStatus}
	hs := httptest.NewServer(alb)
	t.Cleanup(hs.Close)
	host, port, err := net.SplitHostPort(hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	w := newWorldWith(t, strings.Replace(progressiveSpec, "DEPLOY", deploy, 1), srv, awsfake.WithEndpoint(host, "HTTP", p))
	alb.listener = w.lb.ListenerArn
	_, final, evs := w.deploy(w.engine(), webRelease("1111111", "w@sha256:1"))
	if final[0].State != "succeeded" {
		t.Fatalf("release 1 ended %s (%s): %v", final[0].State, final[0].Reason, messages(evs))
	}
	return w, alb
}

// webRules are web's production and test listener rules and its second
// (-b) target group, as the ECS service names them.
func (w *world) webRules(t *testing.T) (prod, test, tgB string) {
	t.Helper()
	out, err := awsecs.NewFromConfig(w.cfg).DescribeServices(context.Background(), &awsecs.DescribeServicesInput{Cluster: aws.String("shop-prod"), Services: []string{"shop-prod-web"}})
	if err != nil || len(out.Services) != 1 || len(out.Services[0].LoadBalancers) != 1 {
		t.Fatalf("describe web: %v", err)
	}
	lb := out.Services[0].LoadBalancers[0]
	adv := lb.AdvancedConfiguration
	if adv == nil || aws.ToString(adv.TestListenerRule) == "" {
		t.Fatalf("web has no test listener rule: %+v", adv)
	}
	for _, tg := range []string{aws.ToString(lb.TargetGroupArn), aws.ToString(adv.AlternateTargetGroupArn)} {
		if strings.Contains(tg, "targetgroup/shop-prod-web-b/") {
			tgB = tg
		}
	}
	return aws.ToString(adv.ProductionListenerRule), aws.ToString(adv.TestListenerRule), tgB
}

// A blue/green whose smoke check fails never gets production traffic:
// berth runs the check through the test listener rule at the
// POST_TEST_TRAFFIC_SHIFT hook, finds it failing, and rolls back with
// the failure as the reason; the production rule never gave green any
// weight.
func TestChecks_BlueGreenWhoseSmokeCheckFailsNeverGetsProductionTraffic(t *testing.T) {
	w, alb := checksWorld(t, `{strategy: bluegreen, bake: 1m, analysis: {smoke: [/smoke]}}`, http.StatusInternalServerError)
	prod, test, green := w.webRules(t)
	before := len(alb.smokeHits())
	d, evs := w.start(w.engine(), nil)()
	if d.State != "rolled_back" || !strings.Contains(d.Reason, "smoke check GET /smoke failed (500 Internal Server Error") || !strings.Contains(d.Reason, "web release 2") {
		t.Fatalf("outcome %s (%s)\n%s", d.State, d.Reason, messages(evs))
	}
	if got := w.srv.MaxRuleWeight(prod, green); got != 0 {
		t.Errorf("the production rule gave release 2's target group weight %d", got)
	}
	if got := w.srv.MaxRuleWeight(test, green); got != 100 {
		t.Errorf("the test rule gave release 2's target group at most %d, want 100 (test traffic shifted)", got)
	}
	hits := alb.smokeHits()[before:]
	if len(hits) != 1 || hits[0].rule != test || hits[0].targetGroup != green || hits[0].preview != "1" {
		t.Errorf("smoke requests of release 2 = %+v, want one through the test rule %s to %s with the preview header", hits, test, green)
	}
	if st, _ := w.engine().Status(context.Background()); st.Services[0].Release != 1 {
		t.Errorf("after the failed smoke check web runs release %d", st.Services[0].Release)
	}
	if !strings.Contains(messages(evs), "rolling back before any production traffic") {
		t.Errorf("no word of the rollback before production traffic:\n%s", messages(evs))
	}
}

// A blue/green whose smoke check passes is continued past its hook and
// reaches 100% of production traffic.
func TestChecks_BlueGreenWhoseSmokeCheckPassesReachesFullTraffic(t *testing.T) {
	w, alb := checksWorld(t, `{strategy: bluegreen, bake: 1m, analysis: {smoke: [/smoke]}}`, http.StatusOK)
	prod, test, green := w.webRules(t)
	before := len(alb.smokeHits())
	d, evs := w.start(w.engine(), nil)()
	if d.State != "succeeded" {
		t.Fatalf("outcome %s (%s)\n%s", d.State, d.Reason, messages(evs))
	}
	if got := w.srv.RuleForward(prod)[green]; got != 100 {
		t.Errorf("after the deployment the production rule gives release 2's target group %d, want 100", got)
	}
	hits := alb.smokeHits()[before:]
	if len(hits) != 1 || hits[0].rule != test || hits[0].targetGroup != green {
		t.Errorf("smoke requests of release 2 = %+v, want one through the test rule to %s", hits, green)
	}
	if !strings.Contains(messages(evs), "smoke check GET /smoke passed (200 OK)") {
		t.Errorf("no passed smoke check in the events:\n%s", messages(evs))
	}
}

// A canary's webhook runs at the same hook, before the canary step: a
// webhook that answers pass: false rolls the canary back before any
// production traffic, and its reason is the outcome's.
func TestChecks_CanaryWhoseWebhookFailsNeverGetsProductionTraffic(t *testing.T) {
	var calls sync.Map
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Store(r.Method, true)
		_, _ = w.Write([]byte(`{"pass": false, "reason": "error budget spent"}`))
	}))
	t.Cleanup(hook.Close)
	w, _ := checksWorld(t, `{strategy: canary, steps: [20%, 100%], pause: 1m, analysis: {webhook: "`+hook.URL+`/verdict"}}`, http.StatusOK)
	// Release 1 created the service: no rollout, so no hook judged it.
	prod, _, green := w.webRules(t)
	d, evs := w.start(w.engine(), nil)()
	if d.State != "rolled_back" || !strings.Contains(d.Reason, "webhook "+hook.URL+"/verdict failed (answered pass: false: error budget spent) on web release 2") {
		t.Fatalf("outcome %s (%s)\n%s", d.State, d.Reason, messages(evs))
	}
	if _, ok := calls.Load(http.MethodPost); !ok {
		t.Error("the webhook was never POSTed")
	}
	if got := w.srv.MaxRuleWeight(prod, green); got != 0 {
		t.Errorf("the production rule gave release 2's target group weight %d", got)
	}
}

// A canary with a gate and smoke checks: the checks' hook is not a
// traffic step, so the gate still holds the step it was written before
// (20%), and promote takes it to 100%.
func TestChecks_CanaryChecksThenGateHoldsTheRightStep(t *testing.T) {
	w, _ := checksWorld(t, `{strategy: canary, steps: [20%, pause, 100%], pause: 1m, analysis: {smoke: [/smoke]}}`, http.StatusOK)
	e := w.engine()
	gate := make(chan struct{})
	var once sync.Once
	wait := w.start(e, func(ev api.Event) {
		if strings.Contains(ev.Message, "waiting at a gate") {
			once.Do(func() { close(gate) })
		}
	})
	select {
	case <-gate:
	case <-time.After(20 * time.Second):
		d, evs := wait()
		t.Fatalf("the deployment never reached its gate: %s (%s)\n%s", d.State, d.Reason, messages(evs))
	}
	if p := aws.ToFloat64(w.serviceDeployment(t).TargetServiceRevision.RequestedProductionTrafficWeight); p != 20 {
		t.Fatalf("production traffic at the gate = %v, want 20", p)
	}
	if err := e.Promote(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	d, evs := wait()
	if d.State != "succeeded" || !strings.Contains(messages(evs), "smoke check GET /smoke passed") {
		t.Fatalf("outcome %s (%s)\n%s", d.State, d.Reason, messages(evs))
	}
}

// With nobody to run the checks (the CLI vanished, or deploy --detach),
// their hook times out after its 10 minutes into a rollback.
func TestChecks_HookWhoseCLIVanishedTimesOutIntoRollback(t *testing.T) {
	w, _ := checksWorld(t, `{strategy: bluegreen, bake: 1m, analysis: {smoke: [/smoke]}}`, http.StatusOK)
	prod, _, green := w.webRules(t)
	if _, err := w.engine().Deploy(context.Background(), webRelease("2222222", "w@sha256:2")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for w.serviceDeployment(t).LifecycleStage != "POST_TEST_TRAFFIC_SHIFT" {
		if time.Now().After(deadline) {
			t.Fatalf("never reached the checks' hook: %s", w.serviceDeployment(t).LifecycleStage)
		}
	}
	st, err := w.engine().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if dep := st.Services[0].Deployment; dep == nil || !strings.Contains(dep.Reason, "awaits berth's smoke checks") {
		t.Errorf("status at the checks' hook: %+v", dep)
	}
	if err := w.engine().Promote(context.Background(), "web"); err == nil || !strings.Contains(err.Error(), "not a gate") {
		t.Errorf("promote at the checks' hook: %v, want a refusal (it would skip the checks)", err)
	}
	w.srv.Advance(11 * time.Minute)
	for {
		sd := w.serviceDeployment(t)
		if sd.Status == "ROLLBACK_SUCCESSFUL" {
			if !strings.Contains(aws.ToString(sd.Rollback.Reason), "timed out") {
				t.Errorf("rollback reason %q", aws.ToString(sd.Rollback.Reason))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rollback: %s", sd.Status)
		}
	}
	if got := w.srv.MaxRuleWeight(prod, green); got != 0 {
		t.Errorf("the production rule gave release 2's target group weight %d", got)
	}
}

// verify checks the preview rule's priority too: a rule berth did not
// create just before a canary service's production priority is reported.
func TestVerify_PreviewPriorityHeldByAnotherRule(t *testing.T) {
	w := newWorld(t, strings.Replace(progressiveSpec, "DEPLOY", `{strategy: canary, steps: [10%, 100%]}`, 1))
	e := w.engine()
	prio := e.Priorities()["web"] - 1
	c := elb.NewFromConfig(w.cfg)
	tg, err := c.CreateTargetGroup(context.Background(), &elb.CreateTargetGroupInput{Name: aws.String("theirs"), Protocol: "HTTP", Port: aws.Int32(80), VpcId: aws.String("vpc-1"), TargetType: "ip"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateRule(context.Background(), &elb.CreateRuleInput{
		ListenerArn: aws.String(w.lb.ListenerArn), Priority: aws.Int32(int32(prio)),
		Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), PathPatternConfig: &elbtypes.PathPatternConditionConfig{Values: []string{"/theirs"}}}},
		Actions:    []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: tg.TargetGroups[0].TargetGroupArn}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range e.Verify(context.Background()) {
		if ch.Name == "route priority web" && !ch.OK && strings.Contains(ch.Detail, "priority "+strconv.Itoa(prio)) {
			return
		}
	}
	t.Errorf("verify did not report priority %d held by a rule berth did not create: %+v", prio, e.Verify(context.Background()))
}

// Adding a service whose route sorts before an existing one moves the
// existing rules in one call (ALB applies it at once) before creating the
// new one at the priority the old one held; requests then match by the
// new order.
func TestFake_AddedRouteMovesTheRulesItPrecedes(t *testing.T) {
	w := newWorld(t, fakeSpec)
	v1 := map[string]string{"web": "reg/shop/web@sha256:1", "api": "reg/shop/api@sha256:1"}
	if _, final, evs := w.deploy(w.engine(), releases("aaaaaaa", v1)); states(final)["api"] != "succeeded" {
		t.Fatalf("first deploy: %v\n%s", states(final), messages(evs))
	}
	before := w.engine().Priorities()["api"]
	src := strings.ReplaceAll(fakeSpec+"  admin:\n    image: admin:1\n    route: {path: /api/admin}\n", "LISTENER", w.lb.ListenerArn)
	s, err := spec.Parse(filepath.Join(t.TempDir(), "berth.yaml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := s.ForEnvironment("prod")
	if err != nil {
		t.Fatal(err)
	}
	e, err := ecs.New(ecs.Config{Spec: sp, AWS: w.cfg, PollInterval: time.Millisecond, Now: w.srv.Now})
	if err != nil {
		t.Fatal(err)
	}
	if p := e.Priorities(); p["admin"] != before || p["api"] != before+2 {
		t.Fatalf("priorities with admin = %v (api had %d)", p, before)
	}
	req := api.DeployRequest{Commit: "bbbbbbb", Releases: []api.ReleaseSpec{{Service: "admin", Commit: "bbbbbbb", Image: "reg/shop/admin@sha256:1"}}}
	if _, final, evs := w.deploy(e, req); final[0].State != "succeeded" {
		t.Fatalf("admin: %s (%s)\n%s", final[0].State, final[0].Reason, messages(evs))
	}
	for path, tg := range map[string]string{"/api/admin/users": "targetgroup/shop-prod-admin/", "/api/users": "targetgroup/shop-prod-api/", "/": "targetgroup/shop-prod-web/"} {
		_, weights := w.srv.Forward(w.lb.ListenerArn, httptest.NewRequest("GET", "http://shop.example.com"+path, nil))
		found := false
		for arn, wgt := range weights {
			found = found || (strings.Contains(arn, tg) && wgt > 0)
		}
		if !found {
			t.Errorf("%s forwards to %v, want %s", path, weights, tg)
		}
	}
}

// A native service whose load balancer has no test listener rule (made
// before berth made them) gets its preview rule as the test rule on its
// next deploy, with its target groups left as ECS has them.
func TestChecks_ExistingNativeServiceGetsItsTestRule(t *testing.T) {
	w := progressiveWorld(t, `{strategy: bluegreen, bake: 1m}`)
	c := awsecs.NewFromConfig(w.cfg)
	ctx := context.Background()
	out, err := c.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String("shop-prod"), Services: []string{"shop-prod-web"}})
	if err != nil {
		t.Fatal(err)
	}
	lbs := out.Services[0].LoadBalancers
	old := *lbs[0].AdvancedConfiguration
	old.TestListenerRule = nil
	lbs[0].AdvancedConfiguration = &old
	if _, err := c.UpdateService(ctx, &awsecs.UpdateServiceInput{Cluster: aws.String("shop-prod"), Service: aws.String("shop-prod-web"), LoadBalancers: lbs}); err != nil {
		t.Fatal(err)
	}
	if _, final, evs := w.deploy(w.engine(), webRelease("2222222", "w@sha256:2")); final[0].State != "succeeded" {
		t.Fatalf("release 2: %s (%s)\n%s", final[0].State, final[0].Reason, messages(evs))
	}
	prod, test, _ := w.webRules(t)
	if prod != aws.ToString(old.ProductionListenerRule) || test == "" || test == prod {
		t.Errorf("rules after the deploy: production %s (was %s), test %s", prod, aws.ToString(old.ProductionListenerRule), test)
	}
}
