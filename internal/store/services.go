package store

import (
	"context"
	"database/sql"
	"fmt"
)

// PutService creates or replaces the desired state of a service and stamps
// UpdatedAt with the store clock.
func (s *Store) PutService(ctx context.Context, svc ServiceState) error {
	return putService(ctx, s.db, s, svc)
}

const serviceColumns = "name, release, count, spec, commit_sha, commit_release, updated_at, scale_min"

func scanService(r scanner) (ServiceState, error) {
	var (
		svc      ServiceState
		spec     []byte
		updated  int64
		scaleMin sql.NullInt64
	)
	if err := r.Scan(&svc.Name, &svc.Release, &svc.Count, &spec, &svc.Commit, &svc.CommitRelease, &updated, &scaleMin); err != nil {
		return ServiceState{}, err
	}
	if scaleMin.Valid {
		n := int(scaleMin.Int64)
		svc.ScaleMin = &n
	}
	svc.Spec = rawFromDB(spec)
	svc.UpdatedAt = timeFromDB(updated)
	return svc, nil
}

// Service returns the desired state of the named service, or ErrNotFound.
func (s *Store) Service(ctx context.Context, name string) (ServiceState, error) {
	row := s.db.QueryRowContext(ctx, "SELECT "+serviceColumns+" FROM services WHERE name = ?", name)
	svc, err := scanService(row)
	if err != nil {
		return ServiceState{}, notFound(err, "service "+name)
	}
	return svc, nil
}

// Services returns the desired state of every service, by name.
func (s *Store) Services(ctx context.Context) ([]ServiceState, error) {
	out, err := queryAll(ctx, s.db, scanService, "SELECT "+serviceColumns+" FROM services ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	return out, nil
}

// DeleteService removes a service's desired state (its releases, tasks and
// history stay), or returns ErrNotFound.
func (s *Store) DeleteService(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM services WHERE name = ?", name)
	if err != nil {
		return fmt.Errorf("delete service %s: %w", name, err)
	}
	return checkAffected(res, "delete service "+name)
}
