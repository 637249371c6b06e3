package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestLogsTraceFollowsARequestAcrossServices: with the router's access log
// on, one request to the shop's orders (which calls catalog through the
// router, passing its trace on) is found by `berth logs --trace ID`: the
// router's access lines of both hops and the orders and catalog tasks'
// own lines, and nothing of another trace.
func TestLogsTraceFollowsARequestAcrossServices(t *testing.T) {
	p := newShop(t, func(_ *project, spec string) string {
		return spec + "\nrouter:\n  access_log: on\n"
	})
	p.serveArgs = []string{"--engine", "process"}
	p.startServe()
	p.mustBerth("deploy")

	trace := "4bf92f3577b34da6a3ce929d0e0e4736"
	other := "0af7651916cd43dd8448eb211c80319c"
	for _, id := range []string{trace, other} {
		req, err := http.NewRequest(http.MethodGet, "http://"+p.listen+"/orders/7", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Traceparent", "00-"+id+"-00f067aa0ba902b7-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /orders/7: %d %s", resp.StatusCode, body)
		}
	}

	var out string
	has := func(prefix, what string) bool {
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, prefix) && strings.Contains(line, what) {
				return true
			}
		}
		return false
	}
	defer func() {
		if t.Failed() {
			t.Logf("logs --trace:\n%s", out)
		}
	}()
	p.waitFor("the trace's lines from the router, orders and catalog", 20*time.Second, func() bool {
		out, _ = p.berth("logs", "--trace", trace)
		return has("router | ", `"path":"/orders/7"`) && has("router | ", `"path":"/catalog/items"`) &&
			has("orders-", `"path":"/orders/7"`) && has("catalog-", `"path":"/catalog/items"`)
	})
	if strings.Contains(out, other) {
		t.Errorf("logs --trace %s shows another trace's lines:\n%s", trace, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.Contains(line, trace) {
			t.Errorf("a line without the trace id: %q", line)
		}
	}
	if out, code := p.berth("logs", "catalog", "--trace", trace); code == 0 {
		t.Errorf("logs SERVICE --trace was accepted:\n%s", out)
	}
}
