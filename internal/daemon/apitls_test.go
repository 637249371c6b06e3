package daemon

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/certs"
	"github.com/berth-dev/berth/internal/control"
	"github.com/berth-dev/berth/internal/engine/local"
	"github.com/berth-dev/berth/internal/routerproc"
)

// TestAPI_TLSOnly: the TCP API answers HTTPS with a certificate of the
// local CA (a client pinning that CA reaches it with its token), and a
// plain-HTTP request gets a 400 saying why.
func TestAPI_TLSOnly(t *testing.T) {
	state := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := apiTLSConfig(Options{State: state}, ln.Addr())
	if err != nil {
		t.Fatal(err)
	}
	h := control.RequireToken("tok", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"project":"p"}`)
	}))
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(tlsOnly(ln, cfg))
	t.Cleanup(func() { srv.Close() })

	// Plain HTTP: refused in plain words, the connection closed.
	resp, err := http.Get("http://" + ln.Addr().String() + "/v1/status")
	if err != nil {
		t.Fatalf("plain GET: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "HTTPS only") || !strings.Contains(string(b), "BERTH_API_CA") {
		t.Fatalf("plain HTTP got %d %q, want 400 explaining HTTPS only", resp.StatusCode, b)
	}

	// HTTPS with the local CA pinned, and the token.
	ca, err := certs.OpenLocalCA(filepath.Join(state, routerproc.CertsDir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	c := local.New("https://"+ln.Addr().String(), "tok", ca.Pool())
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatalf("status over HTTPS with the pinned CA: %v", err)
	}
	// Another CA is not trusted.
	if _, err := local.New("https://"+ln.Addr().String(), "tok").Status(context.Background()); err == nil {
		t.Fatal("a client trusting only the system roots accepted the API's certificate")
	}
}
