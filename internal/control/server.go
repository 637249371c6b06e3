package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/router"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
)

// Config wires a control plane.
type Config struct {
	Project string
	// RouterLog is the router process's log file, where its access log
	// lines go; `GET /v1/logs?trace=ID` reads the lines of a trace from it
	// ("" when there is none).
	RouterLog string
	Store     Store
	Driver    driver.Driver
	Router    Router
	Clock     Clock
	Logger    *slog.Logger
	// RouterURL is the router's base URL, injected as BERTH_ROUTER_URL and
	// expanded in env values written ${BERTH_ROUTER_URL}.
	RouterURL string
	// RouterTLSURL is the router's HTTPS URL ("" without listen_tls), and
	// TLS reports the certificates it serves (nil: none).
	RouterTLSURL string
	TLS          TLSReporter
	// LogDir is where task logs go.
	LogDir string
	// Health, when set, is the one prober of the tasks' health (the
	// router): the control plane reads its verdicts and probes nothing
	// itself, so the two cannot disagree. Without it the control plane
	// probes with Probe (tests on a fake clock, benchmarks).
	Health HealthWatcher
	// Probe checks one task's health when Health is nil; defaults to an
	// HTTP GET.
	Probe func(ctx context.Context, addr, path string, timeout time.Duration) error
	// Env resolves extra environment (secrets) for a task of a release.
	Env func(ctx context.Context, rel store.Release, cfg *spec.Service) (map[string]string, error)
	// Retention is how long events and records of finished tasks are
	// kept; 30 days when zero.
	Retention time.Duration
	// SecretVersions returns the versions of the secrets a service
	// references (scoped name -> version), recorded in each new release so
	// a rollback restores the old configuration. An error stops the
	// deployment before it starts (e.g. a missing secret).
	SecretVersions func(ctx context.Context, cfg *spec.Service) (map[string]int, error)

	// MaxCount is the largest task count a deploy or scale may ask of one
	// service; release.DefaultMaxCount when zero.
	MaxCount int

	// Stepped runs no per-service loop goroutines: passes run only when
	// the owner calls Server.Step (tests step the loop synchronously on a
	// fake clock).
	Stepped bool

	// Engine names the task driver ("process" or "docker"); Status reports it.
	Engine string

	// Secrets, when set, serves /v1/secrets: the store the CLI sets, lists,
	// reads and deletes secret values in. Without it those routes answer
	// 501 and clients use the store directly.
	Secrets SecretStore
}

// Server is the control plane: it owns the services' desired state, runs
// their deployments and keeps their tasks alive.
type Server struct {
	cfg Config
	log *slog.Logger

	// opsMu serialises the requests that change desired state (deploy,
	// rollback, scale, secret rollout): each decides, records in one
	// transaction and starts, with no other request in between.
	opsMu sync.Mutex

	mu       sync.Mutex
	services map[string]*svc

	routesMu sync.Mutex
	routes   map[string][]router.Route
	tableVer uint64

	events *broadcaster

	// ctx lives as long as the server; task goroutines hang off it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // task work: launches, waits, probes, stops
	loops  sync.WaitGroup // the services' loops, which end with ctx
	act    *activity      // work in flight, for Settle

	metrics *deployMetrics // /metrics: deployments, build and deploy durations
	signals *signalRing    // per-release traffic samples for the dashboard
}

// ErrUnknownService is returned for a service the control plane has never
// been asked to deploy.
var ErrUnknownService = errors.New("unknown service")

// ErrBadRequest marks an invalid request.
var ErrBadRequest = errors.New("bad request")

// New returns a control plane; call Start to recover state and run it.
func New(cfg Config) *Server {
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Probe == nil {
		cfg.Probe = httpProbe
	}
	if cfg.MaxCount <= 0 {
		cfg.MaxCount = release.DefaultMaxCount
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		services: map[string]*svc{},
		routes:   map[string][]router.Route{},
		events:   newBroadcaster(),
		act:      newActivity(),
		metrics:  newDeployMetrics(),
		signals:  newSignalRing(signalsEvery, signalsKeep),
		ctx:      ctx,
		cancel:   cancel,
	}
}

// Start recovers the state a previous control plane left: running tasks
// are adopted, lost ones replaced, unfinished deployments resumed.
func (s *Server) Start(ctx context.Context) error {
	states, err := s.cfg.Store.Services(ctx)
	if err != nil {
		return fmt.Errorf("load services: %w", err)
	}
	active, err := s.cfg.Store.ActiveDeployments(ctx)
	if err != nil {
		return fmt.Errorf("load deployments: %w", err)
	}
	byService := map[string]store.Deployment{}
	for _, d := range active {
		byService[d.Service] = d
	}
	for _, st := range states {
		v := newSvc(s, st)
		s.mu.Lock()
		s.services[st.Name] = v
		s.mu.Unlock()
		if err := v.recover(ctx, byService[st.Name]); err != nil {
			return fmt.Errorf("recover service %s: %w", st.Name, err)
		}
		v.recoverHeal(ctx)
		v.clampCount(ctx)
	}
	for _, v := range s.allServices() {
		v.kick()
	}
	s.sampleUsage()
	s.sampleSignals()
	s.autoscaleTick()
	s.prune()
	return nil
}

// prune deletes events and finished-task records older than the
// retention, now and then daily.
func (s *Server) prune() {
	if s.ctx.Err() != nil {
		return
	}
	keep := s.cfg.Retention
	if keep <= 0 {
		keep = 30 * 24 * time.Hour
	}
	events, tasks, err := s.cfg.Store.Prune(s.ctx, s.cfg.Clock.Now().Add(-keep))
	switch {
	case err != nil:
		s.log.Warn("prune history", "err", err)
	case events+tasks > 0:
		s.log.Info("pruned history", "events", events, "tasks", tasks, "older_than", keep.String())
	}
	s.cfg.Clock.AfterFunc(24*time.Hour, s.prune)
}

// usageEvery is how often the control plane asks the driver for every
// task's CPU and memory use.
const usageEvery = 5 * time.Second

// sampleUsage records every running task's CPU and memory use now and
// then every usageEvery, until the server stops.
func (s *Server) sampleUsage() {
	if s.ctx.Err() != nil {
		return
	}
	type probe struct {
		v *svc
		t *task
	}
	var probes []probe
	for _, v := range s.allServices() {
		v.mu.Lock()
		for _, t := range v.tasks {
			if !t.pending && !t.draining {
				probes = append(probes, probe{v, t})
			}
		}
		v.mu.Unlock()
	}
	// Not in s.wg: a sample in flight at shutdown only ends its Inspect
	// calls (they take s.ctx) and writes to tasks nobody reads any more.
	s.act.begin()
	go func() {
		defer s.act.end()
		sem := make(chan struct{}, 4)
		var wg sync.WaitGroup
		for _, p := range probes {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(s.ctx, 3*time.Second)
				st, err := s.cfg.Driver.Inspect(ctx, p.t.handle)
				cancel()
				if err != nil {
					return
				}
				p.v.mu.Lock()
				p.t.usage = st
				p.v.mu.Unlock()
			}()
		}
		wg.Wait()
		if s.ctx.Err() == nil {
			s.cfg.Clock.AfterFunc(usageEvery, s.sampleUsage)
		}
	}()
}

// Shutdown stops every task gracefully (drain, SIGTERM, kill after the
// drain timeout) and stops the control plane's loops.
func (s *Server) Shutdown(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, v := range s.allServices() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.stopAll(ctx)
		}()
	}
	wg.Wait()
	s.cancel()
	s.wg.Wait()
	s.loops.Wait()
	return nil
}

// Detach stops the control plane's loops but leaves tasks running, as a
// crash would; the next Start adopts them. Used by tests.
func (s *Server) Detach() {
	// s.mu is a leaf lock: never held while taking a service's.
	for _, v := range s.allServices() {
		v.mu.Lock()
		v.closed = true
		v.mu.Unlock()
	}
	s.cancel()
	s.wg.Wait()
	s.loops.Wait()
}

func (s *Server) allServices() []*svc {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*svc, 0, len(s.services))
	for _, v := range s.services {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (s *Server) service(name string) (*svc, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.services[name]
	return v, ok
}

// setRoutes replaces one service's routes and publishes a new table.
func (s *Server) setRoutes(service string, routes []router.Route) {
	s.routesMu.Lock()
	defer s.routesMu.Unlock()
	if len(routes) == 0 {
		delete(s.routes, service)
	} else {
		s.routes[service] = routes
	}
	s.tableVer++
	t := &router.Table{Version: s.tableVer}
	names := make([]string, 0, len(s.routes))
	for n := range s.routes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Routes = append(t.Routes, s.routes[n]...)
	}
	s.cfg.Router.Publish(t)
}

// emit records an event and tells subscribers. Events are best effort:
// a failure to record one is logged, never fatal.
func (s *Server) emit(e store.Event) {
	if e.Time.IsZero() {
		// One clock for events and the decisions that read them back
		// (the restart budget after a restart, pruning).
		e.Time = s.cfg.Clock.Now()
	}
	ev, err := s.cfg.Store.AddEvent(context.Background(), e)
	if err != nil {
		s.log.Error("record event", "kind", e.Kind, "err", err)
		return
	}
	s.events.publish(ev)
}

// depsReady reports whether every dependency of service that is deployed
// in the same release set has finished its deployment.
func (s *Server) depsReady(deps []string, setID string) bool {
	if setID == "" {
		return true
	}
	for _, d := range deps {
		v, ok := s.service(d)
		if !ok {
			continue
		}
		if v.inSet(setID) {
			return false
		}
	}
	return true
}

// Step runs one pass of every service that has a wake-up pending and
// reports how many ran. With Config.Stepped it is the only way passes
// run; tests call it until it returns 0 to let the control plane settle.
func (s *Server) Step() int {
	n := 0
	for _, v := range s.allServices() {
		select {
		case <-v.wake:
			v.step()
			s.act.end()
			n++
		default:
		}
	}
	return n
}

// kickAll re-evaluates every service (after a deployment finished, so
// dependents may start).
func (s *Server) kickAll() {
	for _, v := range s.allServices() {
		v.kick()
	}
}

// httpProbe is the default health check: GET http://addr+path, 2xx/3xx passes.
func httpProbe(ctx context.Context, addr, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "berth-health")
	resp, err := probeClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return nil
}

var probeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func unwrapURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// storedConfig is what a release stores as its config: the release
// config and what recognises an unchanged deploy.
type storedConfig struct {
	release.Config
	releaseExtra
}

// releaseExtra is stored beside the release config so an unchanged deploy
// can be recognised.
type releaseExtra struct {
	Print          string `json:"fingerprint,omitempty"` // the config's fingerprint
	ArtifactDigest string `json:"artifact_digest,omitempty"`
}

// decodeStoredConfig reads a stored release config and validates it, so
// a release recorded by an older berth (or by hand) gets the defaults
// every decision reads, and one that cannot run is an error, not a panic.
func decodeStoredConfig(raw json.RawMessage) (storedConfig, error) {
	var sc storedConfig
	if err := json.Unmarshal(raw, &sc); err != nil {
		return sc, fmt.Errorf("decode release config: %w", err)
	}
	// Stored counts were accepted under whatever maximum applied then.
	if err := sc.Validate(release.Limits{MaxCount: math.MaxInt32}); err != nil {
		return sc, fmt.Errorf("release config: %w", err)
	}
	return sc, nil
}
