package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// EventQuery selects events; zero fields do not filter.
type EventQuery struct {
	AfterID    int64  // only events with a larger ID (for paging and following)
	Service    string // only this service's events
	Deployment int64  // only this deployment's events
	Limit      int    // at most this many (<= 0: all)
	// Newest, with Limit, selects the newest Limit events instead of the
	// oldest (still returned in ascending ID order).
	Newest bool
	// KindPrefixes keeps only events whose kind starts with one of them
	// ("scale." for the scaling decisions).
	KindPrefixes []string
}

// AddEvent appends e to the event log and returns it with its ID assigned
// and Time stamped by the store clock when zero.
func (s *Store) AddEvent(ctx context.Context, e Event) (Event, error) {
	fields, err := mapToDB(e.Fields)
	if err != nil {
		return Event{}, fmt.Errorf("add event %s: encode fields: %w", e.Kind, err)
	}
	e.Time = s.stamp(e.Time)
	res, err := s.db.ExecContext(ctx,
		"INSERT INTO events (time, service, deployment, kind, message, fields) VALUES (?, ?, ?, ?, ?, ?)",
		timeToDB(e.Time), e.Service, e.Deployment, e.Kind, e.Message, fields)
	if err != nil {
		return Event{}, fmt.Errorf("add event %s: %w", e.Kind, err)
	}
	if e.ID, err = res.LastInsertId(); err != nil {
		return Event{}, fmt.Errorf("add event %s: %w", e.Kind, err)
	}
	return e, nil
}

func scanEvent(r scanner) (Event, error) {
	var (
		e      Event
		t      int64
		fields []byte
	)
	if err := r.Scan(&e.ID, &t, &e.Service, &e.Deployment, &e.Kind, &e.Message, &fields); err != nil {
		return Event{}, err
	}
	m, err := mapFromDB[string](fields)
	if err != nil {
		return Event{}, fmt.Errorf("decode fields of event %d: %w", e.ID, err)
	}
	e.Time = timeFromDB(t)
	e.Fields = m
	return e, nil
}

// Events returns the events q selects, in ascending ID order.
func (s *Store) Events(ctx context.Context, q EventQuery) ([]Event, error) {
	where := []string{"id > ?"}
	args := []any{q.AfterID}
	if q.Service != "" {
		where = append(where, "service = ?")
		args = append(args, q.Service)
	}
	if q.Deployment != 0 {
		where = append(where, "deployment = ?")
		args = append(args, q.Deployment)
	}
	if len(q.KindPrefixes) > 0 {
		var or []string
		for _, p := range q.KindPrefixes {
			or = append(or, "substr(kind, 1, ?) = ?")
			args = append(args, len(p), p)
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	args = append(args, limit)
	order := "id"
	if q.Newest {
		order = "id DESC"
	}
	out, err := queryAll(ctx, s.db, scanEvent,
		"SELECT id, time, service, deployment, kind, message, fields FROM events WHERE "+
			strings.Join(where, " AND ")+" ORDER BY "+order+" LIMIT ?", args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	if q.Newest {
		slices.Reverse(out)
	}
	return out, nil
}
