package routerproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/certs"
	"github.com/berth-dev/berth/internal/router"
)

// Info describes a running router process.
type Info struct {
	PID int `json:"pid"`
	// Listen is the address the router accepts clients on.
	Listen string `json:"listen"`
	// ListenTLS is the address it accepts TLS clients on ("" for none).
	ListenTLS string `json:"listen_tls,omitempty"`
	// Build identifies the binary the router runs (see BuildID), so a
	// control plane of another build knows to hand the router over.
	Build string `json:"build"`
	// Settings are the limits and timeouts it was started with.
	Settings Settings `json:"settings"`
	// Version is the version of the routing table it serves (0: none yet).
	Version uint64 `json:"version"`
	// Started is when the process started.
	Started time.Time `json:"started"`
}

// Config configures Run.
type Config struct {
	// Router tunes the proxy.
	Router router.Config
	// Settings, from the spec's router: section, replace the fields of
	// Router they name; Info reports them.
	Settings Settings
	// Listener is the client-facing listener (a TCP listener for
	// listening-socket handover).
	Listener net.Listener
	// TLSListener, when set, is the client-facing TLS listener
	// (listen_tls); Settings.TLS configures its certificates.
	TLSListener net.Listener
	// State is the state directory; certificates live in its tls/.
	State string
	// Control is the unix control socket the control plane talks to.
	Control net.Listener
	// Logger receives the process's own log lines.
	Logger *slog.Logger
	// Build identifies this binary (Info.Build).
	Build string
	// AwaitTable delays serving clients until the first table is
	// published (a router taking over another's listening socket must not
	// answer 503 meanwhile); connections wait in the backlog.
	AwaitTable bool
}

// Run serves the router on cfg.Listener and its control API on
// cfg.Control until ctx ends or the control plane asks it to stop, then
// shuts down gracefully: it stops accepting and lets in-flight requests
// finish. The routing table it serves is the last one published; with none
// yet, every request is answered 503.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Router.Logger == nil {
		cfg.Router.Logger = log
	}
	rt := router.New(cfg.Settings.Apply(cfg.Router))
	defer rt.Close()

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	s := &server{rt: rt, cfg: cfg, log: log, ctx: ctx, stop: stop, started: time.Now(), first: make(chan struct{})}
	reg := prometheus.NewRegistry()
	reg.MustRegister(rt.Collector())
	var plain router.ServeOptions
	if cfg.TLSListener != nil {
		m, err := newCertManager(cfg, log)
		if err != nil {
			_ = cfg.TLSListener.Close()
			return err
		}
		defer m.Close()
		s.certs = m
		reg.MustRegister(m.Collector())
		plain = plainOptions(cfg, m)
	}
	ctl := &http.Server{Handler: s.handler(reg), ReadHeaderTimeout: 10 * time.Second}
	ctlErr := make(chan error, 1)
	go func() { ctlErr <- ctl.Serve(cfg.Control) }()

	routeErr := make(chan error, 1)
	go func() {
		if cfg.AwaitTable {
			select {
			case <-s.first:
			case <-ctx.Done():
				_ = cfg.Listener.Close()
				routeErr <- nil
				return
			}
		}
		if s.certs == nil {
			routeErr <- rt.ServeWith(ctx, cfg.Listener, plain)
			return
		}
		tlsErr := make(chan error, 1)
		go func() { tlsErr <- rt.ServeWith(ctx, cfg.TLSListener, tlsOptions(cfg, s.certs)) }()
		err := rt.ServeWith(ctx, cfg.Listener, plain)
		if err != nil {
			stop() // one listener failed: stop the other too
		}
		if terr := <-tlsErr; err == nil {
			err = terr
		}
		routeErr <- err
	}()
	log.Info("router process serving", "listen", cfg.Listener.Addr().String(), "pid", os.Getpid(), "build", cfg.Build)

	var err error
	select {
	case err = <-routeErr:
		// Serve returned before ctx ended: the listener failed.
	case <-ctx.Done():
		err = <-routeErr
	}
	// End the health watches' streams: a connection that never goes idle
	// would hold the control socket's shutdown for its whole timeout.
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = ctl.Shutdown(sctx)
	if cerr := <-ctlErr; cerr != nil && !errors.Is(cerr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("control socket: %w", cerr)
	}
	log.Info("router process stopped", "error", err)
	return err
}

// server is the control API of a router process.
type server struct {
	rt      *router.Router
	cfg     Config
	log     *slog.Logger
	ctx     context.Context // ends when the process stops
	stop    context.CancelFunc
	started time.Time

	certs *certs.Manager // nil without a TLS listener

	mu    sync.Mutex
	table *router.Table // the last published table
	first chan struct{} // closed by the first publish
}

func (s *server) handler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		var v uint64
		if s.table != nil {
			v = s.table.Version
		}
		s.mu.Unlock()
		info := Info{PID: os.Getpid(), Listen: s.cfg.Listener.Addr().String(), Build: s.cfg.Build, Settings: s.cfg.Settings, Version: v, Started: s.started}
		if s.cfg.TLSListener != nil {
			info.ListenTLS = s.cfg.TLSListener.Addr().String()
		}
		writeJSON(w, http.StatusOK, info)
	})
	mux.HandleFunc("PUT /v1/table", func(w http.ResponseWriter, r *http.Request) {
		var t router.Table
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxTableBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&t); err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "decode routing table: " + err.Error()})
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.table != nil && t.Version <= s.table.Version {
			// A late retry of an older table never replaces a newer one.
			writeJSON(w, http.StatusConflict, apiError{Error: fmt.Sprintf("table version %d is not newer than %d", t.Version, s.table.Version)})
			return
		}
		s.rt.Publish(&t)
		if s.certs != nil {
			s.certs.SetHosts(tableHosts(&t))
		}
		if s.table == nil {
			close(s.first)
		}
		s.table = &t
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1/table", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		t := s.table
		s.mu.Unlock()
		if t == nil {
			t = &router.Table{}
		}
		writeJSON(w, http.StatusOK, t)
	})
	mux.HandleFunc("GET /v1/signals", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		window, err := time.ParseDuration(q.Get("window"))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "window: " + err.Error()})
			return
		}
		if g := q.Get("group"); g != "" {
			writeJSON(w, http.StatusOK, s.rt.Signals(g, window))
			return
		}
		rel, err := strconv.Atoi(q.Get("release"))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "release: " + err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, s.rt.ReleaseSignals(q.Get("route"), rel, window))
	})
	mux.HandleFunc("POST /v1/drained", func(w http.ResponseWriter, r *http.Request) {
		if err := s.rt.WaitDrained(r.Context(), r.URL.Query().Get("addr")); err != nil {
			writeJSON(w, http.StatusGatewayTimeout, apiError{Error: err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1/inflight", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.rt.InFlight(r.URL.Query().Get("addr")))
	})
	mux.HandleFunc("POST /v1/stop", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		s.log.Info("stop requested on the control socket")
		s.stop()
	})
	mux.HandleFunc("POST /v1/listener", s.handOver)
	mux.HandleFunc("GET /v1/tls", func(w http.ResponseWriter, _ *http.Request) {
		if s.certs == nil {
			writeJSON(w, http.StatusOK, []certs.HostCert{})
			return
		}
		writeJSON(w, http.StatusOK, s.certs.Status())
	})
	mux.HandleFunc("POST /v1/tls/renew", func(w http.ResponseWriter, r *http.Request) {
		if s.certs == nil {
			writeJSON(w, http.StatusConflict, apiError{Error: "the router has no TLS listener (set listen_tls)"})
			return
		}
		if err := s.certs.Renew(r.Context(), r.URL.Query().Get("host")); err != nil {
			writeJSON(w, http.StatusBadGateway, apiError{Error: err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/watch", s.watch)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// handOver passes a duplicate of the client-facing listening socket over
// the control connection (SCM_RIGHTS), so a router process of a new build
// accepts on the very same socket: no connection is refused while the two
// processes swap. The answer is one byte carrying the descriptor.
func (s *server) handOver(w http.ResponseWriter, r *http.Request) {
	ln := s.cfg.Listener
	if r.URL.Query().Get("tls") != "" {
		if ln = s.cfg.TLSListener; ln == nil {
			writeJSON(w, http.StatusNotFound, apiError{Error: "the router has no TLS listener"})
			return
		}
	}
	fl, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		writeJSON(w, http.StatusNotImplemented, apiError{Error: "the listener cannot be handed over"})
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeJSON(w, http.StatusNotImplemented, apiError{Error: "the control connection cannot be hijacked"})
		return
	}
	f, err := fl.File()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{Error: "duplicate listener: " + err.Error()})
		return
	}
	defer f.Close()
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return
	}
	if _, _, err := uc.WriteMsgUnix([]byte{1}, unix.UnixRights(int(f.Fd())), nil); err != nil {
		s.log.Warn("hand over listener", "error", err)
		return
	}
	s.log.Info("listening socket handed over")
}

// WatchRequest asks the router process to check one address's health
// (router.Router.Watch) and stream every check back.
type WatchRequest struct {
	Addr  string             `json:"addr"`
	Check router.HealthCheck `json:"check"`
	// Up is the verdict to start from.
	Up bool `json:"up"`
}

// WatchCheck is one check of a watched address on the wire (router.Check
// with its error as text). The answer to POST /v1/watch is a stream of
// them, one JSON object a line, in the order the router made them.
type WatchCheck struct {
	Up      bool   `json:"up"`
	Changed bool   `json:"changed,omitempty"`
	Error   string `json:"error,omitempty"`
	// At is when the check's answer (or timeout) came (router.Check.At).
	At time.Time `json:"at,omitzero"`
}

// watchBuffer is how many checks may wait for a slow reader before the
// router's prober of that address waits too.
const watchBuffer = 16

// watch streams the router's checks of one address until the control
// plane hangs up or the process stops; the watch ends with the stream.
func (s *server) watch(w http.ResponseWriter, r *http.Request) {
	var req WatchRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "decode watch request: " + err.Error()})
		return
	}
	if req.Addr == "" {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "watch request: addr is empty"})
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		writeJSON(w, http.StatusNotImplemented, apiError{Error: "the control connection cannot stream"})
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-s.ctx.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	checks := make(chan router.Check, watchBuffer)
	stop := s.rt.Watch(req.Addr, req.Check, req.Up, func(c router.Check) {
		select {
		case checks <- c:
		case <-ctx.Done():
		}
	})
	defer stop()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-checks:
			wc := WatchCheck{Up: c.Up, Changed: c.Changed, At: c.At}
			if c.Err != nil {
				wc.Error = c.Err.Error()
			}
			if err := enc.Encode(wc); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// maxTableBytes bounds a routing table on the control socket.
const maxTableBytes = 64 << 20

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
