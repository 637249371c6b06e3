package store

import (
	"context"
	"fmt"
)

// CreateDeployment records a new deployment and returns it with its ID
// assigned, StartedAt stamped by the store clock when zero, and State
// DeployRunning when empty.
func (s *Store) CreateDeployment(ctx context.Context, d Deployment) (Deployment, error) {
	return insertDeployment(ctx, s.db, s, d)
}

// UpdateDeployment overwrites deployment d.ID with d (everything but ID and
// StartedAt), or returns ErrNotFound.
func (s *Store) UpdateDeployment(ctx context.Context, d Deployment) error {
	return updateDeployment(ctx, s.db, d)
}

const deploymentColumns = "id, service, from_release, to_release, strategy, state, reason, set_id, progress, started_at, finished_at"

func scanDeployment(r scanner) (Deployment, error) {
	var (
		d                 Deployment
		progress          []byte
		started, finished int64
	)
	if err := r.Scan(&d.ID, &d.Service, &d.FromRelease, &d.ToRelease, &d.Strategy, &d.State,
		&d.Reason, &d.SetID, &progress, &started, &finished); err != nil {
		return Deployment{}, err
	}
	d.Progress = rawFromDB(progress)
	d.StartedAt = timeFromDB(started)
	d.FinishedAt = timeFromDB(finished)
	return d, nil
}

// Deployment returns deployment id, or ErrNotFound.
func (s *Store) Deployment(ctx context.Context, id int64) (Deployment, error) {
	row := s.db.QueryRowContext(ctx, "SELECT "+deploymentColumns+" FROM deployments WHERE id = ?", id)
	d, err := scanDeployment(row)
	if err != nil {
		return Deployment{}, notFound(err, fmt.Sprintf("deployment %d", id))
	}
	return d, nil
}

// Deployments returns the deployments of service ("" for every service),
// newest first, at most limit of them (limit <= 0: all).
func (s *Store) Deployments(ctx context.Context, service string, limit int) ([]Deployment, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	out, err := queryAll(ctx, s.db, scanDeployment,
		"SELECT "+deploymentColumns+" FROM deployments WHERE ? = '' OR service = ? ORDER BY id DESC LIMIT ?",
		service, service, limit)
	if err != nil {
		return nil, fmt.Errorf("list deployments of %q: %w", service, err)
	}
	return out, nil
}

// ActiveDeployments returns the deployments still running, oldest first,
// so a restarted control plane can resume them in order.
func (s *Store) ActiveDeployments(ctx context.Context) ([]Deployment, error) {
	out, err := queryAll(ctx, s.db, scanDeployment,
		"SELECT "+deploymentColumns+" FROM deployments WHERE state = ? ORDER BY id", DeployRunning)
	if err != nil {
		return nil, fmt.Errorf("list active deployments: %w", err)
	}
	return out, nil
}
