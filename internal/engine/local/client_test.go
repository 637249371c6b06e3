package local_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/certs"
	"github.com/berth-dev/berth/internal/control"
	"github.com/berth-dev/berth/internal/driver/process"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/engine/local"
	"github.com/berth-dev/berth/internal/router"
	"github.com/berth-dev/berth/internal/store"
)

// serve runs a real control plane's API on a unix socket and on TCP
// (TLS, with a certificate of a local CA in roots) with a token, and
// returns both addresses.
func serve(t *testing.T, token string) (sock, tcp string, roots *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	rt := router.New(router.Config{})
	srv := control.New(control.Config{Project: "p", Store: st, Router: rt, Driver: process.New(process.Config{LogDir: dir})})
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	sock = filepath.Join(dir, "berth.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certs.OpenLocalCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Leaf("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*leaf}})
	if err != nil {
		t.Fatal(err)
	}
	us := &http.Server{Handler: srv.Handler("", nil)}
	ts := &http.Server{Handler: srv.Handler(token, nil)}
	go us.Serve(ul)
	go ts.Serve(tl)
	t.Cleanup(func() {
		us.Close()
		ts.Close()
		_ = srv.Shutdown(context.Background())
		rt.Close()
		st.Close()
	})
	return sock, "https://" + tl.Addr().String(), ca.Pool()
}

func TestClient_SocketAndToken(t *testing.T) {
	sock, tcp, roots := serve(t, "s3cret")
	ctx := context.Background()
	for name, c := range map[string]*local.Client{
		"unix socket":    local.New("unix://"+sock, ""),
		"bare path":      local.New(sock, ""),
		"tcp with token": local.New(tcp, "s3cret", roots),
	} {
		st, err := c.Status(ctx)
		if err != nil || st.Project != "p" {
			t.Errorf("%s: Status = %+v, %v", name, st, err)
		}
	}
	_, err := local.New(tcp, "wrong", roots).Status(ctx)
	var ae *local.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Hint == "" {
		t.Fatalf("wrong token: %v", err)
	}
	// A token never goes over plain http://, and https:// trusts only the
	// pinned CA when one is given.
	plain := "http://" + strings.TrimPrefix(tcp, "https://")
	if _, err := local.New(plain, "s3cret").Status(ctx); !errors.Is(err, local.ErrPlainToken) {
		t.Fatalf("token over http://: %v, want ErrPlainToken", err)
	}
	if _, err := local.New(tcp, "s3cret", x509.NewCertPool()).Status(ctx); err == nil {
		t.Fatal("a client pinning another CA accepted the server")
	}
}

func TestClient_ErrorsCarryTheAPIsWords(t *testing.T) {
	sock, _, _ := serve(t, "")
	c := local.New(sock, "")
	_, err := c.History(context.Background(), "nope")
	var ae *local.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || ae.Message == "" {
		t.Fatalf("History of an unknown service: %v", err)
	}
	if err := c.Scale(context.Background(), map[string]int{"nope": 2}); err == nil {
		t.Fatal("scaling an unknown service succeeded")
	}
	// Events of a deployment that does not exist end at once, without error.
	if err := c.Events(context.Background(), engine.EventQuery{Deployment: "d16"}, func(api.Event) error { return nil }); err != nil {
		t.Fatalf("Events: %v", err)
	}
}

func TestClient_Unreachable(t *testing.T) {
	_, err := local.New(filepath.Join(t.TempDir(), "none.sock"), "").Status(context.Background())
	if !errors.Is(err, local.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}
