package cli

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/certs"
	"github.com/berth-dev/berth/internal/routerproc"
	"github.com/berth-dev/berth/internal/spec"
)

// routerConfig turns the spec's router: section into the router
// process's settings; keys left out keep the router's defaults.
func routerConfig(s *spec.Router) routerproc.Settings {
	if s == nil {
		return routerproc.Settings{}
	}
	rate, _ := s.AccessLogRate() // validated with the spec
	return routerproc.Settings{
		AccessLog:              rate,
		Upstream:               s.Upstream,
		ReadHeaderTimeout:      time.Duration(s.ClientHeaderTimeout),
		ClientBodyTimeout:      time.Duration(s.ClientBodyTimeout),
		ClientWriteTimeout:     time.Duration(s.ClientSendTimeout),
		IdleTimeout:            time.Duration(s.ClientIdleTimeout),
		DialTimeout:            time.Duration(s.UpstreamConnectTimeout),
		ResponseHeaderTimeout:  time.Duration(s.UpstreamHeaderTimeout),
		UpstreamReadTimeout:    time.Duration(s.UpstreamReadTimeout),
		UpstreamWriteTimeout:   time.Duration(s.UpstreamSendTimeout),
		MaxHeaderBytes:         int(s.MaxRequestHeader),
		MaxResponseHeaderBytes: int(s.MaxResponseHeader),
		MaxRequestBodyBytes:    int64(s.MaxRequestBody),
		MaxConns:               s.MaxConnections,
		AllowUnderscoreHeaders: s.UnderscoresInHeaders,
		EncodedSlashes:         s.EncodedSlashes,
	}
}

// withTLS adds the spec's tls: section to the router settings when the
// router has an HTTPS listener; relative paths are resolved under the
// spec's directory (the router process runs in /).
func withTLS(s routerproc.Settings, o daemonOptions) routerproc.Settings {
	if o.listenTLS == "" {
		return s
	}
	ts := &routerproc.TLSSettings{}
	s.TLS = ts
	t := o.tls
	if t == nil {
		return s
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) || o.specRoot == "" {
			return p
		}
		return filepath.Join(o.specRoot, p)
	}
	if t.ACME != nil {
		ts.ACME = certs.ACME{Email: t.ACME.Email, Directory: t.ACME.Directory, CARoot: abs(t.ACME.CARoot)}
	}
	if t.Cert != "" {
		ts.Default = &certs.FilePair{Cert: abs(t.Cert), Key: abs(t.Key)}
	}
	for h, c := range t.Hosts {
		if c == nil {
			continue
		}
		if ts.Hosts == nil {
			ts.Hosts = map[string]certs.FilePair{}
		}
		ts.Hosts[strings.ToLower(h)] = certs.FilePair{Cert: abs(c.Cert), Key: abs(c.Key)}
	}
	if t.HSTS != "" {
		ts.HSTS, _ = spec.ParseHSTS(t.HSTS) // validated with the spec
	}
	return s
}
