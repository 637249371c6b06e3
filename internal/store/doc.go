// Package store persists berth's state in SQLite: services, releases, deployments, tasks, events, release sets and encrypted secrets.
//
// One file, opened with Open, in WAL mode with a busy timeout and write
// transactions that take the lock up front, so the daemon and CLI commands
// (e.g. `berth secret set`) can use it at the same time. The schema is
// versioned by the numbered migrations in migrations/, applied on Open;
// a database migrated by a newer berth is refused with ErrSchemaTooNew.
// Missing rows are ErrNotFound. Times are stored as unix nanoseconds and
// returned in UTC; JSON fields are stored as TEXT.
package store
