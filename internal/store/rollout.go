package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Rollout is what one request (a deploy, a rollback, a secret rollout)
// records: for each service a new release (optional), the deployment it
// supersedes (optional), the new deployment and the service's new desired
// state, and the release set grouping them. RecordRollout writes all of it
// in one transaction: a crash or an error leaves none of it.
type Rollout struct {
	// Set, when not nil, is recorded with one member per step (its
	// Members are filled in).
	Set   *ReleaseSet
	Steps []RolloutStep
}

// RolloutStep is one service's part of a rollout.
type RolloutStep struct {
	// Release, when not nil, is recorded first and numbered; its number
	// becomes Deployment.ToRelease and Service.Release.
	Release *Release
	// Superseded, when not nil, is the deployment this one replaces,
	// written as given (finished).
	Superseded *Deployment
	// Deployment is recorded and given its ID.
	Deployment Deployment
	// Service is the service's new desired state.
	Service ServiceState
}

// RecordRollout records r in one transaction and returns it as stored
// (release numbers, deployment IDs, set members filled in).
func (s *Store) RecordRollout(ctx context.Context, r Rollout) (Rollout, error) {
	steps := make([]RolloutStep, len(r.Steps))
	copy(steps, r.Steps)
	var set *ReleaseSet
	if r.Set != nil {
		cp := *r.Set
		cp.Members = nil
		cp.CreatedAt = s.stamp(cp.CreatedAt)
		set = &cp
		if set.ID == "" {
			return r, fmt.Errorf("record rollout: release set without id: %w", ErrInvalid)
		}
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for i := range steps {
			st := &steps[i]
			if st.Release != nil {
				rel, err := insertRelease(ctx, tx, s, *st.Release)
				if err != nil {
					return err
				}
				st.Release = &rel
				st.Deployment.ToRelease = rel.Number
				st.Service.Release = rel.Number
			}
			if st.Superseded != nil {
				if err := updateDeployment(ctx, tx, *st.Superseded); err != nil {
					return err
				}
			}
			d, err := insertDeployment(ctx, tx, s, st.Deployment)
			if err != nil {
				return err
			}
			st.Deployment = d
			if err := putService(ctx, tx, s, st.Service); err != nil {
				return err
			}
			if set != nil {
				set.Members = append(set.Members, SetMember{Service: d.Service, Release: d.ToRelease, PrevRelease: d.FromRelease})
			}
		}
		if set != nil && len(set.Members) > 0 {
			return insertReleaseSet(ctx, tx, *set)
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("record rollout: %w", err)
	}
	return Rollout{Set: set, Steps: steps}, nil
}

// execer is what *sql.DB and *sql.Tx have in common.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func insertRelease(ctx context.Context, tx execer, s *Store, r Release) (Release, error) {
	if r.Service == "" {
		return Release{}, fmt.Errorf("create release: empty service: %w", ErrInvalid)
	}
	config, err := rawToDB("config", r.Config)
	if err != nil {
		return Release{}, fmt.Errorf("create release of %s: %w", r.Service, err)
	}
	secrets, err := mapToDB(r.Secrets)
	if err != nil {
		return Release{}, fmt.Errorf("create release of %s: encode secrets: %w", r.Service, err)
	}
	r.CreatedAt = s.stamp(r.CreatedAt)
	if err := tx.QueryRowContext(ctx,
		"SELECT COALESCE(MAX(number), 0) + 1 FROM releases WHERE service = ?", r.Service,
	).Scan(&r.Number); err != nil {
		return Release{}, fmt.Errorf("create release of %s: %w", r.Service, err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO releases (service, number, commit_sha, artifact, image, config, secrets, set_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Service, r.Number, r.Commit, r.Artifact, r.Image, config, secrets, r.SetID, timeToDB(r.CreatedAt)); err != nil {
		return Release{}, fmt.Errorf("create release of %s: %w", r.Service, err)
	}
	return r, nil
}

func insertDeployment(ctx context.Context, tx execer, s *Store, d Deployment) (Deployment, error) {
	if d.Service == "" {
		return Deployment{}, fmt.Errorf("create deployment: empty service: %w", ErrInvalid)
	}
	progress, err := rawToDB("progress", d.Progress)
	if err != nil {
		return Deployment{}, fmt.Errorf("create deployment of %s: %w", d.Service, err)
	}
	if d.State == "" {
		d.State = DeployRunning
	}
	d.StartedAt = s.stamp(d.StartedAt)
	if !d.FinishedAt.IsZero() {
		d.FinishedAt = d.FinishedAt.UTC().Round(0)
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO deployments (service, from_release, to_release, strategy, state, reason, set_id, progress, started_at, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.Service, d.FromRelease, d.ToRelease, d.Strategy, d.State, d.Reason, d.SetID, progress,
		timeToDB(d.StartedAt), timeToDB(d.FinishedAt))
	if err != nil {
		return Deployment{}, fmt.Errorf("create deployment of %s: %w", d.Service, err)
	}
	if d.ID, err = res.LastInsertId(); err != nil {
		return Deployment{}, fmt.Errorf("create deployment of %s: %w", d.Service, err)
	}
	return d, nil
}

func updateDeployment(ctx context.Context, tx execer, d Deployment) error {
	progress, err := rawToDB("progress", d.Progress)
	if err != nil {
		return fmt.Errorf("update deployment %d: %w", d.ID, err)
	}
	res, err := tx.ExecContext(ctx, `
		UPDATE deployments SET service = ?, from_release = ?, to_release = ?, strategy = ?, state = ?,
			reason = ?, set_id = ?, progress = ?, finished_at = ?
		WHERE id = ?`,
		d.Service, d.FromRelease, d.ToRelease, d.Strategy, d.State, d.Reason, d.SetID, progress,
		timeToDB(d.FinishedAt), d.ID)
	if err != nil {
		return fmt.Errorf("update deployment %d: %w", d.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update deployment %d: %w", d.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("update deployment %d: %w", d.ID, ErrNotFound)
	}
	return nil
}

func putService(ctx context.Context, tx execer, s *Store, svc ServiceState) error {
	if svc.Name == "" {
		return fmt.Errorf("put service: empty name: %w", ErrInvalid)
	}
	spec, err := rawToDB("spec", svc.Spec)
	if err != nil {
		return fmt.Errorf("put service %s: %w", svc.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO services (name, release, count, spec, commit_sha, commit_release, updated_at, scale_min) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			release = excluded.release, count = excluded.count,
			spec = excluded.spec, commit_sha = excluded.commit_sha,
			commit_release = excluded.commit_release, updated_at = excluded.updated_at,
			scale_min = excluded.scale_min`,
		svc.Name, svc.Release, svc.Count, spec, svc.Commit, svc.CommitRelease, timeToDB(s.nowUTC()), svc.ScaleMin); err != nil {
		return fmt.Errorf("put service %s: %w", svc.Name, err)
	}
	return nil
}

func insertReleaseSet(ctx context.Context, tx execer, set ReleaseSet) error {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM release_sets WHERE id = ?", set.ID).Scan(&one)
	if err == nil {
		return fmt.Errorf("create release set %s: %w", set.ID, ErrExists)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("create release set %s: %w", set.ID, err)
	}
	if _, err := tx.ExecContext(ctx,
		"INSERT INTO release_sets (id, commit_sha, created_at) VALUES (?, ?, ?)",
		set.ID, set.Commit, timeToDB(set.CreatedAt)); err != nil {
		return fmt.Errorf("create release set %s: %w", set.ID, err)
	}
	for _, m := range set.Members {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO release_set_members (set_id, service, release, prev_release) VALUES (?, ?, ?, ?)",
			set.ID, m.Service, m.Release, m.PrevRelease); err != nil {
			return fmt.Errorf("create release set %s: member %s: %w", set.ID, m.Service, err)
		}
	}
	return nil
}
