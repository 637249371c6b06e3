package secrets

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/store"
)

var _ Backend = (*store.Store)(nil)

// TestStore_SQLiteBackend runs the provider over the real store in a
// SQLite file, reopened, to prove the Backend contract holds.
func TestStore_SQLiteBackend(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "berth.db")
	key := testKey(t)
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s := New(db, key)
	mustSet(t, s, "prod/DB_PASSWORD", "pw-1")
	mustSet(t, s, "prod/DB_PASSWORD", "pw-2")
	if _, _, err := s.Get(ctx, "prod/MISSING", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get missing = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "prod/DB_PASSWORD"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(ctx, "prod/DB_PASSWORD", 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get deleted v1 = %v, want ErrNotFound", err)
	}
	if v := mustSet(t, s, "prod/DB_PASSWORD", "pw-3"); v != 3 {
		t.Fatalf("Set after delete = v%d, want 3", v)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s = New(db, key)
	values, versions, err := s.Resolve(ctx, "prod", map[string]string{"DB_PASSWORD": "DB_PASSWORD"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if values["DB_PASSWORD"] != "pw-3" || versions["prod/DB_PASSWORD"] != 3 {
		t.Fatalf("Resolve after reopen = %v %v", values, versions)
	}
	infos, err := s.List(ctx)
	if err != nil || len(infos) != 1 || infos[0].Version != 3 {
		t.Fatalf("List = %+v, %v", infos, err)
	}
	if err := s.Delete(ctx, "prod/NOPE"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete missing = %v, want ErrNotFound", err)
	}
}

// TestStore_TwoWritersOnOneFile: the CLI and the daemon each open the
// state file; values they set at the same time each decrypt as the version
// they were stored under.
func TestStore_TwoWritersOnOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "berth.db")
	key := testKey(t)
	var writers []*Store
	for i := 0; i < 2; i++ {
		db, err := store.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		writers = append(writers, New(db, key))
	}
	const each = 10
	errs := make(chan error, 2*each)
	for w, s := range writers {
		go func() {
			for i := 0; i < each; i++ {
				_, err := s.Set(ctx, "prod/TOKEN", []byte(fmt.Sprintf("w%d-%d", w, i)))
				errs <- err
			}
		}()
	}
	for i := 0; i < 2*each; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("Set: %v", err)
		}
	}
	for v := 1; v <= 2*each; v++ {
		if _, got, err := writers[0].Get(ctx, "prod/TOKEN", v); err != nil || got != v {
			t.Fatalf("Get v%d = %d, %v", v, got, err)
		}
	}
}
