package repo

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestDirtyLeavesOutBerthState: after a first `berth up` the state
// directory (database, key, log, socket) beside the spec, at the root or
// deeper, must not make the work tree dirty.
func TestDirtyLeavesOutBerthState(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	r := f.open()
	f.write(
		".berth/state.db", "db",
		".berth/berth.log", "log",
		"deploy/.berth/master.key", "key",
		"services/a/new.go", "package main\n",
	)
	got, err := r.Dirty(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"services/a/new.go"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Dirty = %q, want %q", got, want)
	}
}

func TestIgnoreState(t *testing.T) {
	for _, tt := range []struct {
		name, before, after string
		changed             bool
	}{
		{name: "no file", before: "\x00", after: "# berth's local state: database, keys, logs, socket (never commit it)\n.berth/\n", changed: true},
		{name: "appends after a line without newline", before: "*.log", after: "*.log\n# berth's local state: database, keys, logs, socket (never commit it)\n.berth/\n", changed: true},
		{name: "already ignored", before: "bin/\n.berth/\n", after: "bin/\n.berth/\n"},
		{name: "anchored form", before: "/.berth\n", after: "/.berth\n"},
		{name: "a longer name is not it", before: ".berthx/\n", after: ".berthx/\n# berth's local state: database, keys, logs, socket (never commit it)\n.berth/\n", changed: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, ".gitignore")
			if tt.before != "\x00" {
				if err := os.WriteFile(path, []byte(tt.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			changed, err := IgnoreState(dir)
			if err != nil || changed != tt.changed {
				t.Fatalf("IgnoreState = %v, %v; want %v", changed, err, tt.changed)
			}
			b, _ := os.ReadFile(path)
			if string(b) != tt.after {
				t.Errorf(".gitignore = %q, want %q", b, tt.after)
			}
			if changed, err := IgnoreState(dir); err != nil || changed {
				t.Errorf("second IgnoreState = %v, %v; want no change", changed, err)
			}
		})
	}
}

// TestIgnoreStateMakesGitIgnoreIt checks the line against git itself.
func TestIgnoreStateMakesGitIgnoreIt(t *testing.T) {
	f := newFixture(t)
	if _, err := IgnoreState(f.dir); err != nil {
		t.Fatal(err)
	}
	f.write(".berth/state.db", "db", "deploy/.berth/key", "k")
	out := f.git("status", "--porcelain", "--untracked-files=all")
	if out != "?? .gitignore" {
		t.Errorf("git status = %q, want only the new .gitignore", out)
	}
}

// TestIgnoreStateLeavesARepositoryThatIgnoresIt: a spec in a subdirectory
// of a repository whose own .gitignore has .berth/ gets no .gitignore of
// its own, so `berth up` in a fresh clone leaves the tree clean.
func TestIgnoreStateLeavesARepositoryThatIgnoresIt(t *testing.T) {
	f := newFixture(t)
	f.write(".gitignore", ".berth/\n", "examples/shop/berth.yaml", "project: shop\n")
	f.commit("base")
	sub := filepath.Join(f.dir, "examples", "shop")
	changed, err := IgnoreState(sub)
	if err != nil || changed {
		t.Fatalf("IgnoreState = %v, %v; want no change", changed, err)
	}
	if _, err := os.Stat(filepath.Join(sub, ".gitignore")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a .gitignore was written beside the spec (stat: %v)", err)
	}
	if out := f.git("status", "--porcelain", "--untracked-files=all"); out != "" {
		t.Errorf("git status = %q, want a clean tree", out)
	}
}
