package deploy

import (
	"fmt"
	"strconv"
	"time"

	"github.com/berth-dev/berth/internal/spec"
)

// Analysis defaults, used where the spec leaves a threshold zero, so a
// canary with no analysis configured is still protected.
const (
	DefaultMax5xxRate  spec.Percent  = 5
	DefaultMinRequests               = 20
	DefaultWindow      time.Duration = 10 * time.Second
)

// Signals is what the router saw of one release's traffic over the
// analysis window. The control plane converts router.Signals to it.
type Signals struct {
	Requests  int           `json:"requests"`
	Errors5xx int           `json:"errors_5xx"`
	P99       time.Duration `json:"p99"`
}

// CheckResult is the outcome of one pre-traffic check: a smoke request or
// the external webhook.
type CheckResult struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// ResolveAnalysis returns a with its zero thresholds replaced by the
// defaults: 5xx rate 5%, p99 off, 20 requests, 10s window. A nil a is all
// defaults.
func ResolveAnalysis(a *spec.Analysis) spec.Analysis {
	var out spec.Analysis
	if a != nil {
		out = *a
	}
	if out.Max5xxRate <= 0 {
		out.Max5xxRate = DefaultMax5xxRate
	}
	if out.MinRequests <= 0 {
		out.MinRequests = DefaultMinRequests
	}
	if out.Window <= 0 {
		out.Window = spec.Duration(DefaultWindow)
	}
	return out
}

// Analyze judges a release on its own traffic: with fewer than MinRequests
// requests in the window there is no verdict (ok); a 5xx rate above
// Max5xxRate fails it; a p99 above MaxP99 (when set) fails it. Zero
// thresholds take the defaults of ResolveAnalysis. The reason of a failure
// names the signal, its value, the threshold, the window and the release:
// "5xx 31% > 5% over 10s on catalog release 7". It does not say where
// traffic went back to; Advance adds that.
func Analyze(a spec.Analysis, s Signals, service string, release int) (ok bool, reason string) {
	a = ResolveAnalysis(&a)
	if s.Requests <= 0 || s.Requests < a.MinRequests {
		return true, ""
	}
	where := fmt.Sprintf("over %s on %s release %d", a.Window, service, release)
	rate := float64(s.Errors5xx) * 100 / float64(s.Requests)
	if rate > float64(a.Max5xxRate) {
		return false, fmt.Sprintf("5xx %s > %s %s", formatRate(rate, a.Max5xxRate), a.Max5xxRate, where)
	}
	if a.MaxP99 > 0 && s.P99 > a.MaxP99.Std() {
		return false, fmt.Sprintf("p99 %s > %s %s", s.P99, a.MaxP99, where)
	}
	return true, ""
}

// formatRate prints a percentage with at most one decimal (31%, 5.3%),
// or more when one decimal would print the threshold it exceeds.
func formatRate(p float64, limit spec.Percent) string {
	s := strconv.FormatFloat(float64(int64(p*10+0.5))/10, 'f', -1, 64) + "%"
	if s == limit.String() {
		s = strconv.FormatFloat(p, 'f', 3, 64) + "%"
	}
	return s
}
