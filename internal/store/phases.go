package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Phase is one timed phase of a deployment that the client ran before
// submitting it (plan, build, push).
type Phase struct {
	Name       string    `json:"name"`
	Service    string    `json:"service,omitempty"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	GovernedBy string    `json:"governed_by,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// AddPhases records the client-side phases of deployment id, after any
// already recorded, in one transaction.
func (s *Store) AddPhases(ctx context.Context, id int64, phases []Phase) error {
	if len(phases) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var next int
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM deployment_phases WHERE deployment = ?", id).Scan(&next); err != nil {
			return fmt.Errorf("record phases of deployment %d: %w", id, err)
		}
		for _, p := range phases {
			next++
			if _, err := tx.ExecContext(ctx,
				"INSERT INTO deployment_phases (deployment, seq, name, service, start, end, governed_by, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
				id, next, p.Name, p.Service, timeToDB(p.Start), timeToDB(p.End), p.GovernedBy, p.Detail); err != nil {
				return fmt.Errorf("record phase %s of deployment %d: %w", p.Name, id, err)
			}
		}
		return nil
	})
}

// Phases returns the client-side phases of deployment id in the order
// they were recorded.
func (s *Store) Phases(ctx context.Context, id int64) ([]Phase, error) {
	out, err := queryAll(ctx, s.db, func(r scanner) (Phase, error) {
		var (
			p          Phase
			start, end int64
		)
		if err := r.Scan(&p.Name, &p.Service, &start, &end, &p.GovernedBy, &p.Detail); err != nil {
			return Phase{}, err
		}
		p.Start, p.End = timeFromDB(start), timeFromDB(end)
		return p, nil
	}, "SELECT name, service, start, end, governed_by, detail FROM deployment_phases WHERE deployment = ? ORDER BY seq", id)
	if err != nil {
		return nil, fmt.Errorf("list phases of deployment %d: %w", id, err)
	}
	return out, nil
}

// DeploymentsOfSet returns the deployments of release set id, oldest
// first.
func (s *Store) DeploymentsOfSet(ctx context.Context, id string) ([]Deployment, error) {
	out, err := queryAll(ctx, s.db, scanDeployment,
		"SELECT "+deploymentColumns+" FROM deployments WHERE set_id = ? ORDER BY id", id)
	if err != nil {
		return nil, fmt.Errorf("list deployments of set %q: %w", id, err)
	}
	return out, nil
}
