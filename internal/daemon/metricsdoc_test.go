package daemon

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestGrafanaDashboardCoversMetrics: docs/grafana-berth.json is valid JSON
// and has a panel querying every berth metric docs/metrics.md lists.
func TestGrafanaDashboardCoversMetrics(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../docs/grafana-berth.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("docs/grafana-berth.json: %v", err)
	}
	var exprs strings.Builder
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			exprs.WriteString(q.Expr + "\n")
		}
	}
	names := regexp.MustCompile("(?m)^\\| `(berth_[a-z_]+)`").FindAllStringSubmatch(string(doc), -1)
	if len(names) < 10 {
		t.Fatalf("docs/metrics.md lists %d metrics", len(names))
	}
	for _, m := range names {
		if !strings.Contains(exprs.String(), m[1]) {
			t.Errorf("no Grafana panel queries %s", m[1])
		}
	}
}
