package router

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a goroutine-safe line sink for the access log.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) entries(t *testing.T) []accessEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []accessEntry
	sc := bufio.NewScanner(strings.NewReader(s.b.String()))
	for sc.Scan() {
		var e accessEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("access log line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// TestAccessLogCarriesTheIDsTheTargetSaw: every request's access line has
// the request id and traceparent the target received (the client's, or
// the ones the router made), for both upstream clients; a request with no
// route is logged too.
func TestAccessLogCarriesTheIDsTheTargetSaw(t *testing.T) {
	for _, upstream := range []string{UpstreamBerth, UpstreamStd} {
		t.Run(upstream, func(t *testing.T) {
			var mu sync.Mutex
			seen := map[string]string{} // request id -> traceparent the target got
			addr := backend(t, "web", func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen[r.Header.Get("X-Request-Id")] = r.Header.Get("Traceparent")
				mu.Unlock()
			})
			var buf syncBuffer
			r, url := startRouter(t, Config{AccessLog: &buf, AccessLogSample: 1, Upstream: upstream})
			r.Publish(&Table{Version: 1, Routes: []Route{one("web", "/web", addr)}})
			tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			if code, _, _ := get(t, url+"/web/a", "Traceparent", tp, "X-Request-Id", "req-1"); code != 200 {
				t.Fatalf("status %d", code)
			}
			if code, _, _ := get(t, url+"/web/b"); code != 200 {
				t.Fatalf("status %d", code)
			}
			if code, _, _ := get(t, url+"/nowhere"); code != http.StatusNotFound {
				t.Fatalf("status %d, want 404", code)
			}
			es := buf.entries(t)
			if len(es) != 3 {
				t.Fatalf("%d access lines, want 3: %+v", len(es), es)
			}
			if e := es[0]; e.RequestID != "req-1" || e.Traceparent != tp || e.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || e.Route != "web" || e.Release != 1 || e.Status != 200 || e.Path != "/web/a" {
				t.Errorf("first line = %+v", e)
			}
			e := es[1]
			mu.Lock()
			got, ok := seen[e.RequestID]
			mu.Unlock()
			if e.RequestID == "" || !ok || got != e.Traceparent || len(e.TraceID) != 32 {
				t.Errorf("generated ids in the log (%q, %q) are not what the target got (%q)", e.RequestID, e.Traceparent, got)
			}
			if es[2].Status != http.StatusNotFound {
				t.Errorf("unrouted request logged as %+v", es[2])
			}
		})
	}
}

func TestSampledByTraceID(t *testing.T) {
	tests := []struct {
		trace string
		rate  float64
		want  bool
	}{
		{"00000000aaaaaaaaaaaaaaaaaaaaaaaa", 0.1, true},
		{"19999999aaaaaaaaaaaaaaaaaaaaaaaa", 0.1, true},
		{"1a000000aaaaaaaaaaaaaaaaaaaaaaaa", 0.1, false},
		{"ffffffffaaaaaaaaaaaaaaaaaaaaaaaa", 0.99, false},
		{"ffffffffaaaaaaaaaaaaaaaaaaaaaaaa", 1, true},
		{"00000000aaaaaaaaaaaaaaaaaaaaaaaa", 0, false},
		{"zz", 0.5, false},
	}
	for _, tt := range tests {
		if got := sampled(tt.trace, tt.rate); got != tt.want {
			t.Errorf("sampled(%s, %v) = %v, want %v", tt.trace, tt.rate, got, tt.want)
		}
	}
}
