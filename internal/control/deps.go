package control

import (
	"context"
	"time"

	"github.com/berth-dev/berth/internal/router"
	"github.com/berth-dev/berth/internal/store"
)

// Store is the part of the state store the control plane uses.
type Store interface {
	PutService(ctx context.Context, s store.ServiceState) error
	Service(ctx context.Context, name string) (store.ServiceState, error)
	Services(ctx context.Context) ([]store.ServiceState, error)

	CreateRelease(ctx context.Context, r store.Release) (store.Release, error)
	Release(ctx context.Context, service string, number int) (store.Release, error)
	Releases(ctx context.Context, service string) ([]store.Release, error)

	CreateDeployment(ctx context.Context, d store.Deployment) (store.Deployment, error)
	UpdateDeployment(ctx context.Context, d store.Deployment) error
	Deployment(ctx context.Context, id int64) (store.Deployment, error)
	Deployments(ctx context.Context, service string, limit int) ([]store.Deployment, error)
	ActiveDeployments(ctx context.Context) ([]store.Deployment, error)
	AddPhases(ctx context.Context, id int64, phases []store.Phase) error
	Phases(ctx context.Context, id int64) ([]store.Phase, error)
	DeploymentsOfSet(ctx context.Context, id string) ([]store.Deployment, error)

	PutTask(ctx context.Context, t store.Task) error
	Tasks(ctx context.Context, service string) ([]store.Task, error)
	DeleteTask(ctx context.Context, id string) error

	AddEvent(ctx context.Context, e store.Event) (store.Event, error)
	Events(ctx context.Context, q store.EventQuery) ([]store.Event, error)

	CreateReleaseSet(ctx context.Context, s store.ReleaseSet) error
	RecordRollout(ctx context.Context, r store.Rollout) (store.Rollout, error)
	ReleaseSet(ctx context.Context, id string) (store.ReleaseSet, error)
	ReleaseSets(ctx context.Context, limit int) ([]store.ReleaseSet, error)
	ReleaseSetByCommit(ctx context.Context, commit string) (store.ReleaseSet, error)

	Prune(ctx context.Context, before time.Time) (events, tasks int64, err error)
}

// HealthWatcher is where the control plane reads its tasks' health when
// the router is the prober: Watch checks addr until stop is called and
// reports every check, in order, with the verdict the router routes by.
// The router implements it; it is an interface so the router can live in
// another process.
type HealthWatcher interface {
	Watch(addr string, hc router.HealthCheck, up bool, report func(router.Check)) (stop func())
}

// Router is the data plane as the control plane sees it: it publishes
// routing snapshots and waits for removed targets to drain.
type Router interface {
	Publish(t *router.Table)
	WaitDrained(ctx context.Context, addr string) error
}
