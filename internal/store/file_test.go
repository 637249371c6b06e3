package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCheckFile_DeletedDatabaseIsNoticedAndWrittenBack: a state.db deleted
// under a running store is noticed and copied back with every record, and
// the copy keeps up with later writes.
func TestCheckFile_DeletedDatabaseIsNoticedAndWrittenBack(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s := openAt(t, path)
	if got, err := s.CheckFile(ctx); got != FileOK || err != nil {
		t.Fatalf("check of an intact file = %v, %v", got, err)
	}
	if err := s.PutService(ctx, ServiceState{Name: "web", Release: 3, Count: 2}); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(path + suffix)
	}
	if got, err := s.CheckFile(ctx); got != FileRestored || err != nil {
		t.Fatalf("check after delete = %v, %v; want restored", got, err)
	}
	if err := s.PutService(ctx, ServiceState{Name: "db", Release: 1, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.CheckFile(ctx); got != FileRefreshed || err != nil {
		t.Fatalf("second check = %v, %v; want refreshed", got, err)
	}
	copied := openAt(t, path)
	svcs, err := copied.Services(ctx)
	if err != nil || len(svcs) != 2 {
		t.Fatalf("restored database has %v (%v), want web and db", svcs, err)
	}
}

func TestCheckFile_ReplacedDatabaseIsReported(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s := openAt(t, path)
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("someone else's"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckFile(ctx); !errors.Is(err, ErrFileReplaced) {
		t.Fatalf("err = %v, want ErrFileReplaced", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "someone else's" {
		t.Fatal("a replaced file was overwritten")
	}
}
