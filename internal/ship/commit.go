package ship

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/berth-dev/berth/internal/repo"
)

// Commit is the spec's repository HEAD (short SHA), with "-dirty" when the
// work tree has changes and allowDirty is set, or "none" outside git. A
// dirty tree without allowDirty is an InputError naming the changes.
func Commit(ctx context.Context, root string, allowDirty bool) (string, error) {
	r, err := repo.Open(ctx, root)
	if err != nil {
		if errors.Is(err, repo.ErrNotRepo) || errors.Is(err, repo.ErrNoCommits) || errors.Is(err, repo.ErrGitNotFound) {
			return "none", nil
		}
		return "", err
	}
	head, err := r.Head(ctx)
	if err != nil {
		if errors.Is(err, repo.ErrNoCommits) {
			return "none", nil
		}
		return "", err
	}
	dirty, err := r.Dirty(ctx)
	if err != nil {
		return "", err
	}
	if len(dirty) > 0 {
		if !allowDirty {
			return "", inputErr("the working tree has uncommitted changes (%s%s): commit them, or pass --allow-dirty (the release would not match commit %s)",
				strings.Join(first(dirty, 3), ", "), more(dirty, 3), head.Short)
		}
		return head.Short + "-dirty", nil
	}
	return head.Short, nil
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func more(s []string, n int) string {
	if len(s) > n {
		return fmt.Sprintf(" and %d more", len(s)-n)
	}
	return ""
}
