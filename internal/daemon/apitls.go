package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/certs"
	"github.com/berth-dev/berth/internal/routerproc"
)

// PlainHTTPRefusal is the answer to a plain-HTTP request on the TCP API.
const PlainHTTPRefusal = "berth: this API port speaks HTTPS only, so the bearer token never crosses the network in the clear.\n" +
	"Use BERTH_API=https://HOST:PORT and trust the control plane's CA: BERTH_API_CA=PATH (print it with `berth tls ca` on the server).\n"

// apiTLSConfig is the TCP API's TLS configuration: its own certificate
// files when given, else a certificate from the local CA for the names a
// client may dial it by.
func apiTLSConfig(o Options, addr net.Addr) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: certs.ModernCipherSuites, NextProtos: []string{"h2", "http/1.1"}}
	if o.APICert != "" || o.APIKey != "" {
		c, err := tls.LoadX509KeyPair(o.APICert, o.APIKey)
		if err != nil {
			return nil, usageErr("API certificate: %v (pass --api-cert and --api-key of a matching pair)", err)
		}
		cfg.Certificates = []tls.Certificate{c}
		return cfg, nil
	}
	ca, err := certs.OpenLocalCA(filepath.Join(o.State, routerproc.CertsDir, "ca"))
	if err != nil {
		return nil, fmt.Errorf("local CA for the API: %w", err)
	}
	names := apiNames(addr)
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return ca.Leaf(names...) }
	return cfg, nil
}

// apiNames are the names and addresses the API's certificate covers.
func apiNames(addr net.Addr) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		names = append(names, h)
	}
	host, _, _ := net.SplitHostPort(addr.String())
	ip := net.ParseIP(host)
	if ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
		return append(names, host)
	}
	if ip != nil && ip.IsUnspecified() {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
					names = append(names, n.IP.String())
				}
			}
		}
	}
	return names
}

// tlsOnly wraps a TCP listener so it serves TLS only: a client that
// speaks plain HTTP is answered 400 with PlainHTTPRefusal and closed.
func tlsOnly(ln net.Listener, cfg *tls.Config) net.Listener {
	return tls.NewListener(sniffListener{ln}, cfg)
}

type sniffListener struct{ net.Listener }

func (l sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c}, nil
}

// sniffConn checks the first bytes a client sends: a TLS handshake
// record starts with 0x16; anything else is refused in plain words.
type sniffConn struct {
	net.Conn
	once sync.Once
	err  error
}

// errPlainHTTP ends a connection that spoke plain HTTP to the TLS API.
var errPlainHTTP = errors.New("plain HTTP on the TLS-only API")

func (c *sniffConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return c.Conn.Read(b)
	}
	first := false
	c.once.Do(func() { first = true })
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Read(b)
	if first && n > 0 && b[0] != 0x16 {
		c.err = errPlainHTTP
		if looksLikeHTTP(b[:n]) {
			_ = c.Conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
			_, _ = fmt.Fprintf(c.Conn, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(PlainHTTPRefusal), PlainHTTPRefusal)
		}
		_ = c.Conn.Close()
		return 0, c.err
	}
	return n, err
}

func looksLikeHTTP(b []byte) bool {
	for _, m := range []string{"GET ", "POST", "PUT ", "HEAD", "DELE", "PATC", "OPTI", "CONN", "TRAC", "PRI "} {
		if bytes.HasPrefix(b, []byte(m)) || len(b) < 4 && bytes.HasPrefix([]byte(m), b) {
			return true
		}
	}
	return false
}

// tlsCheckEvery is how often the control plane checks the router's
// certificates for an expiry within 14 days or a failed renewal.
const tlsCheckEvery = time.Hour

// tlsReporter reads the router process's certificates for the control
// plane.
type tlsReporter struct{ c *routerproc.Client }

func (r tlsReporter) TLSCerts(ctx context.Context) ([]api.TLSCert, error) {
	hcs, err := r.c.TLS(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.TLSCert, 0, len(hcs))
	for _, h := range hcs {
		out = append(out, api.TLSCert{Host: h.Host, Source: h.Source, Issuer: h.Issuer, NotAfter: h.NotAfter, Error: h.Error})
	}
	return out, nil
}
