package routerproc

import (
	"context"
	"crypto/x509"
	"io"
	"io/fs"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/certs"
	"github.com/berth-dev/berth/internal/router"
)

// tlsProc is a router "process" with a TLS listener, run in-process.
type tlsProc struct {
	addr, tlsAddr string
	client        *Client
	stop          func() error
}

func startTLSProc(t *testing.T, state string, set Settings) *tlsProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(state, SocketName)
	ctl, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Listener: ln, TLSListener: tln, State: state, Control: ctl, Build: "test", Settings: set})
	}()
	p := &tlsProc{addr: ln.Addr().String(), tlsAddr: tln.Addr().String(), client: NewClient(sock, nil)}
	stopped := false
	p.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		err := <-done
		p.client.Close()
		return err
	}
	t.Cleanup(func() { _ = p.stop() })
	return p
}

func hostRoute(name, host, addr string) router.Route {
	r := route(name, "", addr)
	r.Host = host
	return r
}

// certOf waits until the router reports a certificate for host, and
// returns what it says.
func certOf(t *testing.T, c *Client, host string) certs.HostCert {
	t.Helper()
	var got certs.HostCert
	waitFor(t, 90*time.Second, "a certificate for "+host, func() bool {
		all, err := c.TLS(context.Background())
		if err != nil {
			return false
		}
		for _, hc := range all {
			if hc.Host == host && !hc.NotAfter.IsZero() {
				got = hc
				return true
			}
		}
		return false
	})
	return got
}

// serve GETs https://host/ through the TLS listener at addr and returns
// the response and the leaf certificate served.
func serve(t *testing.T, addr, host string, roots *x509.CertPool) (*http.Response, string, *x509.Certificate) {
	t.Helper()
	resp, err := h2Client(addr, roots).Get("https://" + host + "/hello")
	if err != nil {
		t.Fatalf("GET https://%s/hello: %v", host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), resp.TLS.PeerCertificates[0]
}

// TestTLS_ACME_Pebble is the end-to-end path against a real ACME server:
// a route host gets a certificate, it is served over HTTP/2 (HSTS on),
// plain HTTP redirects except ACME challenges, a forced renewal orders a
// new one served at once, and a restarted router process serves the
// stored certificate without a new order.
func TestTLS_ACME_Pebble(t *testing.T) {
	pb := startPebble(t)
	const host = "app.example.com"
	state := t.TempDir()
	set := Settings{TLS: &TLSSettings{
		ACME: certs.ACME{Email: "ops@example.com", Directory: pb.Directory, CARoot: pb.CARoot},
		HSTS: 365 * 24 * time.Hour,
	}}
	up := backend(t, "hello from app")
	p := startTLSProc(t, state, set)
	if err := p.client.Load(context.Background(), table(1, hostRoute("app", host, up))); err != nil {
		t.Fatal(err)
	}
	hc := certOf(t, p.client, host)
	if hc.Source != certs.SourceACME || !strings.Contains(hc.Issuer, "Pebble") {
		t.Fatalf("certificate of %s = %+v, want one from pebble via ACME", host, hc)
	}
	if n := pb.orders.Load(); n != 1 {
		t.Fatalf("orders after the first certificate = %d, want 1", n)
	}
	roots := pb.Roots(t)

	resp, body, leaf := serve(t, p.tlsAddr, host, roots)
	if resp.ProtoMajor != 2 || body != "hello from app" {
		t.Fatalf("HTTPS answer: proto %s body %q, want HTTP/2 and the app's body", resp.Proto, body)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Errorf("Strict-Transport-Security = %q, want max-age=31536000", got)
	}
	first := fmtSerial(leaf)

	// Plain HTTP for a TLS host redirects to the TLS port; ACME challenges
	// do not.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, "http://"+p.addr+"/a?b=c", nil)
	req.Host = host
	rresp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rresp.Body.Close()
	_, tlsPort, _ := net.SplitHostPort(p.tlsAddr)
	if want := "https://" + host + ":" + tlsPort + "/a?b=c"; rresp.StatusCode != http.StatusMovedPermanently || rresp.Header.Get("Location") != want {
		t.Errorf("plain HTTP: %d Location %q, want 301 to %s", rresp.StatusCode, rresp.Header.Get("Location"), want)
	}
	req, _ = http.NewRequest(http.MethodGet, "http://"+p.addr+"/.well-known/acme-challenge/unknown-token", nil)
	req.Host = host
	cresp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	cresp.Body.Close()
	if cresp.StatusCode/100 == 3 {
		t.Errorf("an ACME challenge path was redirected (%d)", cresp.StatusCode)
	}

	// The expiry is exported.
	mresp, err := p.client.hc.Get("http://router/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(mb), `berth_tls_cert_expiry_seconds{host="app.example.com",source="acme"}`) {
		t.Errorf("metrics lack berth_tls_cert_expiry_seconds for %s:\n%s", host, mb)
	}

	// A forced renewal orders a new certificate, served on the next
	// handshake.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := p.client.RenewTLS(ctx, host); err != nil {
		t.Fatalf("forced renewal: %v", err)
	}
	if n := pb.orders.Load(); n != 2 {
		t.Fatalf("orders after a forced renewal = %d, want 2", n)
	}
	_, _, leaf = serve(t, p.tlsAddr, host, roots)
	renewed := fmtSerial(leaf)
	if renewed == first {
		t.Fatalf("after renewal the router still serves certificate %s", first)
	}

	// A new router process on the same state directory serves the stored
	// certificate without ordering one.
	if err := p.stop(); err != nil {
		t.Fatalf("stop router: %v", err)
	}
	p2 := startTLSProc(t, state, set)
	if err := p2.client.Load(context.Background(), table(1, hostRoute("app", host, up))); err != nil {
		t.Fatal(err)
	}
	certOf(t, p2.client, host)
	resp, body, leaf = serve(t, p2.tlsAddr, host, roots)
	if resp.ProtoMajor != 2 || body != "hello from app" || fmtSerial(leaf) != renewed {
		t.Fatalf("after restart: proto %s body %q serial %s, want HTTP/2, the app and serial %s", resp.Proto, body, fmtSerial(leaf), renewed)
	}
	if n := pb.orders.Load(); n != 2 {
		t.Fatalf("orders after a restart = %d, want still 2", n)
	}

	// Keys and certificates are readable by the owner only.
	files := 0
	err = filepath.WalkDir(filepath.Join(state, CertsDir), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files++
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil || files < 4 {
		t.Fatalf("walk %s: %d files, %v", CertsDir, files, err)
	}
}

// TestTLS_HandOverKeepsTheTLSSocket: a router process hands its TLS
// listening socket over like the plain one; the new process serves HTTPS
// on the very same address after the old one stopped, with the same
// local-CA certificates (kept in the state directory).
func TestTLS_HandOverKeepsTheTLSSocket(t *testing.T) {
	state := t.TempDir()
	up := backend(t, "app")
	old := startTLSProc(t, state, Settings{})
	const host = "app.localhost"
	if err := old.client.Load(context.Background(), table(1, hostRoute("app", host, up))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lnFile, err := old.client.Listener(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tlsFile, err := old.client.TLSListener(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.FileListener(lnFile)
	lnFile.Close()
	if err != nil {
		t.Fatal(err)
	}
	tln, err := net.FileListener(tlsFile)
	tlsFile.Close()
	if err != nil {
		t.Fatal(err)
	}
	if tln.Addr().String() != old.tlsAddr {
		t.Fatalf("handed-over TLS socket listens on %s, want %s", tln.Addr(), old.tlsAddr)
	}
	sock := filepath.Join(state, "new.sock")
	ctl, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	nctx, ncancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(nctx, Config{Listener: ln, TLSListener: tln, State: state, Control: ctl, Build: "new", AwaitTable: true})
	}()
	t.Cleanup(func() { ncancel(); <-done })
	nc := NewClient(sock, nil)
	defer nc.Close()
	if err := nc.Load(context.Background(), table(1, hostRoute("app", host, up))); err != nil {
		t.Fatal(err)
	}
	info, err := nc.Info(context.Background())
	if err != nil || info.ListenTLS != old.tlsAddr {
		t.Fatalf("new router info %+v, %v: want listen_tls %s", info, err, old.tlsAddr)
	}
	if err := old.stop(); err != nil {
		t.Fatal(err)
	}
	ca, err := certs.OpenLocalCA(filepath.Join(state, CertsDir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	resp, body, _ := serve(t, old.tlsAddr, host, ca.Pool())
	if resp.ProtoMajor != 2 || body != "app" {
		t.Fatalf("after handover: %s %q, want HTTP/2 from the app", resp.Proto, body)
	}
}
