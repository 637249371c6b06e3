package shopkit

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// Hooks are the effects shopkit has on the world, replaceable in tests.
// A nil field means the real thing.
type Hooks struct {
	// Rand returns a uniform number in [0, 1); it decides CHAOS_ERROR_RATE.
	Rand func() float64
	// Sleep waits d or until ctx ends; it adds CHAOS_LATENCY.
	Sleep func(ctx context.Context, d time.Duration) error
	// After fires once after d; it times CHAOS_EXIT_AFTER.
	After func(d time.Duration) <-chan time.Time
	// Exit ends the process; CHAOS_EXIT_AFTER calls it with ExitCodeChaos.
	Exit func(code int)
	// OnShutdown is called when a graceful shutdown starts.
	OnShutdown func()
}

func (h Hooks) withDefaults() Hooks {
	if h.Rand == nil {
		h.Rand = rand.Float64
	}
	if h.Sleep == nil {
		h.Sleep = sleep
	}
	if h.After == nil {
		h.After = time.After
	}
	if h.Exit == nil {
		h.Exit = os.Exit
	}
	if h.OnShutdown == nil {
		h.OnShutdown = func() {}
	}
	return h
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// App is what a service's routes may use from the scaffolding.
type App struct {
	Config Config
	Log    *slog.Logger
}

// Register adds a service's own handlers to mux, with patterns relative to
// the service's prefix ("GET /items" for catalog's /catalog/items).
type Register func(mux *http.ServeMux, app App)

// Server is one shop service: its handler and how it is served.
type Server struct {
	cfg     Config
	log     *slog.Logger
	hooks   Hooks
	handler http.Handler
	// starting is set while CHAOS_READY_AFTER holds health at 503.
	starting atomic.Bool
}

// New builds a service from its configuration and its routes.
func New(cfg Config, log *slog.Logger, hooks Hooks, register Register) *Server {
	cfg.Prefix = normalizePrefix(cfg.Prefix)
	if cfg.LookupEnv == nil {
		cfg.LookupEnv = func(string) (string, bool) { return "", false }
	}
	if cfg.Drain == 0 {
		cfg.Drain = DefaultDrain
	}
	s := &Server{cfg: cfg, log: log, hooks: hooks.withDefaults()}

	inner := http.NewServeMux()
	if register != nil {
		register(inner, App{Config: cfg, Log: log})
	}
	root := http.NewServeMux()
	root.HandleFunc("GET /health", s.health)
	root.HandleFunc("GET /version", s.version)
	if cfg.DebugEnv {
		root.HandleFunc("GET /debug/env/{name}", s.debugEnv)
	}
	if p := cfg.Prefix; p != "" {
		root.HandleFunc("GET "+p+"/version", s.version)
		if cfg.DebugEnv {
			root.HandleFunc("GET "+p+"/debug/env/{name}", s.debugEnv)
		}
		// "/catalog" redirects to "/catalog/" (ServeMux does it for us).
		root.Handle(p+"/", http.StripPrefix(p, inner))
	}
	// At the root too: a router that strips the prefix, or a host-only
	// route (catalog.shop.localhost/items), sends paths without it.
	root.Handle("/", inner)

	s.handler = s.accessLog(s.chaos(root))
	return s
}

// Handler is the service's complete HTTP handler, fault knobs included.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	if s.starting.Load() {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting", "reason": "CHAOS_READY_AFTER"})
		return
	}
	if s.cfg.Chaos.FailHealth {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "failing", "reason": "CHAOS_HEALTH=fail"})
		return
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) version(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, s.cfg.Version)
}

// debugEnv answers the value of one environment variable as text, so tests
// of berth's secrets feature can see what a task received.
func (s *Server) debugEnv(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	v, ok := s.cfg.LookupEnv(name)
	if !ok {
		http.Error(w, name+" is not set", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(v))
}

// chaos applies CHAOS_LATENCY and CHAOS_ERROR_RATE to every request but
// health checks (CHAOS_HEALTH is the health check's own knob).
func (s *Server) chaos(next http.Handler) http.Handler {
	c := s.cfg.Chaos
	if c.Latency == 0 && c.ErrorRate == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			next.ServeHTTP(w, r)
			return
		}
		if c.Latency > 0 {
			if err := s.hooks.Sleep(r.Context(), c.Latency); err != nil {
				return // the client went away
			}
		}
		if c.ErrorRate > 0 && s.hooks.Rand() < c.ErrorRate {
			WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "injected failure (CHAOS_ERROR_RATE)"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// accessLog logs one line per request; health checks only at debug level,
// as the router checks every task every few seconds.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		level := slog.LevelInfo
		if r.URL.Path == "/health" {
			level = slog.LevelDebug
		}
		s.log.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("request_id", r.Header.Get("X-Request-Id")),
			slog.String("trace_id", TraceID(r.Header.Get("Traceparent"))),
		)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// TraceID is the trace id of a W3C traceparent header value ("" when it
// is not one): what berth's router sets and `berth logs --trace` finds.
func TraceID(traceparent string) string {
	if len(traceparent) >= 35 && traceparent[2] == '-' && traceparent[35] == '-' {
		return traceparent[3:35]
	}
	return ""
}

// Propagate copies the request's trace headers (traceparent and
// X-Request-Id) onto a request it makes to another service, so the call
// joins the same trace.
func Propagate(from, to *http.Request) {
	for _, h := range []string{"Traceparent", "X-Request-Id"} {
		if v := from.Header.Get(h); v != "" {
			to.Header.Set(h, v)
		}
	}
}
