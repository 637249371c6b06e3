package daemon

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/certs"
	"github.com/berth-dev/berth/internal/routerproc"
)

// TestListenUI: off loopback the dashboard needs a token; a taken
// address fails unless it is the default (fallback to a free port).
func TestListenUI(t *testing.T) {
	if ln, err := listenUI(Options{}); ln != nil || err != nil {
		t.Fatalf("no UIListen: %v %v, want nothing", ln, err)
	}
	var ue *UsageError
	if _, err := listenUI(Options{UIListen: "0.0.0.0:0"}); !errors.As(err, &ue) {
		t.Errorf("0.0.0.0 without a token: err = %v, want a usage error", err)
	}
	ln, err := listenUI(Options{UIListen: "0.0.0.0:0", Token: "t"})
	if err != nil {
		t.Fatalf("0.0.0.0 with a token: %v", err)
	}
	ln.Close()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := listenUI(Options{UIListen: busy.Addr().String()}); !errors.As(err, &ue) {
		t.Errorf("taken address: err = %v, want a usage error", err)
	}
	ln, err = listenUI(Options{UIListen: busy.Addr().String(), UIFallback: true})
	if err != nil {
		t.Fatalf("taken default address: %v, want a free port", err)
	}
	defer ln.Close()
	if ln.Addr().String() == busy.Addr().String() || !isLoopbackAddr(ln.Addr()) {
		t.Errorf("fallback listens on %s", ln.Addr())
	}
}

func isLoopbackAddr(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// TestSecureUI: off loopback the dashboard's listener (which carries the
// API and its token) is HTTPS only, plain HTTP refused in plain words; on
// loopback it stays plain HTTP.
func TestSecureUI(t *testing.T) {
	o := Options{State: t.TempDir(), UIListen: "0.0.0.0:0", Token: "tok"}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := secureUI(o, raw)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	resp, err := http.Get("http://" + raw.Addr().String() + "/ui/")
	if err != nil {
		t.Fatalf("plain GET: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "HTTPS only") {
		t.Fatalf("plain HTTP to an off-loopback dashboard got %d %q, want 400 explaining HTTPS only", resp.StatusCode, b)
	}
	ca, err := certs.OpenLocalCA(filepath.Join(o.State, routerproc.CertsDir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	resp, err = c.Get("https://" + raw.Addr().String() + "/ui/")
	if err != nil {
		t.Fatalf("HTTPS with the local CA: %v", err)
	}
	resp.Body.Close()

	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if got, err := secureUI(Options{State: t.TempDir(), UIListen: "127.0.0.1:0"}, plain); err != nil || got != plain {
		t.Fatalf("loopback dashboard listener wrapped (%T, %v), want it plain", got, err)
	}
}
