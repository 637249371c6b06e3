// Package localtest runs a real control plane (store, process driver,
// router) in a test, on a unix socket, for tests of the local engine and
// of the commands that talk to it.
package localtest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/control"
	"github.com/berth-dev/berth/internal/driver/process"
	"github.com/berth-dev/berth/internal/engine/local"
	"github.com/berth-dev/berth/internal/router"
	"github.com/berth-dev/berth/internal/store"
)

// Plane is a control plane running for one test.
type Plane struct {
	// Socket is the API's unix socket; Addr is "unix://" + Socket.
	Socket string
	Addr   string
	// RouterURL is the router's base URL on loopback.
	RouterURL string
	// StateDir holds the store, the logs and the socket.
	StateDir string
}

// Client returns a local engine talking to the plane.
func (p *Plane) Client() *local.Client { return local.New(p.Addr, "") }

// Start runs a control plane with the process driver whose state lives in
// stateDir (a new temp dir when ""), serving its API on stateDir/berth.sock
// and its router on a loopback port. Every task is stopped and everything
// closed when the test ends.
func Start(t testing.TB, project, stateDir string) *Plane {
	t.Helper()
	if stateDir == "" {
		stateDir = t.TempDir()
	}
	logs := filepath.Join(stateDir, "logs")
	if err := os.MkdirAll(logs, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(stateDir, "state.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	log := slog.New(slog.DiscardHandler)
	rt := router.New(router.Config{Logger: log})
	routeLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Plane{StateDir: stateDir, RouterURL: "http://" + routeLn.Addr().String(), Socket: filepath.Join(stateDir, "berth.sock")}
	p.Addr = "unix://" + p.Socket
	srv := control.New(control.Config{
		Project: project, Engine: "process", Store: st, Router: rt, Logger: log,
		Driver:    process.New(process.Config{LogDir: logs, Logger: log}),
		RouterURL: p.RouterURL, LogDir: logs,
		Secrets: local.DirectSecrets{Store: st, State: stateDir},
	})
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	ln, err := net.Listen("unix", p.Socket)
	if err != nil {
		t.Fatal(err)
	}
	api := &http.Server{Handler: srv.Handler("", nil), ReadHeaderTimeout: 10 * time.Second}
	routerCtx, stopRouter := context.WithCancel(context.Background())
	routerDone := make(chan struct{})
	go func() {
		defer close(routerDone)
		_ = rt.Serve(routerCtx, routeLn)
	}()
	go func() {
		if err := api.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("control plane API: %v", err)
		}
	}()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
		_ = api.Close()
		stopRouter()
		<-routerDone
		_ = rt.Close()
		_ = st.Close()
	})
	return p
}
