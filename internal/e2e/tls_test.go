package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
)

// TestServeHTTPSForALocalhostRoute: with listen_tls, `berth serve` serves
// a route host over HTTPS and HTTP/2 with a certificate of the local CA
// that `berth tls ca` prints, redirects plain HTTP for it, shows the
// certificate in status, and a control-plane restart keeps the very same
// certificate on the same socket.
func TestServeHTTPSForALocalhostRoute(t *testing.T) {
	p := newProject(t)
	tlsAddr := freeAddr(t)
	spec := strings.Replace(goodSpec, "listen: %[2]s\n", "listen: %[2]s\nlisten_tls: "+tlsAddr+"\n", 1)
	spec = strings.Replace(spec, "route: {path: /catalog}", "route: {host: shop.localhost, path: /catalog}", 1)
	p.writeSpec(spec)
	p.startServe()
	p.mustBerth("deploy")

	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(p.mustBerth("tls", "ca"))) {
		t.Fatal("berth tls ca printed no PEM certificate")
	}
	client := &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool},
			ForceAttemptHTTP2: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, tlsAddr)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	get := func() (proto int, serial string) {
		t.Helper()
		resp, err := client.Get("https://shop.localhost/catalog/version")
		if err != nil {
			t.Fatalf("HTTPS GET: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HTTPS GET: %s %q", resp.Status, b)
		}
		return resp.ProtoMajor, fmt.Sprintf("%x", resp.TLS.PeerCertificates[0].SerialNumber)
	}
	proto, serial := get()
	if proto != 2 {
		t.Fatalf("HTTPS answered over HTTP/%d, want 2", proto)
	}

	req, _ := http.NewRequest(http.MethodGet, "http://"+p.listen+"/catalog/version", nil)
	req.Host = "shop.localhost"
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, port, _ := net.SplitHostPort(tlsAddr)
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "https://shop.localhost:"+port+"/catalog/version" {
		t.Errorf("plain HTTP for a TLS host: %s Location %q", resp.Status, resp.Header.Get("Location"))
	}

	var st api.Status
	if err := json.Unmarshal([]byte(p.mustBerth("status", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.TLS) != 1 || st.TLS[0].Host != "shop.localhost" || st.TLS[0].Source != "local-ca" || st.TLS[0].NotAfter.IsZero() || st.RouterTLS != "https://"+tlsAddr {
		t.Fatalf("status -o json: router_tls %q, tls %+v", st.RouterTLS, st.TLS)
	}
	if out := p.mustBerth("status"); !strings.Contains(out, "shop.localhost") || !strings.Contains(out, "local-ca") {
		t.Fatalf("status does not show the certificate:\n%s", out)
	}

	p.stopServe()
	p.startServe()
	if _, again := get(); again != serial {
		t.Fatalf("after a control-plane restart the router serves certificate %s, want %s", again, serial)
	}
}
