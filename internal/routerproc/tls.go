package routerproc

import (
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/berth-dev/berth/internal/certs"
	"github.com/berth-dev/berth/internal/router"
)

// CertsDir is where, inside the state directory, the router keeps its
// local CA and ACME certificates.
const CertsDir = "tls"

// newCertManager prepares the certificates of the TLS listener.
func newCertManager(cfg Config, log *slog.Logger) (*certs.Manager, error) {
	ts := cfg.Settings.TLS
	if ts == nil {
		ts = &TLSSettings{}
	}
	host, httpPort := hostPort(cfg.Listener.Addr())
	_, tlsPort := hostPort(cfg.TLSListener.Addr())
	return certs.New(certs.Options{
		Dir:        filepath.Join(cfg.State, CertsDir),
		ACME:       ts.ACME,
		Default:    ts.Default,
		Files:      ts.Hosts,
		ListenHost: host,
		HTTPPort:   httpPort,
		TLSPort:    tlsPort,
		Logger:     log.With("component", "certs"),
	})
}

// plainOptions redirect the plain listener's requests for TLS hosts to
// HTTPS, except ACME HTTP-01 challenges, which the manager answers.
func plainOptions(cfg Config, m *certs.Manager) router.ServeOptions {
	_, port := hostPort(cfg.TLSListener.Addr())
	return router.ServeOptions{Wrap: func(next http.Handler) http.Handler {
		return router.HTTPSRedirect(next, m.Hosts, port, m.HandleHTTPChallenge)
	}}
}

// tlsOptions serve the manager's certificates, with HSTS when asked.
func tlsOptions(cfg Config, m *certs.Manager) router.ServeOptions {
	o := router.ServeOptions{TLS: m.TLSConfig()}
	if ts := cfg.Settings.TLS; ts != nil && ts.HSTS > 0 {
		o.Wrap = func(next http.Handler) http.Handler { return router.HSTS(next, ts.HSTS) }
	}
	return o
}

// tableHosts are the hosts a table's routes answer on.
func tableHosts(t *router.Table) []string {
	var out []string
	for _, r := range t.Routes {
		if r.Host != "" {
			out = append(out, r.Host)
		}
	}
	return out
}

func hostPort(a net.Addr) (string, int) {
	h, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return "", 0
	}
	n, _ := strconv.Atoi(p)
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		h = ""
	}
	return h, n
}
