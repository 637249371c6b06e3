package control

import (
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

// TestTLSAlerts: a certificate expiring within 14 days or failing is
// reported once per state; a renewal (new expiry) or a new error reports
// again; a healthy certificate, or one not obtained yet, is not reported.
func TestTLSAlerts(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	ok := api.TLSCert{Host: "ok.example.com", Source: "acme", NotAfter: now.Add(60 * day)}
	soon := api.TLSCert{Host: "soon.example.com", Source: "acme", NotAfter: now.Add(13 * day)}
	failing := api.TLSCert{Host: "bad.example.com", Source: "acme", NotAfter: now.Add(40 * day), Error: "rate limited"}
	pending := api.TLSCert{Host: "new.example.com", Source: "acme", Error: "not obtained yet"}
	expired := api.TLSCert{Host: "old.example.com", Source: "file", NotAfter: now.Add(-day)}

	steps := []struct {
		name  string
		at    time.Time
		certs []api.TLSCert
		want  []string // hosts alerted
	}{
		{"first check", now, []api.TLSCert{ok, soon, failing, pending, expired}, []string{"bad.example.com", "old.example.com", "soon.example.com"}},
		{"same states again", now.Add(time.Hour), []api.TLSCert{ok, soon, failing, pending, expired}, nil},
		{"renewal fails anew with another error", now.Add(2 * time.Hour), []api.TLSCert{ok, soon, {Host: "bad.example.com", Source: "acme", NotAfter: failing.NotAfter, Error: "timeout"}}, []string{"bad.example.com"}},
		{"renewed: nothing to say", now.Add(3 * time.Hour), []api.TLSCert{ok, {Host: "soon.example.com", Source: "acme", NotAfter: now.Add(90 * day)}}, nil},
		{"the same host expiring again later reports again", now.Add(80 * day), []api.TLSCert{{Host: "soon.example.com", Source: "acme", NotAfter: now.Add(90 * day)}}, []string{"soon.example.com"}},
	}
	seen := map[string]string{}
	for _, st := range steps {
		var alerts []tlsAlert
		alerts, seen = tlsAlerts(st.at, st.certs, seen)
		var got []string
		for _, a := range alerts {
			got = append(got, a.host)
			if a.message == "" {
				t.Errorf("%s: alert for %s has no message", st.name, a.host)
			}
		}
		if len(got) != len(st.want) {
			t.Fatalf("%s: alerted %v, want %v", st.name, got, st.want)
		}
		for i := range got {
			if got[i] != st.want[i] {
				t.Fatalf("%s: alerted %v, want %v", st.name, got, st.want)
			}
		}
	}
}
