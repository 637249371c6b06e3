package control

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/router"
)

// signalsEvery is how often the control plane samples each live release's
// traffic from the router for the dashboard's sparklines, and
// signalsKeep how far back it keeps the samples.
const (
	signalsEvery = 5 * time.Second
	signalsKeep  = 15 * time.Minute
)

// releaseKey names one release of one service.
type releaseKey struct {
	service string
	release int
}

// signalRing keeps, per release, the samples of the last keep: a bounded
// ring each, so memory does not grow with uptime, and a release that
// stopped being sampled is forgotten once its newest sample is older than
// keep.
type signalRing struct {
	every time.Duration
	keep  time.Duration

	mu     sync.Mutex
	series map[releaseKey][]api.SignalSample
}

func newSignalRing(every, keep time.Duration) *signalRing {
	return &signalRing{every: every, keep: keep, series: map[releaseKey][]api.SignalSample{}}
}

// capacity is how many samples one release keeps.
func (r *signalRing) capacity() int { return int(r.keep / r.every) }

// add records one sample of the release's traffic over the interval ending
// at now, and forgets releases not seen for longer than keep.
func (r *signalRing) add(now time.Time, k releaseKey, s router.Signals) {
	secs := r.every.Seconds()
	sample := api.SignalSample{
		Time: now.UTC(), Requests: s.Requests, Errors5xx: s.Errors5xx,
		RPS:   float64(s.Requests) / secs,
		P50Ms: float64(s.P50) / float64(time.Millisecond),
		P99Ms: float64(s.P99) / float64(time.Millisecond),
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ss := append(r.series[k], sample)
	if n := r.capacity(); len(ss) > n {
		ss = slices.Clone(ss[len(ss)-n:])
	}
	r.series[k] = ss
	for key, ss := range r.series {
		if now.Sub(ss[len(ss)-1].Time) > r.keep {
			delete(r.series, key)
		}
	}
}

// read returns the samples newer than now-window of every release (of
// service, when not empty), by service then release.
func (r *signalRing) read(now time.Time, window time.Duration, service string) []api.ReleaseSignals {
	from := now.Add(-window)
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []api.ReleaseSignals{}
	for k, ss := range r.series {
		if service != "" && k.service != service {
			continue
		}
		i := sort.Search(len(ss), func(i int) bool { return ss[i].Time.After(from) })
		if i == len(ss) {
			continue
		}
		out = append(out, api.ReleaseSignals{Service: k.service, Release: k.release, Samples: slices.Clone(ss[i:])})
	}
	slices.SortFunc(out, func(a, b api.ReleaseSignals) int {
		if c := strings.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return a.Release - b.Release
	})
	return out
}

// sampleSignals records every live release's traffic over the last
// signalsEvery, now and then every signalsEvery, until the server stops.
// Routers that measure no signals leave the ring empty.
func (s *Server) sampleSignals() {
	if s.ctx.Err() != nil {
		return
	}
	sig, ok := s.cfg.Router.(signaler)
	if !ok {
		return
	}
	var keys []releaseKey
	for _, v := range s.allServices() {
		v.mu.Lock()
		seen := map[int]bool{}
		for _, t := range v.tasks {
			if !t.pending && !seen[t.rec.Release] {
				seen[t.rec.Release] = true
				keys = append(keys, releaseKey{v.name, t.rec.Release})
			}
		}
		v.mu.Unlock()
	}
	s.act.begin()
	go func() {
		defer s.act.end()
		now := s.cfg.Clock.Now()
		for _, k := range keys {
			s.signals.add(now, k, sig.ReleaseSignals(k.service, k.release, signalsEvery))
		}
		if s.ctx.Err() == nil {
			s.cfg.Clock.AfterFunc(signalsEvery, s.sampleSignals)
		}
	}()
}

// Signals returns the sampled traffic of every live release (of service,
// when not empty) over the last window, at most signalsKeep.
func (s *Server) Signals(_ context.Context, service string, window time.Duration) (api.Signals, error) {
	if window <= 0 || window > signalsKeep {
		return api.Signals{}, fmt.Errorf("%w: window: %s is not between 0s and %s", ErrBadRequest, window, signalsKeep)
	}
	if service != "" {
		if _, ok := s.service(service); !ok {
			return api.Signals{}, fmt.Errorf("%w %q", ErrUnknownService, service)
		}
	}
	return api.Signals{
		IntervalSeconds: signalsEvery.Seconds(),
		WindowSeconds:   window.Seconds(),
		Releases:        s.signals.read(s.cfg.Clock.Now(), window, service),
	}, nil
}

// handleSignals serves GET /v1/signals?window=15m&service=NAME.
func (s *Server) handleSignals(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	window := signalsKeep
	if ws := q.Get("window"); ws != "" {
		d, err := time.ParseDuration(ws)
		if err != nil {
			writeErr(w, fmt.Errorf("%w: window: %q is not a duration such as 15m", ErrBadRequest, ws))
			return
		}
		window = d
	}
	name := q.Get("service")
	if name != "" && !validName(name) {
		writeErr(w, fmt.Errorf("%w: service: %q is not a service name", ErrBadRequest, name))
		return
	}
	out, err := s.Signals(r.Context(), name, window)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
