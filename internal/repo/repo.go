package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
)

// ShortLen is the length of Commit.Short and of the commits named in plan
// reasons. It is fixed rather than git's growing "auto" abbreviation so an
// image tag made from it never changes as the repository grows; 12 hex
// digits (what the Linux kernel uses) stay unique in practice.
const ShortLen = 12

// Errors callers can test with errors.Is.
var (
	// ErrGitNotFound means no git binary is on PATH.
	ErrGitNotFound = errors.New("git not found")
	// ErrNotRepo means the directory is not inside a git work tree.
	ErrNotRepo = errors.New("not a git repository")
	// ErrNoCommits means the repository has no commit yet.
	ErrNoCommits = errors.New("repository has no commits")
	// ErrUnknownRev means a revision the caller named does not resolve to a
	// commit.
	ErrUnknownRev = errors.New("unknown revision")
	// ErrBadPath means a service path is not a clean path inside the
	// repository.
	ErrBadPath = errors.New("bad path")
)

// Repo is a git work tree berth deploys from.
type Repo struct {
	// Root is the absolute path of the work tree's top level.
	Root string

	calls atomic.Int64 // git invocations, for tests of the batching
}

// Commit identifies the commit a deploy is made from.
type Commit struct {
	SHA    string `json:"sha"`    // full object name
	Short  string `json:"short"`  // first ShortLen hex digits of SHA
	Branch string `json:"branch"` // short branch name; "" when HEAD is detached
}

// Open finds the top level of the git work tree containing dir.
func Open(ctx context.Context, dir string) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", dir, err)
	}
	out, err := runGit(ctx, nil, abs, nil, "rev-parse", "--show-toplevel")
	if err != nil {
		if exitCode(err) > 0 {
			return nil, fmt.Errorf("open repository %s: %w (run berth inside a git work tree, or `git init` and commit first): %v", abs, ErrNotRepo, err)
		}
		return nil, fmt.Errorf("open repository %s: %w", abs, err)
	}
	root := strings.TrimSpace(string(out))
	if root == "" {
		return nil, fmt.Errorf("open repository %s: %w (a bare repository has no work tree to deploy from)", abs, ErrNotRepo)
	}
	return &Repo{Root: filepath.FromSlash(root)}, nil
}

func (r *Repo) git(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	return runGit(ctx, &r.calls, r.Root, stdin, args...)
}

// Head returns the commit checked out in the work tree.
func (r *Repo) Head(ctx context.Context) (Commit, error) {
	out, err := r.git(ctx, nil, "rev-parse", "-q", "--verify", "HEAD^{commit}")
	if err != nil {
		if exitCode(err) == 1 {
			return Commit{}, fmt.Errorf("head of %s: %w (make a first commit)", r.Root, ErrNoCommits)
		}
		return Commit{}, fmt.Errorf("head of %s: %w", r.Root, err)
	}
	sha := strings.TrimSpace(string(out))
	c := Commit{SHA: sha, Short: short(sha)}
	out, err = r.git(ctx, nil, "symbolic-ref", "-q", "HEAD")
	switch {
	case err == nil:
		c.Branch = strings.TrimPrefix(strings.TrimSpace(string(out)), "refs/heads/")
	case exitCode(err) == 1: // detached
	default:
		return Commit{}, fmt.Errorf("branch of %s: %w", r.Root, err)
	}
	return c, nil
}

// Dirty lists the paths (relative to Root, sorted) that differ from HEAD:
// staged or unstaged changes, deletions, both sides of renames, and
// untracked files. Ignored files are not listed, nor is anything in berth's
// own state directories (.berth, at any depth): berth's database, keys, logs
// and socket are never a change to commit. An empty list means the work tree
// is exactly HEAD.
func (r *Repo) Dirty(ctx context.Context) ([]string, error) {
	out, err := r.git(ctx, nil, "status", "--porcelain=v1", "-z", "--untracked-files=all")
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", r.Root, err)
	}
	return parseStatus(out), nil
}

// parseStatus reads `git status --porcelain=v1 -z`: "XY path\0" entries,
// where renames and copies carry the source path in a second field.
func parseStatus(out []byte) []string {
	var paths []string
	fields := bytes.Split(out, []byte{0})
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if len(f) < 4 {
			continue
		}
		x := f[0]
		if p := string(f[3:]); !InStateDir(p) {
			paths = append(paths, p)
		}
		if (x == 'R' || x == 'C') && i+1 < len(fields) {
			i++
			if p := string(fields[i]); !InStateDir(p) {
				paths = append(paths, p)
			}
		}
	}
	sort.Strings(paths)
	return slices.Compact(paths)
}

// object is one answer of `git cat-file --batch-check`; OID is "" when the
// name does not resolve.
type object struct {
	OID  string
	Type string
}

// objects resolves many object names ("rev^{commit}", "rev:path") in one
// git invocation. A name git cannot take on one line resolves to nothing.
func (r *Repo) objects(ctx context.Context, names []string) ([]object, error) {
	res := make([]object, len(names))
	var in bytes.Buffer
	var sent []int // indexes of names sent to git, in order
	for i, n := range names {
		if n == "" || strings.ContainsAny(n, "\n\r\x00") {
			continue
		}
		in.WriteString(n)
		in.WriteByte('\n')
		sent = append(sent, i)
	}
	if len(sent) == 0 {
		return res, nil
	}
	out, err := r.git(ctx, in.Bytes(), "cat-file", "--batch-check=%(objectname) %(objecttype)")
	if err != nil {
		return nil, fmt.Errorf("look up %d objects: %w", len(sent), err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(sent) {
		return nil, fmt.Errorf("look up %d objects: git answered %d lines", len(sent), len(lines))
	}
	for j, line := range lines {
		oid, typ, ok := strings.Cut(line, " ")
		if ok && isHex(oid) && (len(oid) == 40 || len(oid) == 64) && isObjectType(typ) {
			res[sent[j]] = object{OID: oid, Type: typ}
		}
	}
	return res, nil
}

func isObjectType(s string) bool {
	switch s {
	case "commit", "tree", "blob", "tag":
		return true
	}
	return false
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// short abbreviates a full object name to ShortLen; anything else (a name
// the user typed) is returned as is.
func short(rev string) string {
	if len(rev) > ShortLen && isHex(rev) {
		return rev[:ShortLen]
	}
	return rev
}
