package repo

import (
	"fmt"
	"path"
	"strings"
)

// cleanPath normalises a path relative to the repository top level:
// "packages/" and "./packages" become "packages"; "", "." and "./" become ""
// (the whole repository). Absolute paths and paths leaving the repository
// are rejected.
func cleanPath(p string) (string, error) {
	if strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%w: %q is absolute; write it relative to the repository top level", ErrBadPath, p)
	}
	c := path.Clean(p)
	if c == "." {
		return "", nil
	}
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%w: %q leaves the repository", ErrBadPath, p)
	}
	return c, nil
}

// prefixIndex maps changed paths to the watched paths (directories or
// files, cleaned) that contain them. Matching walks a changed path's
// ancestors ("a/b/c", "a/b", "a", "") through a hash map, so a diff of P
// paths at depth D against any number of watched paths costs O(P·D), never
// P × services. Matches respect segment boundaries: "svc" does not watch
// "svc2/x".
type prefixIndex struct {
	hits map[string][]string // watched path -> changed paths under it, in diff order
}

func newPrefixIndex() *prefixIndex {
	return &prefixIndex{hits: make(map[string][]string)}
}

// watch registers a cleaned path to collect changes for.
func (x *prefixIndex) watch(p string) {
	if _, ok := x.hits[p]; !ok {
		x.hits[p] = nil
	}
}

// add records one changed path against every watched ancestor of it.
func (x *prefixIndex) add(changed string) {
	for cand := changed; ; {
		if hs, ok := x.hits[cand]; ok {
			x.hits[cand] = append(hs, changed)
		}
		if cand == "" {
			return
		}
		i := strings.LastIndexByte(cand, '/')
		if i < 0 {
			cand = ""
		} else {
			cand = cand[:i]
		}
	}
}

// changes returns the changed paths under watched path p.
func (x *prefixIndex) changes(p string) []string {
	return x.hits[p]
}
