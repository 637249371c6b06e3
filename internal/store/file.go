package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrFileReplaced is returned by CheckFile when another file now sits at
// the database's path: the store keeps using the one it opened.
var ErrFileReplaced = errors.New("the state database file was replaced while berth runs")

// FileCheck is what CheckFile found.
type FileCheck int

// What CheckFile found.
const (
	// FileOK: the file the store opened is still at its path.
	FileOK FileCheck = iota
	// FileRestored: the file was gone and a copy of the open database
	// has been written back to its path.
	FileRestored
	// FileRefreshed: the path holds the copy an earlier check wrote back;
	// it has been brought up to date.
	FileRefreshed
)

// CheckFile notices the database file deleted (or replaced) while the
// store is open. A deleted file would lose every record at the next
// start (an empty database, then every running task killed as an orphan),
// so the open database is copied back to the path (VACUUM INTO), and on
// later checks the copy is kept up to date. A file replaced by someone
// else is left alone and reported as ErrFileReplaced.
func (s *Store) CheckFile(ctx context.Context) (FileCheck, error) {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	fi, err := os.Stat(s.path)
	switch {
	case err == nil && os.SameFile(fi, s.opened):
		return FileOK, nil
	case err == nil && s.copy != nil && os.SameFile(fi, s.copy):
		return FileRefreshed, s.writeCopy(ctx)
	case err == nil:
		return FileOK, fmt.Errorf("%s: %w", s.path, ErrFileReplaced)
	case errors.Is(err, fs.ErrNotExist):
		return FileRestored, s.writeCopy(ctx)
	default:
		return FileOK, fmt.Errorf("check state database %s: %w", s.path, err)
	}
}

// writeCopy writes the open database to its path, atomically (a temporary
// file renamed over it). Caller holds fileMu.
func (s *Store) writeCopy(ctx context.Context) error {
	tmp := filepath.Join(filepath.Dir(s.path), "."+filepath.Base(s.path)+".restore")
	_ = os.Remove(tmp)
	if _, err := s.db.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return fmt.Errorf("copy state database back to %s: %w", s.path, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("copy state database back to %s: %w", s.path, err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("copy state database back to %s: %w", s.path, err)
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("copy state database back to %s: %w", s.path, err)
	}
	s.copy = fi
	return nil
}
