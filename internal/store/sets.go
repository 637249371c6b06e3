package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// CreateReleaseSet records set (its ID chosen by the caller) with its
// members, stamping CreatedAt with the store clock when zero. A set with the
// same ID is ErrExists.
func (s *Store) CreateReleaseSet(ctx context.Context, set ReleaseSet) error {
	if set.ID == "" {
		return fmt.Errorf("create release set: empty id: %w", ErrInvalid)
	}
	created := s.stamp(set.CreatedAt)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM release_sets WHERE id = ?", set.ID).Scan(&one)
		if err == nil {
			return ErrExists
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO release_sets (id, commit_sha, created_at) VALUES (?, ?, ?)",
			set.ID, set.Commit, timeToDB(created)); err != nil {
			return err
		}
		for _, m := range set.Members {
			if _, err := tx.ExecContext(ctx,
				"INSERT INTO release_set_members (set_id, service, release, prev_release) VALUES (?, ?, ?, ?)",
				set.ID, m.Service, m.Release, m.PrevRelease); err != nil {
				return fmt.Errorf("member %s: %w", m.Service, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create release set %s: %w", set.ID, err)
	}
	return nil
}

// ReleaseSet returns set id with its members, or ErrNotFound.
func (s *Store) ReleaseSet(ctx context.Context, id string) (ReleaseSet, error) {
	sets, err := s.releaseSets(ctx, "WHERE id = ?", id)
	if err != nil {
		return ReleaseSet{}, fmt.Errorf("release set %s: %w", id, err)
	}
	if len(sets) == 0 {
		return ReleaseSet{}, fmt.Errorf("release set %s: %w", id, ErrNotFound)
	}
	return sets[0], nil
}

// ReleaseSets returns release sets with their members, newest first, at
// most limit of them (limit <= 0: all).
func (s *Store) ReleaseSets(ctx context.Context, limit int) ([]ReleaseSet, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	sets, err := s.releaseSets(ctx, "ORDER BY seq DESC LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("list release sets: %w", err)
	}
	return sets, nil
}

// ReleaseSetByCommit returns the newest release set made from commit, given
// as a prefix of the stored commit ("abc12" finds "abc1234") or as a longer
// form of it (a full SHA finds the stored short SHA). ErrNotFound when none.
func (s *Store) ReleaseSetByCommit(ctx context.Context, commit string) (ReleaseSet, error) {
	if commit == "" {
		return ReleaseSet{}, fmt.Errorf("release set of commit %q: %w", commit, ErrNotFound)
	}
	sets, err := s.releaseSets(ctx, `
		WHERE commit_sha <> '' AND (substr(commit_sha, 1, length(?1)) = ?1 OR substr(?1, 1, length(commit_sha)) = commit_sha)
		ORDER BY seq DESC LIMIT 1`, commit)
	if err != nil {
		return ReleaseSet{}, fmt.Errorf("release set of commit %s: %w", commit, err)
	}
	if len(sets) == 0 {
		return ReleaseSet{}, fmt.Errorf("release set of commit %s: %w", commit, ErrNotFound)
	}
	return sets[0], nil
}

// releaseSets selects sets by the SQL tail (WHERE/ORDER/LIMIT) and loads
// their members, in the order selected.
func (s *Store) releaseSets(ctx context.Context, tail string, args ...any) ([]ReleaseSet, error) {
	sets, err := queryAll(ctx, s.db, func(r scanner) (ReleaseSet, error) {
		var (
			set     ReleaseSet
			created int64
		)
		if err := r.Scan(&set.ID, &set.Commit, &created); err != nil {
			return ReleaseSet{}, err
		}
		set.CreatedAt = timeFromDB(created)
		set.Members = []SetMember{}
		return set, nil
	}, "SELECT id, commit_sha, created_at FROM release_sets "+tail, args...)
	if err != nil {
		return nil, err
	}
	for i := range sets {
		members, err := queryAll(ctx, s.db, func(r scanner) (SetMember, error) {
			var m SetMember
			err := r.Scan(&m.Service, &m.Release, &m.PrevRelease)
			return m, err
		}, "SELECT service, release, prev_release FROM release_set_members WHERE set_id = ? ORDER BY seq", sets[i].ID)
		if err != nil {
			return nil, fmt.Errorf("members of %s: %w", sets[i].ID, err)
		}
		if members != nil {
			sets[i].Members = members
		}
	}
	return sets, nil
}
