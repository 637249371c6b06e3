package control

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

func TestCheckPhases(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	ok := api.PhaseTiming{Name: "build", Service: "web", Start: t0, End: t0.Add(time.Second)}
	many := make([]api.PhaseTiming, maxClientPhases+1)
	for i := range many {
		many[i] = ok
	}
	tests := []struct {
		name    string
		in      []api.PhaseTiming
		wantErr string
	}{
		{"none", nil, ""},
		{"good", []api.PhaseTiming{ok}, ""},
		{"no name", []api.PhaseTiming{{Start: t0, End: t0}}, "phases[0].name"},
		{"no end", []api.PhaseTiming{{Name: "x", Start: t0}}, "start and end"},
		{"backwards", []api.PhaseTiming{{Name: "x", Start: t0.Add(time.Second), End: t0}}, "before start"},
		{"long detail", []api.PhaseTiming{{Name: "x", Start: t0, End: t0, Detail: strings.Repeat("a", 2000)}}, "too long"},
		{"too many", many, "more than"},
	}
	for _, tt := range tests {
		err := checkPhases(tt.in)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: checkPhases = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestValidSetIDAndTraceQuery(t *testing.T) {
	for s, want := range map[string]bool{"set-20261127-101600-1b46": true, "": false, "SET": false, "set/../x": false, strings.Repeat("a", 129): false} {
		if got := validSetID(s); got != want {
			t.Errorf("validSetID(%q) = %v, want %v", s, got, want)
		}
	}
	for s, want := range map[string]bool{"4bf92f3577b34da6a3ce929d0e0e4736": true, "req-1234": true, "short": false, "a b c d e f": false, strings.Repeat("a", 65): false} {
		if got := validTraceQuery(s); got != want {
			t.Errorf("validTraceQuery(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestTimelineAPI_RefusesBadIDs: GET /v1/deployments/{id}/timeline answers
// an id that is neither a deployment nor a release set with 400, an
// unknown one with 404, never a 500 or a panic.
func TestTimelineAPI_RefusesBadIDs(t *testing.T) {
	p := newPlane(t)
	h := p.srv.Handler("", func() {})
	for id, want := range map[string]int{
		"..%2F..%2Fetc":            http.StatusBadRequest,
		"SET":                      http.StatusBadRequest,
		"%00":                      http.StatusBadRequest,
		strings.Repeat("9", 40):    http.StatusNotFound, // shaped like a set id
		"set-20261127-101600-1b46": http.StatusNotFound,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/deployments/"+id+"/timeline", nil))
		if rec.Code != want {
			t.Errorf("timeline of %q: %d %s, want %d", id, rec.Code, rec.Body, want)
		}
	}
}
