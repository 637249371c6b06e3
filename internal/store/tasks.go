package store

import (
	"context"
	"fmt"
)

// PutTask creates or replaces task t.ID. UpdatedAt is stamped with the store
// clock; CreatedAt is set on insert (t.CreatedAt if given, else now) and
// kept on update.
func (s *Store) PutTask(ctx context.Context, t Task) error {
	if t.ID == "" {
		return fmt.Errorf("put task: empty id: %w", ErrInvalid)
	}
	handle, err := rawToDB("handle", t.Handle)
	if err != nil {
		return fmt.Errorf("put task %s: %w", t.ID, err)
	}
	now := s.nowUTC()
	created := now
	if !t.CreatedAt.IsZero() {
		created = t.CreatedAt.UTC()
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO tasks (id, service, release, state, handle, addr, restarts, exit, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			service = excluded.service, release = excluded.release, state = excluded.state,
			handle = excluded.handle, addr = excluded.addr, restarts = excluded.restarts,
			exit = excluded.exit, updated_at = excluded.updated_at`,
		t.ID, t.Service, t.Release, t.State, handle, t.Addr, t.Restarts, t.Exit,
		timeToDB(created), timeToDB(now))
	if err != nil {
		return fmt.Errorf("put task %s: %w", t.ID, err)
	}
	return nil
}

const taskColumns = "id, service, release, state, handle, addr, restarts, exit, created_at, updated_at"

func scanTask(r scanner) (Task, error) {
	var (
		t                Task
		handle           []byte
		created, updated int64
	)
	if err := r.Scan(&t.ID, &t.Service, &t.Release, &t.State, &handle, &t.Addr, &t.Restarts, &t.Exit,
		&created, &updated); err != nil {
		return Task{}, err
	}
	t.Handle = rawFromDB(handle)
	t.CreatedAt = timeFromDB(created)
	t.UpdatedAt = timeFromDB(updated)
	return t, nil
}

// Task returns task id, or ErrNotFound.
func (s *Store) Task(ctx context.Context, id string) (Task, error) {
	row := s.db.QueryRowContext(ctx, "SELECT "+taskColumns+" FROM tasks WHERE id = ?", id)
	t, err := scanTask(row)
	if err != nil {
		return Task{}, notFound(err, "task "+id)
	}
	return t, nil
}

// Tasks returns the tasks of service ("" for every service), oldest first.
func (s *Store) Tasks(ctx context.Context, service string) ([]Task, error) {
	out, err := queryAll(ctx, s.db, scanTask,
		"SELECT "+taskColumns+" FROM tasks WHERE ? = '' OR service = ? ORDER BY created_at, rowid",
		service, service)
	if err != nil {
		return nil, fmt.Errorf("list tasks of %q: %w", service, err)
	}
	return out, nil
}

// DeleteTask forgets task id, or returns ErrNotFound.
func (s *Store) DeleteTask(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM tasks WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete task %s: %w", id, err)
	}
	return checkAffected(res, "delete task "+id)
}
