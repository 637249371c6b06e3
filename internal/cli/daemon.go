package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berth-dev/berth/internal/control"
	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/driver/docker"
	"github.com/berth-dev/berth/internal/driver/process"
	"github.com/berth-dev/berth/internal/router"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// daemonOptions configure a control plane run by `berth up` or `berth serve`.
type daemonOptions struct {
	project   string
	listen    string // router
	apiListen string // optional TCP API address
	token     string
	engine    string
	logLevel  string
	// maxCount is the per-service task maximum (0: the default).
	maxCount int
	// discardOrphans lets a control plane whose state is missing or empty
	// stop the project's running tasks it cannot account for.
	discardOrphans bool
	// router is the spec's router: section; nil takes the defaults.
	router *spec.Router
}

// daemon is a running control plane with its router and API listeners.
type daemon struct {
	g       *globals
	log     *slog.Logger
	store   *store.Store
	router  *router.Router
	server  *control.Server
	routeLn net.Listener
	apiSrvs []*http.Server
	done    chan struct{} // closed when POST /v1/down asks the daemon to exit
	errc    chan error
	// closers are closed last, in reverse order (log, listeners, store,
	// driver, router).
	closers []io.Closer
	// stopRouter ends the router's server gracefully; routerDone is
	// closed once it has.
	stopRouter func()
	routerDone chan struct{}
	// stopGuard ends the state-file guard.
	stopGuard func()
}

func (d *daemon) routerURL() string { return "http://" + d.routeLn.Addr().String() }

// startDaemon opens the state, adopts what runs, and starts the router and
// the API. It fails without side effects when another control plane owns
// the state directory or an address is taken.
func (g *globals) startDaemon(ctx context.Context, o daemonOptions) (_ *daemon, err error) {
	if o.apiListen != "" && o.token == "" {
		return nil, usageErr("--api-listen needs a token (BERTH_TOKEN, --token-file or --token): the TCP API must not be open to anyone")
	}
	state := g.stateDir()
	if err := os.MkdirAll(filepath.Join(state, "logs"), 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	sock := g.socketPath()
	if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		c.Close()
		return nil, usageErr("a berth control plane is already running for %s (socket %s): use `berth deploy`, or `berth down` to stop it", state, sock)
	}
	_ = os.Remove(sock)

	// Everything opened from here on is closed again if a later step fails.
	var closers []io.Closer
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				_ = closers[i].Close()
			}
		}
	}()
	logFile, err := os.OpenFile(filepath.Join(state, "berth.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open control-plane log: %w", err)
	}
	closers = append(closers, logFile)
	level := slog.LevelInfo
	if o.logLevel == "debug" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: level}))

	routeLn, err := net.Listen("tcp", o.listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, usageErr("router address %s is already in use: stop what listens there or pass --listen 127.0.0.1:PORT", o.listen)
		}
		return nil, usageErr("router cannot listen on %s: %v (pass --listen HOST:PORT)", o.listen, err)
	}
	closers = append(closers, routeLn)
	var tcpLn net.Listener
	if o.apiListen != "" {
		if tcpLn, err = net.Listen("tcp", o.apiListen); err != nil {
			return nil, usageErr("API cannot listen on %s: %v (pass --api-listen HOST:PORT)", o.apiListen, err)
		}
		closers = append(closers, tcpLn)
	}
	dbPath := filepath.Join(state, "state.db")
	_, statErr := os.Stat(dbPath)
	missing := errors.Is(statErr, fs.ErrNotExist)
	st, err := store.Open(ctx, dbPath)
	if err != nil {
		return nil, usageErr("the state database %s cannot be used: %v\n  berth does not start on it and leaves the running tasks alone: restore it from a backup, or move it aside (mv %s %s.broken) and start again", dbPath, err, dbPath, dbPath)
	}
	closers = append(closers, st)
	drv, err := g.newDriver(ctx, o, log)
	if err != nil {
		return nil, err
	}
	if c, ok := drv.(io.Closer); ok {
		closers = append(closers, c)
	}
	if err := checkAccountable(ctx, st, drv, dbPath, missing, o.discardOrphans); err != nil {
		return nil, err
	}
	rcfg := routerConfig(o.router)
	rcfg.Logger = log.With("component", "router")
	rt := router.New(rcfg)
	closers = append(closers, rt)
	d := &daemon{g: g, log: log, store: st, router: rt, routeLn: routeLn, done: make(chan struct{}), errc: make(chan error, 4)}
	d.server = control.New(control.Config{
		Project:        o.project,
		Engine:         drv.Name(),
		Store:          st,
		Driver:         drv,
		Router:         rt,
		Logger:         log.With("component", "control"),
		RouterURL:      d.routerURL(),
		LogDir:         filepath.Join(state, "logs"),
		Env:            g.secretEnv(st, state),
		SecretVersions: g.secretVersions(st, state),
		MaxCount:       o.maxCount,
		// The router is the one prober of task health.
		Health: rt,
	})
	if err := d.server.Start(ctx); err != nil {
		return nil, fmt.Errorf("recover control plane state: %w", err)
	}
	sweepOrphans(ctx, drv, d.server, log)
	unixLn, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", sock, err)
	}
	_ = os.Chmod(sock, 0o600)

	routerCtx, stopRouter := context.WithCancel(context.Background())
	d.routerDone = make(chan struct{})
	d.stopRouter = stopRouter
	go func() {
		defer close(d.routerDone)
		if err := rt.Serve(routerCtx, routeLn); err != nil && !errors.Is(err, http.ErrServerClosed) && routerCtx.Err() == nil {
			d.errc <- fmt.Errorf("router: %w", err)
		}
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(rt.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var downOnce sync.Once
	onDown := func() { downOnce.Do(func() { close(d.done) }) }
	// Every route, /metrics included (it lists task addresses), needs the
	// token over TCP.
	api := func(token string) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.Handle("/", d.server.Handler("", onDown))
		return control.RequireToken(token, mux)
	}
	d.serveAPI(unixLn, api(""))
	if tcpLn != nil {
		d.serveAPI(tcpLn, api(o.token))
	}
	guardCtx, stopGuard := context.WithCancel(context.Background())
	d.stopGuard = stopGuard
	go guardState(guardCtx, st, log)
	d.closers = closers
	log.Info("control plane started", "state", state, "router", d.routerURL(), "socket", sock)
	return d, nil
}

func (d *daemon) serveAPI(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	d.apiSrvs = append(d.apiSrvs, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.errc <- fmt.Errorf("API: %w", err)
		}
	}()
}

// stop stops every task gracefully, then the API, router, driver and store.
func (d *daemon) stop(ctx context.Context) error {
	d.stopGuard()
	err := d.server.Shutdown(ctx)
	for _, s := range d.apiSrvs {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_ = s.Shutdown(sctx)
		cancel()
	}
	_ = os.Remove(d.g.socketPath())
	d.stopRouter()
	select {
	case <-d.routerDone:
	case <-ctx.Done():
	}
	for i := len(d.closers) - 1; i >= 0; i-- {
		if cerr := d.closers[i].Close(); cerr != nil && err == nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
	}
	return err
}

// newDriver picks the task driver for the engine option: process, docker,
// or auto (docker when an engine answers within engineProbeTimeout, else
// process).
func (g *globals) newDriver(ctx context.Context, o daemonOptions, log *slog.Logger) (driver.Driver, error) {
	logMax, logFiles, err := taskLogLimits()
	if err != nil {
		return nil, usageErr("%v", err)
	}
	newProcess := func() driver.Driver {
		return process.New(process.Config{LogDir: filepath.Join(g.stateDir(), "logs"), Logger: log.With("component", "driver"),
			LogWriter: taskLogWriter(), LogMaxBytes: logMax, LogFiles: logFiles})
	}
	switch strings.ToLower(o.engine) {
	case "", "process":
		return newProcess(), nil
	case "docker":
		d, err := docker.New(ctx, docker.Config{Project: o.project, Logger: log.With("component", "driver"), LogMaxBytes: logMax, LogFiles: logFiles})
		if err != nil {
			return nil, usageErr("engine docker: %v\n  start the Docker engine, set DOCKER_HOST, or run with --engine process", err)
		}
		return d, nil
	case "auto":
		pctx, cancel := context.WithTimeout(ctx, engineProbeTimeout)
		defer cancel()
		d, err := docker.New(pctx, docker.Config{Project: o.project, Logger: log.With("component", "driver"), LogMaxBytes: logMax, LogFiles: logFiles})
		if err != nil {
			log.Info("engine auto: no Docker engine answered, running tasks as processes", "error", err)
			return newProcess(), nil
		}
		log.Info("engine auto: Docker engine answered, running tasks as containers")
		return d, nil
	default:
		return nil, usageErr("unknown engine %q: use process, docker or auto", o.engine)
	}
}

// engineProbeTimeout bounds how long engine auto waits for a Docker engine.
const engineProbeTimeout = time.Second

// sweeper is a driver that can remove the tasks a crash left behind.
type sweeper interface {
	Sweep(ctx context.Context, keep func(taskID string) bool) ([]string, error)
}

// sweepOrphans removes the driver's tasks of the project that the
// recovered control plane does not know (their release or task record is
// gone). Failures are logged: an orphan left running costs resources, not
// correctness.
func sweepOrphans(ctx context.Context, drv driver.Driver, srv *control.Server, log *slog.Logger) {
	sw, ok := drv.(sweeper)
	if !ok {
		return
	}
	removed, err := sw.Sweep(ctx, srv.KnownTask)
	if len(removed) > 0 {
		log.Info("removed orphan tasks", "tasks", removed)
	}
	if err != nil {
		log.Warn("sweep orphan tasks", "error", err)
	}
}

// checkAccountable refuses to run a control plane whose state knows no
// service while the project's tasks run: they were started by a control
// plane whose state.db was deleted, replaced or lost, and the orphan sweep
// would kill every one of them. With discard the sweep may go ahead.
func checkAccountable(ctx context.Context, st *store.Store, drv driver.Driver, dbPath string, missing, discard bool) error {
	sw, ok := drv.(sweeper)
	if !ok || discard {
		return nil
	}
	svcs, err := st.Services(ctx)
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	if len(svcs) > 0 {
		return nil
	}
	// Listing, not sweeping: keep every task and note its id.
	var running []string
	if _, err := sw.Sweep(ctx, func(id string) bool { running = append(running, id); return true }); err != nil {
		return fmt.Errorf("list running tasks: %w", err)
	}
	if len(running) == 0 {
		return nil
	}
	sort.Strings(running)
	running = slices.Compact(running)
	what := "holds no service"
	if missing {
		what = "was missing (a new, empty one was created)"
	}
	return usageErr("the state database %s %s, but %d tasks of this project are running (%s%s): berth cannot account for them and will not stop them\n  restore state.db from a backup and start again, or start with --discard-orphans to stop them",
		dbPath, what, len(running), strings.Join(first(running, 5), ", "), more(running, 5))
}

// stateCheckEvery is how often the daemon checks that its state.db is
// still on disk.
const stateCheckEvery = 5 * time.Second

// guardState notices state.db deleted or replaced while the daemon runs:
// a deleted one is written back from the open database (and kept up to
// date), so the next start does not find an empty state and lose track
// of every running task.
func guardState(ctx context.Context, st *store.Store, log *slog.Logger) {
	t := time.NewTicker(stateCheckEvery)
	defer t.Stop()
	warned := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		got, err := st.CheckFile(ctx)
		switch {
		case err != nil && !warned:
			log.Error("state database check failed", "err", err)
			warned = true
		case got == store.FileRestored:
			log.Error("state database was deleted while berth runs: wrote a copy of the open database back")
		}
	}
}
