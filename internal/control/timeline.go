package control

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/spec"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/timeline"
)

// maxClientPhases bounds the phases one deploy request may carry.
const maxClientPhases = 100

// checkPhases validates the client-timed phases of a deploy request.
func checkPhases(ps []api.PhaseTiming) error {
	if len(ps) > maxClientPhases {
		return fmt.Errorf("phases: %d phases, more than the %d allowed", len(ps), maxClientPhases)
	}
	for i, p := range ps {
		switch {
		case p.Name == "" || len(p.Name) > 64:
			return fmt.Errorf("phases[%d].name: must be 1 to 64 characters", i)
		case p.Start.IsZero() || p.End.IsZero():
			return fmt.Errorf("phases[%d]: start and end are both required", i)
		case p.End.Before(p.Start):
			return fmt.Errorf("phases[%d]: end %s is before start %s", i, p.End.Format(time.RFC3339Nano), p.Start.Format(time.RFC3339Nano))
		case len(p.Detail) > 1024 || len(p.GovernedBy) > 128 || len(p.Service) > 128:
			return fmt.Errorf("phases[%d]: detail, governed_by or service too long", i)
		}
	}
	return nil
}

// recordPhases stores, with each deployment a request started, the
// client-timed phases that are its service's or every service's. A failure
// is logged: the deployments run either way.
func (s *Server) recordPhases(ctx context.Context, ps []api.PhaseTiming, deps []api.Deployment) {
	if len(ps) == 0 {
		return
	}
	for _, d := range deps {
		id, err := parseDeploymentID(d.ID)
		if err != nil {
			continue
		}
		var mine []store.Phase
		for _, p := range ps {
			if p.Service == "" || p.Service == d.Service {
				mine = append(mine, store.Phase{Name: p.Name, Service: p.Service, Start: p.Start.UTC(), End: p.End.UTC(), GovernedBy: p.GovernedBy, Detail: p.Detail})
			}
		}
		if err := s.cfg.Store.AddPhases(ctx, id, mine); err != nil {
			s.log.Error("record deploy phases", "deployment", d.ID, "err", err)
		}
	}
}

// Timeline returns the timeline of a deployment, or of every deployment
// of a release set when id is a set's.
func (s *Server) Timeline(ctx context.Context, id string) (api.Timeline, error) {
	if n, err := parseDeploymentID(id); err == nil {
		d, err := s.cfg.Store.Deployment(ctx, n)
		if err != nil {
			return api.Timeline{}, fmt.Errorf("deployment %s: %w", id, err)
		}
		phases, err := s.deploymentPhases(ctx, d)
		if err != nil {
			return api.Timeline{}, err
		}
		ad := apiDeployment(d)
		t := api.Timeline{Deployment: &ad, Phases: phases}
		timeline.Summarize(&t, []time.Time{s.endOf(d)})
		return t, nil
	}
	if !validSetID(id) {
		return api.Timeline{}, fmt.Errorf("%w: %q is neither a deployment id nor a release set id", ErrBadRequest, id)
	}
	deps, err := s.cfg.Store.DeploymentsOfSet(ctx, id)
	if err != nil {
		return api.Timeline{}, err
	}
	if len(deps) == 0 {
		return api.Timeline{}, fmt.Errorf("release set %s: %w", id, store.ErrNotFound)
	}
	t := api.Timeline{SetID: id, Deployments: []api.Deployment{}}
	var ends []time.Time
	shared := map[string]bool{}
	for _, d := range deps {
		phases, err := s.deploymentPhases(ctx, d)
		if err != nil {
			return api.Timeline{}, err
		}
		for _, p := range phases {
			if p.Service == "" { // every service's (plan, a build of all): once
				k := p.Name + p.Start.String()
				if shared[k] {
					continue
				}
				shared[k] = true
			}
			t.Phases = append(t.Phases, p)
		}
		t.Deployments = append(t.Deployments, apiDeployment(d))
		ends = append(ends, s.endOf(d))
	}
	timeline.Summarize(&t, ends)
	return t, nil
}

// validSetID reports whether id can be a release set's id.
func validSetID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// endOf is when a deployment ended, or now while it runs.
func (s *Server) endOf(d store.Deployment) time.Time {
	if d.FinishedAt.IsZero() {
		return s.cfg.Clock.Now()
	}
	return d.FinishedAt
}

// deploymentPhases builds one deployment's phases from its client phases,
// its events and its release's settings.
func (s *Server) deploymentPhases(ctx context.Context, d store.Deployment) ([]api.Phase, error) {
	cps, err := s.cfg.Store.Phases(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	client := make([]api.PhaseTiming, len(cps))
	for i, p := range cps {
		client[i] = api.PhaseTiming{Name: p.Name, Service: p.Service, Start: p.Start, End: p.End, GovernedBy: p.GovernedBy, Detail: p.Detail}
	}
	evs, err := s.cfg.Store.Events(ctx, store.EventQuery{Service: d.Service})
	if err != nil {
		return nil, fmt.Errorf("events of deployment %s: %w", deploymentID(d.ID), err)
	}
	// The service's events from this deployment's start until the next
	// deployment of the service starts.
	var next time.Time
	if later, err := s.cfg.Store.Deployments(ctx, d.Service, 0); err == nil {
		for _, o := range later {
			if o.ID > d.ID && (next.IsZero() || o.StartedAt.Before(next)) {
				next = o.StartedAt
			}
		}
	}
	var mine []api.Event
	for _, e := range evs {
		if e.Time.Before(d.StartedAt) || !next.IsZero() && !e.Time.Before(next) {
			continue
		}
		mine = append(mine, api.Event{ID: eventID(e.ID), Time: e.Time, Service: e.Service, Deployment: deploymentID(e.Deployment), Kind: e.Kind, Message: e.Message, Fields: e.Fields})
	}
	var svc *spec.Service
	if rec, err := s.cfg.Store.Release(ctx, d.Service, d.ToRelease); err == nil {
		if sc, err := decodeStoredConfig(rec.Config); err == nil {
			svc = sc.Service
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return timeline.Build(timeline.Input{Deployment: apiDeployment(d), Client: client, Events: mine, Service: svc, Now: s.cfg.Clock.Now()}), nil
}
