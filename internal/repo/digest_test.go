package repo

import (
	"context"
	"errors"
	"testing"
)

func TestInputsDigests(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	svcs := f.services()
	svcs = append(svcs, ServiceInput{Name: "later", Dir: "services/a", BuildInputs: []string{"docker/later.Dockerfile"}})
	r := f.open()
	digests := func(rev string) map[string]string {
		t.Helper()
		calls := r.calls.Load()
		d, err := r.InputsDigests(ctx, rev, svcs)
		if err != nil {
			t.Fatalf("InputsDigests(%s): %v", rev, err)
		}
		if n := r.calls.Load() - calls; n != 1 {
			t.Errorf("InputsDigests ran git %d times, want 1", n)
		}
		if len(d) != len(svcs) {
			t.Fatalf("got %d digests for %d services", len(d), len(svcs))
		}
		return d
	}
	v1 := digests(f.base)
	if v1["a"] == v1["ab"] || len(v1["a"]) != 64 {
		t.Fatalf("digests of different services: a=%q ab=%q; want distinct 64-hex", v1["a"], v1["ab"])
	}

	// A commit touching only README and services/a: only a (and "later",
	// which reads services/a) change.
	f.write("README.md", "shop v2\n", "services/a/main.go", "package main // a v2\n")
	c2 := f.commit("a: v2")
	v2 := digests(c2)
	assertDigests(t, "after a changed", v1, v2, map[string]bool{"a": true, "later": true})

	// A change reverted later gives back the first digest: reuse by content.
	f.write("services/a/main.go", "package main // a\n")
	c3 := f.commit("revert a")
	v3 := digests(c3)
	assertDigests(t, "after the revert", v1, v3, nil)

	// Shared change fans out; a missing input appearing changes its digest.
	f.write("packages/lib/lib.go", "package lib // v2\n", "docker/later.Dockerfile", "FROM scratch\n")
	v4 := digests(f.commit("lib v2, later's Dockerfile"))
	assertDigests(t, "after shared and new input", v3, v4, map[string]bool{"a": true, "ab": true, "c": true, "later": true})

	// Uncommitted edits do not count: digests are of the commit.
	f.write("services/c/main.go", "package main // dirty\n")
	assertDigests(t, "with a dirty tree", v4, digests("HEAD"), nil)

	if _, err := r.InputsDigests(ctx, "no-such-rev", svcs); !errors.Is(err, ErrUnknownRev) {
		t.Errorf("InputsDigests(unknown rev): err = %v, want ErrUnknownRev", err)
	}
}

func assertDigests(t *testing.T, when string, before, after map[string]string, changed map[string]bool) {
	t.Helper()
	for name, b := range before {
		if differ := after[name] != b; differ != changed[name] {
			t.Errorf("%s: digest of %s changed=%v, want %v", when, name, differ, changed[name])
		}
	}
}
