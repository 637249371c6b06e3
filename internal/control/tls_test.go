package control

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/spec"
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

// fakeTLS is a router reporting fixed certificates.
type fakeTLS []api.TLSCert

func (f fakeTLS) TLSCerts(context.Context) ([]api.TLSCert, error) { return f, nil }

// TestWatchTLS_EventAndNotification: a certificate expiring within 14
// days is a tls.expiring event of the service routed on its host and a
// webhook notification to that service's notify: targets.
func TestWatchTLS_EventAndNotification(t *testing.T) {
	hook := make(chan []byte, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hook <- b
	}))
	defer srv.Close()

	p := newPlane(t)
	now := p.clock.Now()
	p.srv.cfg.TLS = fakeTLS{{Host: "shop.example.com", Source: "acme", Issuer: "R11", NotAfter: now.Add(3 * 24 * time.Hour)}}
	src := "project: test\nnotify: [{url: " + srv.URL + "}]\nservices:\n  web:\n    run: ./web\n    route: {host: shop.example.com}\n    count: 1\n"
	sp, err := spec.Parse("/tmp/berth.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := release.Config{Root: "/tmp", Service: sp.Services["web"], Notify: sp.Notify}.Encode()
	if _, err := p.srv.Deploy(context.Background(), api.DeployRequest{Commit: "c", Force: true,
		Releases: []api.ReleaseSpec{{Service: "web", Commit: "c", Config: raw}}}); err != nil {
		t.Fatal(err)
	}
	p.until("web runs", time.Second, func() bool { return p.srv.Status(context.Background()).Services[0].Release == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.srv.WatchTLS(ctx, time.Hour) }()
	defer func() { cancel(); <-done }()
	p.waitEvent(api.EventTLSExpiring, "shop.example.com")
	deadline := time.After(10 * time.Second)
	for {
		select {
		case b := <-hook:
			if strings.Contains(string(b), api.EventTLSExpiring) && strings.Contains(string(b), "shop.example.com") {
				if st := p.srv.Status(context.Background()); len(st.TLS) != 1 || st.TLS[0].Host != "shop.example.com" {
					t.Fatalf("status TLS = %+v", st.TLS)
				}
				return
			}
		case <-deadline:
			t.Fatal("no tls.expiring notification within 10s")
		}
	}
}
