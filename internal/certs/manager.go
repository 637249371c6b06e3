package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Sources of a host's certificate.
const (
	SourceACME    = "acme"
	SourceLocalCA = "local-ca"
	SourceFile    = "file"
)

// ExpiryWarning is how close to its expiry a certificate is reported as
// expiring (an event and a notification).
const ExpiryWarning = 14 * 24 * time.Hour

// ACME configures certificates from an ACME certificate authority.
type ACME struct {
	// Email is the account's contact address.
	Email string `json:"email,omitempty"`
	// Directory is the ACME directory URL. Default Let's Encrypt.
	Directory string `json:"directory,omitempty"`
	// CARoot is a PEM file of roots to trust for the directory's own
	// HTTPS (a private ACME server); default the system's roots.
	CARoot string `json:"ca_root,omitempty"`
}

// Options configure a Manager.
type Options struct {
	// Dir holds the local CA (ca/) and ACME accounts and certificates
	// (acme/); files 0600, directories 0700.
	Dir string
	// ACME configures automatic certificates.
	ACME ACME
	// Default, when set, is served for every host without a certificate
	// of its own in Files (instead of ACME or the local CA).
	Default *FilePair
	// Files are the user's own certificates, by host.
	Files map[string]FilePair
	// ListenHost, HTTPPort and TLSPort are where the router answers
	// HTTP-01 and TLS-ALPN-01 challenges (its listen and listen_tls).
	ListenHost        string
	HTTPPort, TLSPort int
	// Logger receives obtain, renew and reload lines.
	Logger *slog.Logger
	// ReloadEvery is how often own certificate files are checked for
	// changes. Default 2s.
	ReloadEvery time.Duration
	// Now is the clock for expiry reports. Default time.Now.
	Now func() time.Time
}

// HostCert describes the certificate served for one host.
type HostCert struct {
	Host     string    `json:"host"`
	Source   string    `json:"source"`
	Issuer   string    `json:"issuer,omitempty"`
	NotAfter time.Time `json:"not_after,omitzero"`
	// Error is the last failure to obtain, renew or load it.
	Error string `json:"error,omitempty"`
}

// Manager serves a certificate for every host it is told about, from the
// user's files, ACME or the local CA.
type Manager struct {
	o     Options
	log   *slog.Logger
	ca    *LocalCA
	magic *certmagic.Config
	acme  *certmagic.ACMEIssuer
	cache *certmagic.Cache

	files   map[string]*fileCert // by host ("" for the default)
	hosts   atomic.Pointer[map[string]string]
	managed map[string]bool // hosts handed to certmagic; guarded by mu

	mu       sync.Mutex
	failures map[string]string // last ACME failure by host
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// New opens (or creates) the local CA in o.Dir and prepares ACME. Call
// Close when done.
func New(o Options) (*Manager, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ReloadEvery <= 0 {
		o.ReloadEvery = defaultReloadEvery
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ca, err := OpenLocalCA(filepath.Join(o.Dir, "ca"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{o: o, log: o.Logger, ca: ca, files: map[string]*fileCert{}, managed: map[string]bool{},
		failures: map[string]string{}, ctx: ctx, cancel: cancel}
	empty := map[string]string{}
	m.hosts.Store(&empty)
	if o.Default != nil {
		m.files[""] = &fileCert{pair: *o.Default}
	}
	for h, p := range o.Files {
		m.files[strings.ToLower(h)] = &fileCert{pair: p}
	}
	for h, f := range m.files {
		if _, err := f.load(); err != nil {
			cancel()
			return nil, fmt.Errorf("tls certificate for %q: %w", cmpOr(h, "default"), err)
		}
	}
	var roots *x509.CertPool
	if o.ACME.CARoot != "" {
		b, err := os.ReadFile(o.ACME.CARoot)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("tls acme ca_root: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(b) {
			cancel()
			return nil, fmt.Errorf("tls acme ca_root %s: no PEM certificate in it", o.ACME.CARoot)
		}
	}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return m.magic, nil },
		Logger:           zap.NewNop(),
	})
	m.magic = certmagic.New(m.cache, certmagic.Config{
		Storage: &certmagic.FileStorage{Path: filepath.Join(o.Dir, "acme")},
		OnEvent: m.onEvent,
		Logger:  zap.NewNop(),
		// Stapling asks the CA's OCSP responder, which many (and private
		// ACME servers) no longer run.
		OCSP: certmagic.OCSPConfig{DisableStapling: true},
	})
	m.acme = certmagic.NewACMEIssuer(m.magic, certmagic.ACMEIssuer{
		CA:             cmpOr(o.ACME.Directory, certmagic.LetsEncryptProductionCA),
		Email:          o.ACME.Email,
		Agreed:         true,
		TrustedRoots:   roots,
		ListenHost:     o.ListenHost,
		AltHTTPPort:    o.HTTPPort,
		AltTLSALPNPort: o.TLSPort,
		Logger:         zap.NewNop(),
	})
	m.magic.Issuers = []certmagic.Issuer{m.acme}
	if len(m.files) > 0 {
		m.wg.Add(1)
		go m.reloadLoop()
	}
	return m, nil
}

// Close stops renewals and file reloads.
func (m *Manager) Close() error {
	m.cancel()
	m.wg.Wait()
	m.cache.Stop()
	return nil
}

// CA is the manager's local certificate authority.
func (m *Manager) CA() *LocalCA { return m.ca }

// SetHosts sets the hosts to serve certificates for: new hosts that need
// ACME are ordered (in the background; a certificate in storage is used
// without a new order), the others come from files or the local CA.
func (m *Manager) SetHosts(hosts []string) {
	next := map[string]string{}
	var order []string
	m.mu.Lock()
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if h == "" {
			continue
		}
		src := m.sourceFor(h)
		next[h] = src
		if src == SourceACME && !m.managed[h] {
			m.managed[h] = true
			order = append(order, h)
		}
	}
	m.mu.Unlock()
	m.hosts.Store(&next)
	if len(order) > 0 {
		slices.Sort(order)
		m.log.Info("managing certificates", "hosts", order)
		if err := m.magic.ManageAsync(m.ctx, order); err != nil {
			m.log.Error("manage certificates", "hosts", order, "error", err)
		}
	}
}

func (m *Manager) sourceFor(host string) string {
	if _, ok := m.files[host]; ok {
		return SourceFile
	}
	if _, ok := m.files[""]; ok {
		return SourceFile
	}
	if NeedsLocalCA(host) || !certmagic.SubjectQualifiesForPublicCert(host) {
		return SourceLocalCA
	}
	return SourceACME
}

// Renew renews host's ACME certificate now, whatever its expiry.
func (m *Manager) Renew(ctx context.Context, host string) error {
	host = strings.ToLower(host)
	if (*m.hosts.Load())[host] != SourceACME {
		return fmt.Errorf("%s has no ACME certificate to renew", host)
	}
	if err := m.magic.RenewCertSync(ctx, host, true); err != nil {
		return err
	}
	// The renewal is in storage; put it in the cache GetCertificate reads
	// (then drop the old one), so the next handshake serves it.
	old := m.cache.AllMatchingCertificates(host)
	cur, err := m.magic.CacheManagedCertificate(ctx, host)
	if err != nil {
		return fmt.Errorf("load the renewed certificate of %s: %w", host, err)
	}
	var stale []string
	for _, c := range old {
		if c.Hash() != cur.Hash() {
			stale = append(stale, c.Hash())
		}
	}
	m.cache.Remove(stale)
	return nil
}

// TLSConfig is a server configuration with modern defaults (TLS 1.2+,
// AEAD cipher suites with forward secrecy) that serves the manager's
// certificates and answers TLS-ALPN-01 challenges. HTTP/2 is offered.
func (m *Manager) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   ModernCipherSuites,
		NextProtos:     []string{"h2", "http/1.1", "acme-tls/1"},
		GetCertificate: m.GetCertificate,
	}
}

// ModernCipherSuites are the TLS 1.2 suites berth offers (TLS 1.3's are
// all good and not configurable).
var ModernCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ErrNoCertificate means a client asked for a name berth serves no
// certificate for.
var ErrNoCertificate = errors.New("no certificate for this name")

// GetCertificate picks the certificate for a handshake by its server
// name; it reads the current one, so renewals and reloads apply to the
// next handshake.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if slices.Contains(hello.SupportedProtos, "acme-tls/1") {
		return m.magic.GetCertificate(hello)
	}
	if name == "" {
		// No SNI: a client that dialled an IP address.
		if f := m.files[""]; f != nil {
			return f.current()
		}
		ip := "127.0.0.1"
		if hello.Conn != nil {
			if h, _, err := net.SplitHostPort(hello.Conn.LocalAddr().String()); err == nil {
				ip = h
			}
		}
		return m.ca.Leaf(ip)
	}
	src, known := (*m.hosts.Load())[name]
	if !known {
		src = m.sourceFor(name)
		if src == SourceACME {
			return nil, fmt.Errorf("%w: %q is not a host of any route", ErrNoCertificate, name)
		}
	}
	switch src {
	case SourceFile:
		if f := m.files[name]; f != nil {
			return f.current()
		}
		return m.files[""].current()
	case SourceACME:
		return m.magic.GetCertificate(hello)
	default:
		return m.ca.Leaf(name)
	}
}

// HandleHTTPChallenge answers an ACME HTTP-01 challenge request and
// reports whether r was one.
func (m *Manager) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	return m.acme.HandleHTTPChallenge(w, r)
}

// Hosts reports whether host is one the manager serves a certificate for.
func (m *Manager) Hosts(host string) bool {
	_, ok := (*m.hosts.Load())[strings.ToLower(host)]
	return ok
}

// Status describes the certificate of every host, sorted by host.
func (m *Manager) Status() []HostCert {
	hosts := *m.hosts.Load()
	out := make([]HostCert, 0, len(hosts))
	m.mu.Lock()
	failures := maps(m.failures)
	m.mu.Unlock()
	for h, src := range hosts {
		hc := HostCert{Host: h, Source: src, Error: failures[h]}
		var leaf *x509.Certificate
		switch src {
		case SourceFile:
			f := m.files[h]
			if f == nil {
				f = m.files[""]
			}
			c, _ := f.current()
			if err := f.err(); err != nil {
				hc.Error = err.Error()
			}
			if c != nil {
				leaf = c.Leaf
			}
		case SourceACME:
			for _, c := range m.cache.AllMatchingCertificates(h) {
				if c.Leaf != nil && (leaf == nil || c.Leaf.NotAfter.After(leaf.NotAfter)) {
					leaf = c.Leaf
				}
			}
			if leaf == nil && hc.Error == "" {
				hc.Error = "not obtained yet"
			}
		default:
			if c, err := m.ca.Leaf(h); err == nil {
				leaf = c.Leaf
			}
		}
		if leaf != nil {
			hc.Issuer = issuerName(leaf)
			hc.NotAfter = leaf.NotAfter
		}
		out = append(out, hc)
	}
	slices.SortFunc(out, func(a, b HostCert) int { return strings.Compare(a.Host, b.Host) })
	return out
}

// Expiring reports whether c needs attention at now: it expires within
// ExpiryWarning, or its last renewal or load failed.
func (c HostCert) Expiring(now time.Time) bool {
	return c.Error != "" && c.Error != "not obtained yet" || !c.NotAfter.IsZero() && c.NotAfter.Sub(now) < ExpiryWarning
}

func issuerName(c *x509.Certificate) string {
	if c.Issuer.CommonName != "" {
		return c.Issuer.CommonName
	}
	if len(c.Issuer.Organization) > 0 {
		return c.Issuer.Organization[0]
	}
	return c.Issuer.String()
}

// onEvent records certmagic's obtain and renew outcomes.
func (m *Manager) onEvent(_ context.Context, event string, data map[string]any) error {
	host, _ := data["identifier"].(string)
	switch event {
	case "cert_obtained":
		m.mu.Lock()
		delete(m.failures, host)
		m.mu.Unlock()
		m.log.Info("certificate obtained", "host", host, "renewal", data["renewal"])
	case "cert_failed":
		msg := fmt.Sprint(data["error"])
		m.mu.Lock()
		m.failures[host] = msg
		m.mu.Unlock()
		m.log.Error("certificate obtain or renewal failed", "host", host, "renewal", data["renewal"], "error", msg)
	}
	return nil
}

// reloadLoop reads the user's certificate files again when they change.
func (m *Manager) reloadLoop() {
	defer m.wg.Done()
	t := time.NewTicker(m.o.ReloadEvery)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		m.ReloadFiles()
	}
}

// ReloadFiles reads every own certificate whose files changed; a pair
// that fails to load keeps serving the previous certificate.
func (m *Manager) ReloadFiles() {
	for h, f := range m.files {
		changed, err := f.load()
		switch {
		case err != nil:
			m.log.Error("reload certificate files: keeping the previous certificate", "host", cmpOr(h, "default"), "error", err)
		case changed:
			m.log.Info("certificate files changed: reloaded", "host", cmpOr(h, "default"), "cert", f.pair.Cert)
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func maps(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
