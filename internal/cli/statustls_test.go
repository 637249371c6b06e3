package cli

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

// status lists each host's certificate with its source, issuer and
// expiry, flags one expiring within 14 days or failing, and -o json
// carries the same fields.
func TestStatus_RendersCertificates(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	st := api.Status{Project: "shop", Router: "http://127.0.0.1:80", RouterTLS: "https://127.0.0.1:443", Services: []api.Service{}, TLS: []api.TLSCert{
		{Host: "app.localhost", Source: "local-ca", Issuer: "berth local CA", NotAfter: now.Add(30 * 24 * time.Hour)},
		{Host: "shop.example.com", Source: "acme", Issuer: "R11", NotAfter: now.Add(5 * 24 * time.Hour), Error: ""},
		{Host: "www.example.com", Source: "acme", Error: "order failed: rate limited"},
	}}
	var out bytes.Buffer
	c := &statusCommand{g: &globals{stdout: &out}, now: func() time.Time { return now }}
	if err := c.print(st, false); err != nil {
		t.Fatal(err)
	}
	want := `project shop, router http://127.0.0.1:80, https https://127.0.0.1:443
SERVICE  STATE  RELEASE  COMMIT  TASKS  RESTARTS  ROUTE  DEPLOYMENT

HOST              CERTIFICATE  ISSUER          EXPIRES              PROBLEM
app.localhost     local-ca     berth local CA  2026-01-31 (in 30d)  -
shop.example.com  acme         R11             2026-01-06 (in 5d)   expires within 14 days
www.example.com   acme         -               -                    order failed: rate limited
`
	if got := out.String(); got != want {
		t.Errorf("status printed:\n%s\nwant:\n%s", got, want)
	}
	b, _ := json.Marshal(st)
	var back api.Status
	if err := json.Unmarshal(b, &back); err != nil || len(back.TLS) != 3 || back.TLS[1].NotAfter != st.TLS[1].NotAfter || back.TLS[2].Error == "" {
		t.Fatalf("-o json round trip lost the certificates: %s", b)
	}
}
