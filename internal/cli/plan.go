package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/repo"
	"github.com/berth-dev/berth/internal/spec"
)

func init() { extraCommands = append(extraCommands, newPlanCommand) }

type planCommand struct {
	cmd     *cobra.Command
	g       *globals
	changed bool
	since   string
	output  string
}

func newPlanCommand(g *globals) *cobra.Command {
	c := &planCommand{g: g}
	c.cmd = &cobra.Command{
		Use:   "plan [SERVICE...]",
		Short: "Show which services a deploy of the current commit would roll out, and why",
		Long: `plan compares the current commit with the commit each service runs live (as
the control plane reports it) and prints, per service, DEPLOY or skip with the
reason: its own directory, a shared path or a build input changed, it has no
live commit, or its live commit is not in this branch's history. This is the
plan ` + "`berth deploy --changed`" + ` carries out.

With --since REV every service is compared against that one revision instead,
and no control plane is needed (what CI wants for a pull request).`,
		RunE: func(cmd *cobra.Command, args []string) error { return c.run(cmd.Context(), args) },
	}
	f := c.cmd.Flags()
	f.BoolVar(&c.changed, "changed", false, "plan against the live commits (what plan always does without --since; accepted for symmetry with deploy --changed)")
	f.StringVar(&c.since, "since", "", "compare every service against this revision instead of its live commit")
	outputFlag(c.cmd, &c.output)
	return c.cmd
}

// planRow is one line of `berth plan -o json`.
type planRow struct {
	Service string `json:"service"`
	Action  string `json:"action"`
	Reason  string `json:"reason"`
}

func (c *planCommand) run(ctx context.Context, names []string) error {
	if err := checkOutput(c.output); err != nil {
		return err
	}
	sp, err := c.g.loadSpec()
	if err != nil {
		return err
	}
	svcs, err := selectServices(sp, names)
	if err != nil {
		return err
	}
	var live map[string]string
	if c.since == "" {
		e := c.g.engine()
		warnTo := c.g.stdout
		if c.output == "json" {
			warnTo = c.g.stderr
		}
		printWarnings(warnTo, e)
		st, err := e.Status(ctx)
		if err != nil {
			if isUnreachable(err) {
				return &exitError{code: exitUnreach, err: fmt.Errorf("%v\n  plan needs the live commits: start a control plane (`berth serve`), set BERTH_API, or pass --since REV", err)}
			}
			return err
		}
		live = liveCommits(st)
	}
	decisions, _, err := planServices(ctx, sp, svcs, live, c.since)
	if err != nil {
		return err
	}
	if c.output == "json" {
		rows := make([]planRow, len(decisions))
		for i, d := range decisions {
			rows[i] = planRow{Service: d.Service, Action: d.Action, Reason: d.Reason}
		}
		return writeJSONTo(c.g.stdout, rows)
	}
	printPlan(c.g.stdout, decisions)
	return nil
}

// liveCommits maps each deployed service to the commit its live release
// was made from, without a "-dirty" mark; services with no live release
// are left out (they have no live commit).
func liveCommits(st api.Status) map[string]string {
	out := make(map[string]string, len(st.Services))
	for _, s := range st.Services {
		if s.Release == 0 || s.Commit == "" || s.Commit == "none" {
			continue
		}
		out[s.Name] = strings.TrimSuffix(s.Commit, "-dirty")
	}
	return out
}

// planServices decides which of svcs deploy: against since when set, else
// against each one's live commit (none means deploy). It returns the
// decisions in the order of svcs and the repository they were made in.
func planServices(ctx context.Context, sp *spec.Spec, svcs []*spec.Service, live map[string]string, since string) ([]repo.Decision, *repo.Repo, error) {
	r, err := repo.Open(ctx, sp.Root)
	if err != nil {
		if errors.Is(err, repo.ErrNotRepo) || errors.Is(err, repo.ErrGitNotFound) {
			return nil, nil, usageErr("change detection needs git: %v", err)
		}
		return nil, nil, fmt.Errorf("plan: %w", err)
	}
	inputs, err := serviceInputs(r, sp, svcs, live)
	if err != nil {
		return nil, nil, err
	}
	ds, err := r.Plan(ctx, repo.PlanInput{Since: since, Services: inputs})
	if err != nil {
		switch {
		case errors.Is(err, repo.ErrUnknownRev):
			return nil, nil, usageErr("%v", err)
		case errors.Is(err, repo.ErrNoCommits):
			return nil, nil, usageErr("%v: commit first", err)
		}
		return nil, nil, err
	}
	return ds, r, nil
}

// serviceInputs describes the services' paths to the repository, relative
// to its top level (the spec may sit in a subdirectory of it).
func serviceInputs(r *repo.Repo, sp *spec.Spec, svcs []*spec.Service, live map[string]string) ([]repo.ServiceInput, error) {
	prefix, err := specPrefix(r.Root, sp.Root)
	if err != nil {
		return nil, err
	}
	at := func(p string) string { return path.Join(prefix, filepath.ToSlash(p)) }
	out := make([]repo.ServiceInput, 0, len(svcs))
	for _, s := range svcs {
		in := repo.ServiceInput{Name: s.Name, Dir: at(s.Dir), LiveCommit: live[s.Name]}
		for _, p := range sp.Shared {
			in.Shared = append(in.Shared, at(p))
		}
		for _, p := range s.Shared {
			in.Shared = append(in.Shared, at(p))
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

// printPlan prints the decisions as a DEPLOY/skip table and a summary.
func printPlan(w io.Writer, ds []repo.Decision) {
	tw := newTable(w)
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
