package deploy

import (
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/spec"
)

func TestAnalyze(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	cases := []struct {
		name   string
		a      spec.Analysis
		s      Signals
		reason string // empty: ok
	}{
		{"no traffic", spec.Analysis{}, Signals{}, ""},
		{"defaults: below 20 requests no verdict", spec.Analysis{}, Signals{Requests: 19, Errors5xx: 19}, ""},
		{"defaults: 5xx above 5%", spec.Analysis{}, Signals{Requests: 200, Errors5xx: 62},
			"5xx 31% > 5% over 10s on catalog release 7"},
		{"defaults: exactly 5% passes", spec.Analysis{}, Signals{Requests: 200, Errors5xx: 10}, ""},
		{"just above the threshold prints more digits", spec.Analysis{}, Signals{Requests: 10000, Errors5xx: 501},
			"5xx 5.010% > 5% over 10s on catalog release 7"},
		{"defaults: p99 not judged", spec.Analysis{}, Signals{Requests: 100, P99: time.Minute}, ""},
		{"fractional threshold", spec.Analysis{Max5xxRate: 0.5, MinRequests: 100, Window: spec.Duration(time.Minute)},
			Signals{Requests: 1000, Errors5xx: 6}, "5xx 0.6% > 0.5% over 1m on catalog release 7"},
		{"p99 above max", spec.Analysis{MaxP99: spec.Duration(ms(800))}, Signals{Requests: 50, P99: ms(1200)},
			"p99 1.2s > 800ms over 10s on catalog release 7"},
		{"p99 at max passes", spec.Analysis{MaxP99: spec.Duration(ms(800))}, Signals{Requests: 50, P99: ms(800)}, ""},
		{"5xx reported before p99", spec.Analysis{MaxP99: spec.Duration(ms(800))}, Signals{Requests: 50, Errors5xx: 50, P99: ms(1200)},
			"5xx 100% > 5% over 10s on catalog release 7"},
		{"configured floor", spec.Analysis{MinRequests: 1}, Signals{Requests: 1, Errors5xx: 1},
			"5xx 100% > 5% over 10s on catalog release 7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason := Analyze(tc.a, tc.s, "catalog", 7)
			if ok != (tc.reason == "") || reason != tc.reason {
				t.Fatalf("Analyze = %v, %q; want reason %q", ok, reason, tc.reason)
			}
		})
	}
}

func TestResolveAnalysis(t *testing.T) {
	got := ResolveAnalysis(nil)
	want := spec.Analysis{Max5xxRate: 5, MinRequests: 20, Window: spec.Duration(10 * time.Second)}
	if got.Max5xxRate != want.Max5xxRate || got.MinRequests != want.MinRequests || got.Window != want.Window || got.MaxP99 != 0 {
		t.Fatalf("ResolveAnalysis(nil) = %+v, want %+v", got, want)
	}
	set := spec.Analysis{Max5xxRate: 1, MinRequests: 5, Window: spec.Duration(time.Second), MaxP99: spec.Duration(time.Second)}
	if got := ResolveAnalysis(&set); got.Max5xxRate != 1 || got.MinRequests != 5 || got.Window != set.Window || got.MaxP99 != set.MaxP99 {
		t.Fatalf("ResolveAnalysis kept %+v as %+v", set, got)
	}
}
