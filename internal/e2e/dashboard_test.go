package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// dashboardSpec has two services: catalog rolls out as a canary that
// stops at a gate after 10% and after 50% (so the test, not a timer,
// decides when it moves), and search rolls.
const dashboardSpec = `project: e2e
listen: %[2]s
engine: process
services:
  catalog:
    run: %[1]s
    route: {path: /catalog}
    count: 2
    health: {path: /health, interval: 100ms, deadline: 10s}
    deploy:
      strategy: canary
      steps: [10%%, pause, 50%%, pause, 100%%]
      drain: 2s
      analysis: {max_5xx_rate: 5%%, min_requests: 20, window: 10s}
    env:
      SHOP_HOST: 127.0.0.1
      SHOP_DRAIN: 2s
      E2E_MARKER: %[3]s
  search:
    run: %[1]s
    route: {path: /search}
    count: 1
    health: {path: /health, interval: 100ms, deadline: 10s}
    env:
      SHOP_HOST: 127.0.0.1
      E2E_MARKER: %[3]s
`

// browser starts headless Chromium for a test, or skips the test with a
// message when none is installed (CI installs Debian's chromium).
func browser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("BERTH_REQUIRE_BROWSER") == "1" {
			t.Fatal("no chromium installed and BERTH_REQUIRE_BROWSER=1: apt-get install -y chromium")
		}
		t.Skip("skipping the dashboard's browser test: no chromium installed (apt-get install -y chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1400, 1100),
		chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return ctx
}

// run runs browser actions with a deadline, failing the test with what
// the page showed.
func run(t *testing.T, ctx context.Context, what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	actx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(actx, actions...); err != nil {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		body, _ := chromedp.Run(tctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
	}
}

// dashboardURL reads the dashboard's URL from `berth serve`'s output.
func (p *project) dashboardURL() string {
	p.t.Helper()
	re := regexp.MustCompile(`dashboard: (http://\S+)`)
	var url string
	p.waitFor("berth serve prints the dashboard's URL", 10*time.Second, func() bool {
		if m := re.FindStringSubmatch(p.served.String()); m != nil {
			url = m[1]
		}
		return url != ""
	})
	return url
}

// TestDashboard_CanaryLiveAndPromote drives the dashboard in headless
// Chromium against a real control plane: the page lists the services,
// shows a canary's traffic split and follows it as it moves, promotes
// the canary (through the confirmation) from the page and rolls it back.
// BERTH_DASHBOARD_SCREENSHOT=PATH also writes a screenshot of the page
// during the canary (docs/dashboard.png is made this way).
func TestDashboard_CanaryLiveAndPromote(t *testing.T) {
	ctx := browser(t)
	p := newProject(t)
	p.serveArgs = []string{"--ui-listen", "127.0.0.1:0"}
	p.writeSpec(dashboardSpec)
	p.startServe()
	p.mustBerth("deploy")
	url := p.dashboardURL()

	run(t, ctx, "the page lists both services at release 1", 30*time.Second,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`#services tr[data-service="catalog"] .release`)),
		chromedp.WaitVisible(chromedp.CSS(`#services tr[data-service="search"]`)),
		waitText(`#services tr[data-service="catalog"] .state`, "healthy"),
		waitText(`#services tr[data-service="catalog"] .tasks`, "2/2 healthy"))

	// Release 2 of catalog: the canary waits at its first gate, 10%.
	l := startLoad(t, "http://"+p.listen+"/catalog/version", 4)
	defer l.halt()
	p.writeSpec(strings.Replace(dashboardSpec, "SHOP_DRAIN: 2s\n", "SHOP_DRAIN: 2s\n      RELEASE_NOTE: two\n", 1))
	dctx, cancelDeploy := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancelDeploy()
	deploy := p.command(dctx, "deploy", "catalog")
	deployOut := &lockedWriter{}
	deploy.Stdout, deploy.Stderr = deployOut, deployOut
	if err := deploy.Start(); err != nil {
		t.Fatal(err)
	}
	deployed := make(chan error, 1)
	go func() { deployed <- deploy.Wait() }()

	run(t, ctx, "the rollout shows the canary at 10%", time.Minute,
		chromedp.WaitVisible(chromedp.CSS(`.rollout[data-service="catalog"] .split[data-weight="10"]`)),
		waitText(`.rollout[data-service="catalog"] .split-text`, "release 2: 10% of traffic"),
		waitText(`#services tr[data-service="catalog"] .state`, "deploying"))

	if shot := os.Getenv("BERTH_DASHBOARD_SCREENSHOT"); shot != "" {
		// Two signal samples make the sparklines lines, not dots.
		run(t, ctx, "signals for the screenshot", time.Minute,
			waitTrue(`(document.querySelector('.release-signals[data-service="catalog"][data-release="2"] polyline')||{getAttribute:()=>""}).getAttribute("points").split(" ").length >= 3`))
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if !filepath.IsAbs(shot) {
			shot = filepath.Join("..", "..", shot)
		}
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", shot)
	}

	// Promote from the page: the confirmation says what will happen; the
	// canary moves to 50% and the page follows without a reload.
	run(t, ctx, "promote asks for confirmation", 30*time.Second,
		chromedp.Click(chromedp.CSS(`.rollout[data-service="catalog"] button.promote`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm`)))
	confirmText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#confirm-text`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(confirmText, "Promote catalog release 2") {
		t.Errorf("confirmation says %q", confirmText)
	}
	run(t, ctx, "cancel leaves the canary at 10%", 30*time.Second,
		chromedp.Click(chromedp.CSS(`#confirm-cancel`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#confirm`)))
	if d := p.service("catalog").Deployment; d == nil || d.Weight != 10 {
		t.Fatalf("after cancel the deployment is %+v, want still at 10%%", d)
	}
	run(t, ctx, "promote to 50% from the page", time.Minute,
		chromedp.Click(chromedp.CSS(`.rollout[data-service="catalog"] button.promote`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm`)),
		chromedp.Click(chromedp.CSS(`#confirm-ok`)),
		chromedp.WaitVisible(chromedp.CSS(`.rollout[data-service="catalog"] .split[data-weight="50"]`)),
		waitText(`.rollout[data-service="catalog"] .split-text`, "release 2: 50% of traffic"))
	if d := p.service("catalog").Deployment; d == nil || d.Weight != 50 {
		t.Fatalf("the API shows %+v after promote from the page, want 50%%", d)
	}
	run(t, ctx, "promote to 100% from the page", time.Minute,
		chromedp.Click(chromedp.CSS(`.rollout[data-service="catalog"] button.promote`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm`)),
		chromedp.Click(chromedp.CSS(`#confirm-ok`)),
		chromedp.WaitNotPresent(chromedp.CSS(`.rollout[data-service="catalog"]`)),
		waitText(`#services tr[data-service="catalog"] .release`, "2"),
		waitText(`#events`, "deploy.succeeded"))
	select {
	case err := <-deployed:
		if err != nil {
			t.Fatalf("berth deploy catalog: %v\n%s", err, deployOut.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("berth deploy catalog did not finish after the promotes:\n%s", deployOut.String())
	}
	l.halt()
	l.check(t)

	// The same listener serves /metrics with the deployments counted.
	metrics := scrape(t, strings.TrimSuffix(url, "/ui/")+"/metrics")
	for _, want := range []string{
		`berth_deployments_started_total{service="catalog",strategy="canary"} 1`,
		`berth_deployments_started_total{service="search",strategy="rolling"} 1`,
		`berth_deployments_finished_total{outcome="succeeded",reason="none",service="catalog"} 2`,
		`berth_deploy_duration_seconds_count{outcome="succeeded",service="catalog",strategy="canary"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}

	// Roll back from the page, through the confirmation.
	run(t, ctx, "roll catalog back to release 1 from the page", time.Minute,
		chromedp.Click(chromedp.CSS(`#services tr[data-service="catalog"] button.rollback`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm`)),
		waitText(`#confirm-text`, "Roll catalog back from release 2"),
		chromedp.Click(chromedp.CSS(`#confirm-ok`)),
		waitText(`#services tr[data-service="catalog"] .release`, "1"),
		waitText(`#services tr[data-service="catalog"] .state`, "healthy"))
	if s := p.service("catalog"); s.Release != 1 {
		t.Fatalf("catalog runs release %d after the rollback from the page, want 1", s.Release)
	}
}

// scrape GETs a /metrics page.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(body)
}

// TestDashboard_TokenAsked: with an API token the dashboard's API needs
// it; the page asks once and then shows the services.
func TestDashboard_TokenAsked(t *testing.T) {
	ctx := browser(t)
	p := newProject(t)
	tokenFile := filepath.Join(p.dir, "token")
	writeFile(t, tokenFile, "s3cret-token\n")
	p.serveArgs = []string{"--ui-listen", "127.0.0.1:0", "--token-file", tokenFile}
	p.writeSpec(goodSpec)
	p.startServe()
	p.mustBerth("deploy")
	url := p.dashboardURL()
	run(t, ctx, "token asked, then services shown", 30*time.Second,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`#token-form`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), "s3cret-token"),
		chromedp.Click(chromedp.CSS(`#token-form button`)),
		chromedp.WaitVisible(chromedp.CSS(`#services tr[data-service="catalog"]`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#token-form`)))
}

// waitText waits (within the caller's deadline) until the first element
// matching sel contains want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return waitTrue(fmt.Sprintf(`((document.querySelector(%q)||{}).textContent||"").includes(%q)`, sel, want))
}

// waitTrue waits (within the caller's deadline) until the JavaScript
// expression is true.
func waitTrue(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(0))
}
