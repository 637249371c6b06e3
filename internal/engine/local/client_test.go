package local_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/control"
	"github.com/berth-dev/berth/internal/driver/process"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/engine/local"
	"github.com/berth-dev/berth/internal/router"
	"github.com/berth-dev/berth/internal/store"
)

// serve runs a real control plane's API on a unix socket and on TCP
// with a token, and returns both addresses.
func serve(t *testing.T, token string) (sock, tcp string) {
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
	tl, err := net.Listen("tcp", "127.0.0.1:0")
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
	return sock, "http://" + tl.Addr().String()
}

func TestClient_SocketAndToken(t *testing.T) {
	sock, tcp := serve(t, "s3cret")
	ctx := context.Background()
	for name, c := range map[string]*local.Client{
		"unix socket":    local.New("unix://"+sock, ""),
		"bare path":      local.New(sock, ""),
		"tcp with token": local.New(tcp, "s3cret"),
	} {
		st, err := c.Status(ctx)
		if err != nil || st.Project != "p" {
			t.Errorf("%s: Status = %+v, %v", name, st, err)
		}
	}
	_, err := local.New(tcp, "wrong").Status(ctx)
	var ae *local.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Hint == "" {
		t.Fatalf("wrong token: %v", err)
	}
}

func TestClient_ErrorsCarryTheAPIsWords(t *testing.T) {
	sock, _ := serve(t, "")
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
