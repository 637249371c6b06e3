package store

import (
	"context"
	"fmt"
	"time"
)

// Prune deletes what only history needs once it is older than before:
// events, and records of tasks that stopped or exited. Releases,
// deployments and release sets are kept (rollback needs them). It returns
// how many events and tasks it deleted.
func (s *Store) Prune(ctx context.Context, before time.Time) (events, tasks int64, err error) {
	cut := timeToDB(before)
	res, err := s.db.ExecContext(ctx, "DELETE FROM events WHERE time < ?", cut)
	if err != nil {
		return 0, 0, fmt.Errorf("prune events: %w", err)
	}
	if events, err = res.RowsAffected(); err != nil {
		return 0, 0, fmt.Errorf("prune events: %w", err)
	}
	res, err = s.db.ExecContext(ctx, "DELETE FROM tasks WHERE state IN (?, ?) AND updated_at < ?", TaskStopped, TaskExited, cut)
	if err != nil {
		return events, 0, fmt.Errorf("prune tasks: %w", err)
	}
	if tasks, err = res.RowsAffected(); err != nil {
		return events, 0, fmt.Errorf("prune tasks: %w", err)
	}
	return events, tasks, nil
}
