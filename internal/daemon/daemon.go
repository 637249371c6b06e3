package daemon

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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berth-dev/berth/internal/certs"
	"github.com/berth-dev/berth/internal/control"
	"github.com/berth-dev/berth/internal/dashboard"
	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/driver/docker"
	"github.com/berth-dev/berth/internal/driver/process"
	"github.com/berth-dev/berth/internal/router"
	"github.com/berth-dev/berth/internal/routerproc"
	"github.com/berth-dev/berth/internal/store"
)

// The router process's client is the router internal/control consumes,
// signals and health verdicts included.
var (
	_ control.Router        = (*routerproc.Client)(nil)
	_ control.HealthWatcher = (*routerproc.Client)(nil)
	_ interface {
		ReleaseSignals(routeName string, release int, window time.Duration) router.Signals
	} = (*routerproc.Client)(nil)
)

// Options configure a control plane.
type Options struct {
	// Project names the project (docker labels, status).
	Project string
	// State is the state directory (store, logs, sockets).
	State string
	// Socket is the API's unix socket.
	Socket string
	// Listen is the router's client-facing address.
	Listen string
	// ListenTLS, when set, is the router's HTTPS address (listen_tls);
	// Router.TLS configures its certificates.
	ListenTLS string
	// APIListen, with Token, also serves the API over TCP, over TLS only.
	APIListen string
	Token     string
	// UIListen, when set, serves the dashboard (/ui/) with the API and
	// /metrics over HTTP on this address: loopback only unless Token is
	// set, in which case the API there needs the token too.
	UIListen string
	// UIFallback listens on a free loopback port when UIListen is taken
	// (the default address of up and serve), instead of failing.
	UIFallback bool
	// APICert and APIKey are the TCP API's own certificate files; by
	// default it has one from the local CA (state/tls/ca).
	APICert, APIKey string
	// Engine is process, docker or auto.
	Engine string
	// LogLevel is info or debug.
	LogLevel string
	// MaxCount is the per-service task maximum (0: control's default).
	MaxCount int
	// DiscardOrphans lets a control plane whose state.db is missing or
	// empty stop the project's running tasks it cannot account for;
	// without it Start refuses to run on such a state.
	DiscardOrphans bool
	// Configure, when set, completes the control plane's configuration
	// once the store is open (secret resolution hooks).
	Configure func(st *store.Store, cfg *control.Config)
	// RouterExe is the berth binary run as `berth router`; default the
	// running executable.
	RouterExe string
	// Router are the spec's router: limits and timeouts. A running router
	// started with other ones hands its listening socket over to a new
	// router process that has them.
	Router routerproc.Settings
	// LogWriter, LogMaxBytes and LogFiles bound the tasks' log files (see
	// process.Config and docker.Config).
	LogWriter   []string
	LogMaxBytes int64
	LogFiles    int
}

// UsageError is an error the user fixes by starting berth differently
// (an address in use, a control plane already running).
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usageErr(format string, a ...any) error { return &UsageError{msg: fmt.Sprintf(format, a...)} }

// Daemon is a running control plane, attached to its router process.
type Daemon struct {
	o       Options
	log     *slog.Logger
	server  *control.Server
	router  *routerproc.Client
	listen  string // the router's address
	uiAddr  string // the dashboard's address, "" when not served
	uiTLS   bool   // the dashboard is served over HTTPS (off loopback)
	apiSrvs []*http.Server
	done    chan struct{} // closed when POST /v1/down asks the daemon to exit
	errc    chan error
	// listenTLS is the router's TLS address ("" for none).
	listenTLS string
	// closers are closed last, in reverse order (log, store, driver).
	closers []io.Closer
	stopped sync.Once
	// endSupervision stops restarting the router process; supervised is
	// closed once it has.
	endSupervision func()
	supervised     chan struct{}
	// endGuard stops the state-file guard; guarded is closed once it has.
	endGuard func()
	guarded  chan struct{}
}

// RouterURL is the router's base URL.
func (d *Daemon) RouterURL() string { return "http://" + d.listen }

// UIURL is the dashboard's URL, "" when it is not served.
func (d *Daemon) UIURL() string {
	if d.uiAddr == "" {
		return ""
	}
	if d.uiTLS {
		return "https://" + d.uiAddr + dashboard.Prefix
	}
	return "http://" + d.uiAddr + dashboard.Prefix
}

// RouterTLSURL is the router's HTTPS base URL ("" without listen_tls).
func (d *Daemon) RouterTLSURL() string {
	if d.listenTLS == "" {
		return ""
	}
	return "https://" + d.listenTLS
}

// RouterClient is the client of the router process's control socket.
func (d *Daemon) RouterClient() *routerproc.Client { return d.router }

// Done is closed when a client asked the control plane to stop (berth
// down): every task has been stopped; call Stop.
func (d *Daemon) Done() <-chan struct{} { return d.done }

// Err delivers a failure of a listener the daemon serves.
func (d *Daemon) Err() <-chan error { return d.errc }

// Start opens the state, starts or adopts the router process, adopts what
// runs and starts the API. It fails without side effects (but a router
// process it started, which it stops) when another control plane owns the
// state directory or an address is taken.
func Start(ctx context.Context, o Options) (_ *Daemon, err error) {
	if o.APIListen != "" && o.Token == "" {
		return nil, usageErr("--api-listen needs a token (BERTH_TOKEN, --token-file or --token): the TCP API must not be open to anyone")
	}
	state := o.State
	if err := os.MkdirAll(filepath.Join(state, "logs"), 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	sock := o.Socket
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
	if o.LogLevel == "debug" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: level}))

	uiLn, err := listenUI(o)
	if err != nil {
		return nil, err
	}
	if uiLn != nil {
		closers = append(closers, uiLn)
	}
	// Off loopback the dashboard's listener carries the API and its token
	// across the network: TLS only, like --api-listen.
	uiTLS := uiLn != nil && !dashboard.IsLoopback(o.UIListen)
	var tcpLn net.Listener
	if o.APIListen != "" || o.ListenTLS != "" || uiTLS {
		// Created here, before a router process that also uses it starts.
		if _, err := certs.OpenLocalCA(filepath.Join(state, routerproc.CertsDir, "ca")); err != nil {
			return nil, fmt.Errorf("local CA: %w", err)
		}
	}
	if o.APIListen != "" {
		if tcpLn, err = net.Listen("tcp", o.APIListen); err != nil {
			return nil, usageErr("API cannot listen on %s: %v (pass --api-listen HOST:PORT)", o.APIListen, err)
		}
		closers = append(closers, tcpLn)
		tlsCfg, err := apiTLSConfig(o, tcpLn.Addr())
		if err != nil {
			return nil, err
		}
		tcpLn = tlsOnly(tcpLn, tlsCfg)
	}
	if uiLn, err = secureUI(o, uiLn); err != nil {
		return nil, err
	}
	dbPath := filepath.Join(state, "state.db")
	_, statErr := os.Stat(dbPath)
	missing := errors.Is(statErr, fs.ErrNotExist)
	st, err := store.Open(ctx, dbPath)
	if err != nil {
		return nil, usageErr("the state database %s cannot be used: %v\n  berth does not start on it and leaves the running tasks alone: restore it from a backup, or move it aside (mv %s %s.broken) and start again", dbPath, err, dbPath, dbPath)
	}
	closers = append(closers, st)
	drv, err := newDriver(ctx, o, log)
	if err != nil {
		return nil, err
	}
	if c, ok := drv.(io.Closer); ok {
		closers = append(closers, c)
	}
	// Before any router process is started or adopted: a refusal leaves
	// everything as it was.
	if err := checkAccountable(ctx, st, drv, dbPath, missing, o.DiscardOrphans); err != nil {
		return nil, err
	}
	rp, err := attachRouter(ctx, o, log.With("component", "routerproc"))
	if err != nil {
		return nil, err
	}
	closers = append(closers, rp.client)
	defer func() {
		if err != nil && rp.started {
			// A router this start spawned goes again if the start fails.
			_ = rp.stop(context.Background())
		}
	}()
	d := &Daemon{o: o, log: log, router: rp.client, listen: rp.listen, listenTLS: rp.listenTLS, done: make(chan struct{}), errc: make(chan error, 4)}
	cfg := control.Config{
		Project:   o.Project,
		RouterLog: filepath.Join(o.State, routerproc.LogName),
		Engine:    drv.Name(),
		Store:     st,
		Driver:    drv,
		Router:    rp.client,
		Logger:    log.With("component", "control"),
		RouterURL: d.RouterURL(),
		LogDir:    filepath.Join(state, "logs"),
		MaxCount:  o.MaxCount,
		// The router process is the one prober of task health: the
		// control plane reads its verdicts over the control socket.
		Health: rp.client,
	}
	if rp.listenTLS != "" {
		cfg.RouterTLSURL = "https://" + rp.listenTLS
		cfg.TLS = tlsReporter{rp.client}
	}
	if o.Configure != nil {
		o.Configure(st, &cfg)
	}
	d.server = control.New(cfg)
	if err := d.server.Start(ctx); err != nil {
		return nil, fmt.Errorf("recover control plane state: %w", err)
	}
	sweepOrphans(ctx, drv, d.server, log)
	unixLn, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", sock, err)
	}
	_ = os.Chmod(sock, 0o600)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(d.server.DeployMetrics())
	reg.MustRegister(d.server.AutoscaleCollector())
	reg.MustRegister(d.server.HealMetrics())
	gather := prometheus.Gatherers{reg, rp.client}
	var downOnce sync.Once
	onDown := func() { downOnce.Do(func() { close(d.done) }) }
	// Every route, /metrics included (it lists task addresses), needs the
	// token over TCP.
	api := func(token string) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(gather, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
		mux.Handle("/", d.server.Handler("", onDown))
		return control.RequireToken(token, mux)
	}
	d.serveAPI(unixLn, api(""))
	if tcpLn != nil {
		d.serveAPI(tcpLn, api(o.Token))
	}
	if uiLn != nil {
		// The dashboard's page and assets hold no data and need no token;
		// everything else is the API as on --api-listen.
		mux := http.NewServeMux()
		mux.Handle(dashboard.Prefix, dashboard.Handler())
		mux.Handle("GET /{$}", http.RedirectHandler(dashboard.Prefix, http.StatusFound))
		mux.Handle("/", api(o.Token))
		d.serveAPI(uiLn, dashboard.Guard(o.Token, mux))
		d.uiAddr, d.uiTLS = uiLn.Addr().String(), uiTLS
	}
	gctx, endGuard := context.WithCancel(context.Background())
	d.endGuard, d.guarded = endGuard, make(chan struct{})
	go func() {
		defer close(d.guarded)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); d.server.WatchTLS(gctx, tlsCheckEvery) }()
		guardState(gctx, st, log)
		wg.Wait()
	}()
	d.closers = closers
	sctx, cancel := context.WithCancel(context.Background())
	d.endSupervision, d.supervised = cancel, make(chan struct{})
	go func() {
		defer close(d.supervised)
		rp.supervise(sctx, o)
	}()
	log.Info("control plane started", "state", state, "router", d.RouterURL(), "router_adopted", !rp.started, "socket", sock)
	return d, nil
}

// listenUI opens the dashboard's listener: none without UIListen; a
// non-loopback address only with a token.
func listenUI(o Options) (net.Listener, error) {
	if o.UIListen == "" {
		return nil, nil
	}
	if !dashboard.IsLoopback(o.UIListen) && o.Token == "" {
		return nil, usageErr("--ui-listen %s is not a loopback address: the dashboard serves the API, so off loopback it needs a token (BERTH_TOKEN, --token-file or --token), or use 127.0.0.1:PORT", o.UIListen)
	}
	ln, err := net.Listen("tcp", o.UIListen)
	if err != nil && o.UIFallback {
		host, _, _ := net.SplitHostPort(o.UIListen)
		ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	if err != nil {
		return nil, usageErr("dashboard cannot listen on %s: %v (pass --ui-listen HOST:PORT, or --ui-listen off)", o.UIListen, err)
	}
	return ln, nil
}

// secureUI wraps the dashboard's listener in TLS (the API's certificate)
// when it is off loopback, where the page sends the API's token across the
// network; a loopback listener stays plain HTTP.
func secureUI(o Options, ln net.Listener) (net.Listener, error) {
	if ln == nil || dashboard.IsLoopback(o.UIListen) {
		return ln, nil
	}
	cfg, err := apiTLSConfig(o, ln.Addr())
	if err != nil {
		return nil, err
	}
	return tlsOnly(ln, cfg), nil
}

func (d *Daemon) serveAPI(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	d.apiSrvs = append(d.apiSrvs, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.errc <- fmt.Errorf("API: %w", err)
		}
	}()
}

// Detach ends the control plane alone, as a restart of `berth serve`
// wants: tasks keep running and the router process keeps serving its last
// table; the next Start adopts both.
func (d *Daemon) Detach(ctx context.Context) error {
	d.endSupervision()
	<-d.supervised
	d.server.Detach()
	return d.close(ctx)
}

// Stop stops every task gracefully, then the router process, the API,
// the driver and the store.
func (d *Daemon) Stop(ctx context.Context) error {
	err := d.server.Shutdown(ctx)
	d.endSupervision()
	<-d.supervised
	if rerr := stopRouter(ctx, d.router, d.log); rerr != nil && err == nil {
		err = rerr
	}
	if cerr := d.close(ctx); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// close shuts the API down and closes what Start opened.
func (d *Daemon) close(ctx context.Context) error {
	var err error
	d.stopped.Do(func() {
		d.endGuard()
		<-d.guarded
		for _, s := range d.apiSrvs {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_ = s.Shutdown(sctx)
			cancel()
		}
		_ = os.Remove(d.o.Socket)
		for i := len(d.closers) - 1; i >= 0; i-- {
			if cerr := d.closers[i].Close(); cerr != nil && err == nil && !errors.Is(cerr, net.ErrClosed) {
				err = cerr
			}
		}
	})
	return err
}

// newDriver picks the task driver for the engine option: process, docker,
// or auto (docker when an engine answers within engineProbeTimeout, else
// process).
func newDriver(ctx context.Context, o Options, log *slog.Logger) (driver.Driver, error) {
	newProcess := func() driver.Driver {
		return process.New(process.Config{LogDir: filepath.Join(o.State, "logs"), Logger: log.With("component", "driver"),
			LogWriter: o.LogWriter, LogMaxBytes: o.LogMaxBytes, LogFiles: o.LogFiles})
	}
	switch strings.ToLower(o.Engine) {
	case "", "process":
		return newProcess(), nil
	case "docker":
		d, err := docker.New(ctx, docker.Config{Project: o.Project, Logger: log.With("component", "driver"), LogMaxBytes: o.LogMaxBytes, LogFiles: o.LogFiles})
		if err != nil {
			return nil, usageErr("engine docker: %v\n  start the Docker engine, set DOCKER_HOST, or run with --engine process", err)
		}
		return d, nil
	case "auto":
		pctx, cancel := context.WithTimeout(ctx, engineProbeTimeout)
		defer cancel()
		d, err := docker.New(pctx, docker.Config{Project: o.Project, Logger: log.With("component", "driver"), LogMaxBytes: o.LogMaxBytes, LogFiles: o.LogFiles})
		if err != nil {
			log.Info("engine auto: no Docker engine answered, running tasks as processes", "error", err)
			return newProcess(), nil
		}
		log.Info("engine auto: Docker engine answered, running tasks as containers")
		return d, nil
	default:
		return nil, usageErr("unknown engine %q: use process, docker or auto", o.Engine)
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
	shown, more := running, ""
	if len(shown) > 5 {
		shown, more = shown[:5], fmt.Sprintf(" and %d more", len(running)-5)
	}
	return usageErr("the state database %s %s, but %d tasks of this project are running (%s%s): berth cannot account for them and will not stop them\n  restore state.db from a backup and start again, or start with --discard-orphans to stop them",
		dbPath, what, len(running), strings.Join(shown, ", "), more)
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
