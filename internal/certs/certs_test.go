package certs

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// serveTLS serves h over TLS with m's configuration on loopback.
func serveTLS(t *testing.T, m *Manager, h http.Handler) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", m.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func newManager(t *testing.T, o Options) *Manager {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestSourceFor: names no public CA certifies come from the local CA,
// others from ACME, and own files win over both.
func TestSourceFor(t *testing.T) {
	for _, tc := range []struct {
		host, want string
	}{
		{"localhost", SourceLocalCA},
		{"app.localhost", SourceLocalCA},
		{"127.0.0.1", SourceLocalCA},
		{"::1", SourceLocalCA},
		{"svc.internal", SourceLocalCA},
		{"intranet", SourceLocalCA},
		{"api.example.com", SourceACME},
	} {
		if got := (&Manager{files: map[string]*fileCert{}}).sourceFor(tc.host); got != tc.want {
			t.Errorf("sourceFor(%q) = %s, want %s", tc.host, got, tc.want)
		}
	}
	m := &Manager{files: map[string]*fileCert{"api.example.com": {}}}
	if got := m.sourceFor("api.example.com"); got != SourceFile {
		t.Errorf("a host with its own files: %s, want %s", got, SourceFile)
	}
}

// TestLocalCA_PersistsAndSigns: the CA is created once (0600 files) and
// read back by the next open; its leaves verify against its root.
func TestLocalCA_PersistsAndSigns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := OpenLocalCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{CAFile, CAKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v mode %v, want 0600", f, err, fi.Mode().Perm())
		}
	}
	again, err := OpenLocalCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(again.RootPEM()) != string(ca.RootPEM()) {
		t.Fatal("a second open made a new CA")
	}
	leaf, err := again.Leaf("app.localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app.localhost", "127.0.0.1"} {
		if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: ca.Pool()}); err != nil {
			t.Errorf("leaf for %s does not verify against the root: %v", name, err)
		}
	}
}

// TestManager_LocalHostsServeLocalCA: a TLS client trusting the local CA
// reaches a localhost route host and an IP (no SNI).
func TestManager_LocalHostsServeLocalCA(t *testing.T) {
	m := newManager(t, Options{})
	m.SetHosts([]string{"app.localhost"})
	addr := serveTLS(t, m, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, name := range []string{"app.localhost", ""} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, RootCAs: m.CA().Pool(), InsecureSkipVerify: name == ""})
		if err != nil {
			t.Fatalf("handshake for %q: %v", name, err)
		}
		leaf := conn.ConnectionState().PeerCertificates[0]
		conn.Close()
		if leaf.Issuer.CommonName != m.CA().Root().Subject.CommonName {
			t.Errorf("%q served a certificate of %q, want the local CA", name, leaf.Issuer.CommonName)
		}
		if name == "" {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: m.CA().Pool()}); err != nil || len(leaf.IPAddresses) == 0 || !leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
				t.Errorf("no-SNI certificate: %v %v, want one for 127.0.0.1", err, leaf.IPAddresses)
			}
		}
	}
	st := m.Status()
	if len(st) != 1 || st[0].Source != SourceLocalCA || st[0].NotAfter.IsZero() {
		t.Fatalf("status %+v, want app.localhost from the local CA with an expiry", st)
	}
}

// TestManager_OwnCertReloaded: replacing the files of an own certificate
// changes what the next handshake serves, while a connection opened
// before keeps working.
func TestManager_OwnCertReloaded(t *testing.T) {
	dir := t.TempDir()
	ca, err := OpenLocalCA(filepath.Join(dir, "users-ca"))
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePair := func(serialWanted *string) {
		t.Helper()
		ca.leaves = map[string]*tls.Certificate{} // a fresh leaf each time
		c, err := ca.Leaf("shop.example.com")
		if err != nil {
			t.Fatal(err)
		}
		certPEM, keyPEM := encodePair(t, c)
		if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(certPath, certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		*serialWanted = c.Leaf.SerialNumber.String()
	}
	var first, second string
	writePair(&first)
	m := newManager(t, Options{Dir: filepath.Join(dir, "state"), Files: map[string]FilePair{"shop.example.com": {Cert: certPath, Key: keyPath}}, ReloadEvery: time.Hour})
	m.SetHosts([]string{"shop.example.com"})
	addr := serveTLS(t, m, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "shop.example.com", RootCAs: ca.Pool()}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	get := func(c *http.Client) string {
		t.Helper()
		resp, err := c.Get("https://" + addr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body) // so the connection is reused
		return resp.TLS.PeerCertificates[0].SerialNumber.String()
	}
	if got := get(hc); got != first {
		t.Fatalf("served serial %s, want %s", got, first)
	}
	writePair(&second)
	_ = os.Chtimes(certPath, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	m.ReloadFiles()
	if got := get(hc); got != first {
		t.Errorf("the open keep-alive connection changed certificate (%s): it should go on", got)
	}
	fresh := &http.Client{Transport: &http.Transport{TLSClientConfig: tr.TLSClientConfig.Clone()}}
	if got := get(fresh); got != second {
		t.Fatalf("after the files changed a new handshake served %s, want %s", got, second)
	}
	// A broken pair keeps the last good certificate.
	if err := os.WriteFile(keyPath, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	m.ReloadFiles()
	fresh2 := &http.Client{Transport: &http.Transport{TLSClientConfig: tr.TLSClientConfig.Clone()}}
	if got := get(fresh2); got != second {
		t.Fatalf("a broken key replaced the certificate: served %s, want %s", got, second)
	}
}
