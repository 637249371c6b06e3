package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// ErrNotFound is returned (wrapped) when the requested row does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned (wrapped) when a row created with a caller-chosen key
// already exists.
var ErrExists = errors.New("already exists")

// ErrInvalid is returned (wrapped) when a record cannot be stored as given:
// a missing key or a JSON field that is not valid JSON.
var ErrInvalid = errors.New("invalid record")

// ErrSchemaTooNew is returned by Open when the database was migrated by a
// newer berth than this one, which therefore cannot safely use it.
var ErrSchemaTooNew = errors.New("database schema is newer than this berth supports")

// busyTimeout is how long a write waits for another connection (or another
// process, e.g. a CLI command next to the daemon) to release the database.
const busyTimeout = 5 * time.Second

// Store is berth's state store, one SQLite file. It is safe for concurrent
// use by many goroutines, and several processes may open the same file.
type Store struct {
	db  *sql.DB
	now func() time.Time

	// path is the database file and opened what it was when opened, so
	// CheckFile notices the file deleted or replaced under a running
	// berth; copy is the last copy CheckFile wrote back.
	path   string
	fileMu sync.Mutex
	opened os.FileInfo
	copy   os.FileInfo
}

// Option configures a Store at Open.
type Option func(*Store)

// WithClock makes the store stamp records with now instead of time.Now,
// so tests with a fake clock get predictable timestamps.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// Open opens (creating if needed, with mode 0600 and its directory 0700) the
// SQLite database at path, and applies any pending schema migrations.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("open store: empty path: %w", ErrInvalid)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: create directory: %w", path, err)
	}
	// Create the file ourselves so it (and the -wal/-shm files SQLite
	// derives from it) is private to the user: it holds secret ciphertexts.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}

	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// One connection per Store: SQLite allows one writer at a time anyway,
	// and a single connection means goroutines of this process queue in
	// database/sql instead of racing for the file lock. Other processes are
	// serialised by the busy timeout and BEGIN IMMEDIATE transactions.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)

	s := &Store{db: db, now: time.Now, path: abs}
	for _, o := range opts {
		o(s)
	}
	if err := s.init(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: %w", path, err), db.Close())
	}
	if s.opened, err = os.Stat(abs); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: %w", path, err), db.Close())
	}
	return s, nil
}

// dsn builds the modernc.org/sqlite data source name for a file: WAL so
// readers never block the writer, a busy timeout so a second process waits
// instead of failing with "database is locked", foreign keys on, and
// transactions that take the write lock up front (BEGIN IMMEDIATE) so two
// writers never deadlock upgrading read locks.
func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	// A file: URI, so a path holding '?' or '#' is not mistaken for the query.
	p := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(path))
	return "file:" + p + "?" + q.Encode()
}

// init checks the connection settings and migrates the schema.
func (s *Store) init(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		// Some file systems cannot do WAL; the store still works, with
		// readers and the writer serialised.
		slog.Warn("store: WAL journal mode unavailable", "mode", mode)
	}
	return s.migrate(ctx)
}

// Close closes the database. Pending operations finish first.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// inTx runs fn in one write transaction (BEGIN IMMEDIATE), committing if fn
// returns nil. fn must use tx only: the Store has one connection, so using
// s.db inside fn would wait forever.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, rollback(tx))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func rollback(tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, db *sql.DB, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// notFound maps sql.ErrNoRows to ErrNotFound and wraps err with what.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// checkAffected returns ErrNotFound when a statement changed no row.
func checkAffected(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}

// Times are stored as INTEGER unix nanoseconds, 0 for the zero time, and
// returned in UTC.

func timeToDB(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func timeFromDB(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// nowUTC is the store clock's now, in UTC without a monotonic reading.
func (s *Store) nowUTC() time.Time {
	return s.now().UTC().Round(0)
}

// stamp returns t in UTC if set, otherwise the store clock's now.
func (s *Store) stamp(t time.Time) time.Time {
	if t.IsZero() {
		return s.nowUTC()
	}
	return t.UTC().Round(0)
}

// JSON fields are stored as TEXT, NULL when empty.

func rawToDB(field string, raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("%s is not valid JSON: %w", field, ErrInvalid)
	}
	return string(raw), nil
}

func rawFromDB(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	return json.RawMessage(b)
}

func mapToDB[V any](m map[string]V) (any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func mapFromDB[V any](b []byte) (map[string]V, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var m map[string]V
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}
