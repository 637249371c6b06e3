package store

import (
	"context"
	"database/sql"
	"fmt"
)

// CreateRelease records a new release of r.Service, numbering it one past
// the service's highest release (atomically, also across processes) and
// stamping CreatedAt with the store clock when it is zero. It returns the
// release as stored.
func (s *Store) CreateRelease(ctx context.Context, r Release) (Release, error) {
	// The number is the service's highest plus one: read and insert in one
	// transaction, so two writers never take the same number.
	var out Release
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = insertRelease(ctx, tx, s, r)
		return err
	})
	if err != nil {
		return Release{}, err
	}
	return out, nil
}

const releaseColumns = "service, number, commit_sha, artifact, image, config, secrets, set_id, created_at"

func scanRelease(row scanner) (Release, error) {
	var (
		r               Release
		config, secrets []byte
		created         int64
	)
	if err := row.Scan(&r.Service, &r.Number, &r.Commit, &r.Artifact, &r.Image, &config, &secrets, &r.SetID, &created); err != nil {
		return Release{}, err
	}
	m, err := mapFromDB[int](secrets)
	if err != nil {
		return Release{}, fmt.Errorf("decode secrets of release %s/%d: %w", r.Service, r.Number, err)
	}
	r.Config = rawFromDB(config)
	r.Secrets = m
	r.CreatedAt = timeFromDB(created)
	return r, nil
}

// Release returns release number of service, or ErrNotFound.
func (s *Store) Release(ctx context.Context, service string, number int) (Release, error) {
	row := s.db.QueryRowContext(ctx,
		"SELECT "+releaseColumns+" FROM releases WHERE service = ? AND number = ?", service, number)
	r, err := scanRelease(row)
	if err != nil {
		return Release{}, notFound(err, fmt.Sprintf("release %s/%d", service, number))
	}
	return r, nil
}

// Releases returns every release of service, newest first.
func (s *Store) Releases(ctx context.Context, service string) ([]Release, error) {
	out, err := queryAll(ctx, s.db, scanRelease,
		"SELECT "+releaseColumns+" FROM releases WHERE service = ? ORDER BY number DESC", service)
	if err != nil {
		return nil, fmt.Errorf("list releases of %s: %w", service, err)
	}
	return out, nil
}

// LatestRelease returns the highest-numbered release of service, or
// ErrNotFound when it has none.
func (s *Store) LatestRelease(ctx context.Context, service string) (Release, error) {
	row := s.db.QueryRowContext(ctx,
		"SELECT "+releaseColumns+" FROM releases WHERE service = ? ORDER BY number DESC LIMIT 1", service)
	r, err := scanRelease(row)
	if err != nil {
		return Release{}, notFound(err, "latest release of "+service)
	}
	return r, nil
}
