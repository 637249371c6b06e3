package ship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/repo"
	"github.com/berth-dev/berth/internal/spec"
)

// Select returns the named services (all, in dependency order, when none
// are named), with a did-you-mean for unknown names.
func Select(sp *spec.Spec, names []string) ([]*spec.Service, error) {
	if len(names) == 0 {
		names = sp.Order
	}
	var out []*spec.Service
	seen := map[string]bool{}
	for _, n := range names {
		s, ok := sp.Services[n]
		if !ok {
			return nil, inputErr("no service %q in %s%s", n, sp.Path, didYouMean(n, sp.Order))
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, s)
		}
	}
	return out, nil
}

func didYouMean(n string, names []string) string {
	if hint := spec.Suggest(n, names); hint != "" {
		return " (" + hint + ")"
	}
	return fmt.Sprintf(" (services: %s)", strings.Join(names, ", "))
}

// LiveCommits maps each deployed service to the commit it runs live,
// without a "-dirty" mark; services with no live release are left out
// (they have no live commit).
func LiveCommits(st api.Status) map[string]string {
	out := make(map[string]string, len(st.Services))
	for _, s := range st.Services {
		if s.Release == 0 || s.Commit == "" || s.Commit == "none" {
			continue
		}
		out[s.Name] = strings.TrimSuffix(s.Commit, "-dirty")
	}
	return out
}

// PlanRequest is what a plan is computed over.
type PlanRequest struct {
	Spec     *spec.Spec
	Services []*spec.Service
	// Env is the environment the spec was resolved for ("" for none): the
	// spec at a base commit is resolved for the same one.
	Env string
	// Live maps services to their live commits (see LiveCommits); ignored
	// when Since is set.
	Live map[string]string
	// Since compares every service against this revision instead.
	Since string
}

// Plan decides which services deploy: against Since when set, else against
// each one's live commit (none means deploy). A service deploys when its
// own directory, a shared path or a build input changed, or when its
// resolved spec differs from the spec at its base ("spec changed:
// env.LOG_LEVEL"). Decisions come in the order of the services.
func Plan(ctx context.Context, req PlanRequest) ([]repo.Decision, error) {
	sp := req.Spec
	r, err := repo.Open(ctx, sp.Root)
	if err != nil {
		if errors.Is(err, repo.ErrNotRepo) || errors.Is(err, repo.ErrGitNotFound) {
			return nil, inputErr("change detection needs git: %v", err)
		}
		return nil, fmt.Errorf("plan: %w", err)
	}
	inputs, err := serviceInputs(r, sp, req.Services, req.Live)
	if err != nil {
		return nil, err
	}
	ds, err := r.Plan(ctx, repo.PlanInput{Since: req.Since, Services: inputs})
	if err != nil {
		switch {
		case errors.Is(err, repo.ErrUnknownRev):
			return nil, inputErr("%v", err)
		case errors.Is(err, repo.ErrNoCommits):
			return nil, inputErr("%v: commit first", err)
		}
		return nil, err
	}
	if err := specChanges(ctx, r, req, ds); err != nil {
		return nil, err
	}
	return ds, nil
}

// serviceInputs describes the services' paths to the repository, relative
// to its top level (the spec may sit in a subdirectory of it). A shared
// path may lie above the spec's directory, but not outside the repository.
func serviceInputs(r *repo.Repo, sp *spec.Spec, svcs []*spec.Service, live map[string]string) ([]repo.ServiceInput, error) {
	prefix, err := specPrefix(r.Root, sp.Root)
	if err != nil {
		return nil, err
	}
	at := func(p string) string { return path.Join(prefix, filepath.ToSlash(p)) }
	shared := func(key, p string) (string, error) {
		full := at(p)
		if full == ".." || strings.HasPrefix(full, "../") {
			return "", inputErr("%s: path %q leaves the git repository %s: shared paths may lie above the spec's directory, but inside the repository", key, p, r.Root)
		}
		return full, nil
	}
	out := make([]repo.ServiceInput, 0, len(svcs))
	for _, s := range svcs {
		in := repo.ServiceInput{Name: s.Name, Dir: at(s.Dir), LiveCommit: live[s.Name]}
		for _, p := range sp.Shared {
			full, err := shared("shared", p)
			if err != nil {
				return nil, err
			}
			in.Shared = append(in.Shared, full)
		}
		for _, p := range s.Shared {
			full, err := shared("services."+s.Name+".shared", p)
			if err != nil {
				return nil, err
			}
			in.Shared = append(in.Shared, full)
		}
		if b := s.Build; b.Docker() {
			ctxDir := at(b.Context)
			if !within(ctxDir, in.Dir) {
				in.BuildInputs = append(in.BuildInputs, ctxDir)
			}
			if df := path.Join(ctxDir, filepath.ToSlash(b.Dockerfile)); !within(df, in.Dir) && !within(df, ctxDir) {
				in.BuildInputs = append(in.BuildInputs, df)
			}
		}
		out = append(out, in)
	}
	return out, nil
}

// within reports whether p is dir or lies under it.
func within(p, dir string) bool {
	return dir == "." || p == dir || strings.HasPrefix(p, dir+"/")
}

// specPrefix is the spec directory's path relative to the repository top
// level ("." when they are the same), in slash form.
func specPrefix(top, specRoot string) (string, error) {
	if real, err := filepath.EvalSymlinks(specRoot); err == nil {
		specRoot = real
	}
	if real, err := filepath.EvalSymlinks(top); err == nil {
		top = real
	}
	rel, err := filepath.Rel(top, specRoot)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(os.PathSeparator)) {
		return "", fmt.Errorf("spec directory %s is outside the repository %s", specRoot, top)
	}
	return filepath.ToSlash(rel), nil
}

// WritePlan prints decisions as a DEPLOY/skip table and a summary.
func WritePlan(w io.Writer, ds []repo.Decision) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tACTION\tREASON")
	n := 0
	for _, d := range ds {
		action := "skip"
		if d.Action == repo.ActionDeploy {
			action = "DEPLOY"
			n++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", d.Service, action, d.Reason)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d to deploy, %d unchanged\n", n, len(ds)-n)
}
