package spec

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// TLS is the `tls:` section of berth.yaml: how the router's HTTPS
// listener (listen_tls) gets its certificates. Hosts of routes get a
// certificate from ACME (Let's Encrypt unless acme.directory says
// otherwise); hosts no public CA certifies (localhost, *.localhost, IP
// addresses) get one from berth's local CA; cert and key (default) or
// hosts (per host) name the user's own PEM files, reloaded when they
// change.
type TLS struct {
	ACME *ACME `yaml:"acme,omitempty" json:"acme,omitempty"`
	// Cert and Key are the default certificate for every host without
	// one of its own in Hosts.
	Cert string `yaml:"cert,omitempty" json:"cert,omitempty"`
	Key  string `yaml:"key,omitempty" json:"key,omitempty"`
	// Hosts are the user's own certificates, by host name.
	Hosts map[string]*TLSCert `yaml:"hosts,omitempty" json:"hosts,omitempty"`
	// HSTS is the max-age of Strict-Transport-Security on HTTPS
	// responses ("1y", "180d", "24h"); empty sends none.
	HSTS string `yaml:"hsts,omitempty" json:"hsts,omitempty"`
}

// ACME configures automatic certificates.
type ACME struct {
	Email     string `yaml:"email,omitempty" json:"email,omitempty"`
	Directory string `yaml:"directory,omitempty" json:"directory,omitempty"`
	// CARoot is a PEM file of roots trusted for the directory's HTTPS (a
	// private ACME server).
	CARoot string `yaml:"ca_root,omitempty" json:"ca_root,omitempty"`
}

// TLSCert names a certificate chain and its key in PEM files.
type TLSCert struct {
	Cert string `yaml:"cert" json:"cert"`
	Key  string `yaml:"key" json:"key"`
}

// ParseHSTS reads an HSTS max-age: a number of years ("1y") or days
// ("180d"), or a Go duration ("24h").
func ParseHSTS(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	day := 24 * time.Hour
	for suffix, unit := range map[string]time.Duration{"y": 365 * day, "d": day} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 || time.Duration(v) > 100*365*day/unit {
				return 0, fmt.Errorf("invalid hsts %q (write e.g. 1y, 180d or 24h)", s)
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > 100*365*day {
		return 0, fmt.Errorf("invalid hsts %q (write e.g. 1y, 180d or 24h)", s)
	}
	return d, nil
}

// checkTLS validates listen_tls and the tls: section.
func (l *loader) checkTLS(s *Spec) {
	if s.ListenTLS != "" {
		l.checkListen("listen_tls", s.ListenTLS)
		if s.ListenTLS == s.Listen {
			l.atKey("listen_tls", fmt.Sprintf("listen_tls %s is the same address as listen", s.ListenTLS), "give HTTPS its own port, e.g. :443 beside listen: :80")
		}
	}
	for name, env := range s.Environments {
		if env != nil && env.ListenTLS != "" {
			l.checkListen("environments."+name+".listen_tls", env.ListenTLS)
		}
	}
	t := s.TLS
	if t == nil {
		return
	}
	if (t.Cert == "") != (t.Key == "") {
		l.atKey("tls", "tls names a cert without a key or a key without a cert", "write both tls.cert and tls.key")
	}
	for h, c := range t.Hosts {
		switch {
		case c == nil || c.Cert == "" || c.Key == "":
			l.atKey("tls.hosts."+h, fmt.Sprintf("host %s needs both cert and key", h), "write {cert: PATH, key: PATH}")
		case strings.ContainsAny(h, "/:* ") && net.ParseIP(h) == nil:
			l.atKey("tls.hosts."+h, fmt.Sprintf("%q is not a host name", h), "write a host name such as api.example.com")
		}
	}
	if t.HSTS != "" {
		if _, err := ParseHSTS(t.HSTS); err != nil {
			l.atKey("tls.hsts", err.Error(), "write e.g. 1y")
		}
	}
	if t.ACME != nil && t.ACME.Directory != "" {
		l.checkURL("tls.acme.directory", t.ACME.Directory, "ACME directory")
	}
	if t.ACME != nil && t.ACME.Email != "" && !strings.Contains(t.ACME.Email, "@") {
		l.atKey("tls.acme.email", fmt.Sprintf("%q is not an email address", t.ACME.Email), "write e.g. ops@example.com")
	}
}
