package repo

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
)

// Plan actions.
const (
	ActionDeploy = "deploy"
	ActionSkip   = "skip"
)

// PlanInput is what a plan is computed over.
type PlanInput struct {
	// Head is the revision to deploy; "" means HEAD.
	Head string
	// Since, when set, compares every service against this one revision
	// (trees are compared; it need not be an ancestor of Head) instead of
	// the commit each service runs live.
	Since string
	// Services are the services to decide for, in the order decisions are
	// returned.
	Services []ServiceInput
}

// ServiceInput is one service's paths and live commit. Every path is
// relative to the repository top level; a trailing slash is optional, and
// a path names a file or everything under a directory.
type ServiceInput struct {
	Name string
	// Dir is the service's own directory; "" or "." is the whole repository.
	Dir string
	// Shared are paths whose change fans out to this service: the
	// project-wide shared paths plus the service's own (e.g. packages/,
	// pnpm-lock.yaml).
	Shared []string
	// BuildInputs are paths the build reads outside Dir (a Dockerfile kept
	// elsewhere, lockfiles).
	BuildInputs []string
	// LiveCommit is the commit the service runs; "" means not deployed.
	LiveCommit string
}

// Decision says whether one service deploys and why, in words users read.
type Decision struct {
	Service string `json:"service"`
	Action  string `json:"action"` // ActionDeploy | ActionSkip
	// Reason is one of: "no live commit", "live commit <sha> not in
	// history", "service added since <sha>", "own dir changed (<first
	// path>[ …])", "shared path <p> changed", "build input <p> changed",
	// "unchanged since <sha>".
	Reason string `json:"reason"`
	// Base is the full commit the service was compared against, when it
	// resolved.
	Base string `json:"base,omitempty"`
	// Paths are the changed paths (sorted) that made the service deploy.
	Paths []string `json:"paths,omitempty"`
}

// svc is a ServiceInput with cleaned paths and its resolved base.
type svc struct {
	in          ServiceInput
	dir         string
	shared      []string // cleaned, parallel to in.Shared
	buildInputs []string // cleaned, parallel to in.BuildInputs
	base        string   // resolved base commit; "" when none
}

// baseGroup is the work shared by every service compared against one base.
type baseGroup struct {
	sha       string
	inHistory bool
	index     *prefixIndex
}

// Plan decides, for every service, whether it deploys: it does when it has
// no live commit, when its live commit is not an ancestor of Head (unknown,
// or force-pushed away), or when its own directory, one of its shared paths
// or one of its build inputs changed between its base and Head.
//
// The cost in git invocations does not depend on the number of services:
// one to resolve revisions, then per distinct base commit one ancestry
// check (not with Since) and one tree diff, then one lookup of service
// directories at their bases when any own directory changed.
func (r *Repo) Plan(ctx context.Context, in PlanInput) ([]Decision, error) {
	svcs, err := cleanServices(in.Services)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	head := in.Head
	if head == "" {
		head = "HEAD"
	}

	// 1. Resolve Head and every distinct base in one batch.
	revs := []string{head}
	if in.Since != "" {
		revs = append(revs, in.Since)
	} else {
		for _, s := range svcs {
			if s.in.LiveCommit != "" && !slices.Contains(revs[1:], s.in.LiveCommit) {
				revs = append(revs, s.in.LiveCommit)
			}
		}
	}
	names := make([]string, len(revs))
	for i, rev := range revs {
		names[i] = rev + "^{commit}"
	}
	objs, err := r.objects(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("plan: resolve revisions: %w", err)
	}
	headSHA := objs[0].OID
	if headSHA == "" {
		return nil, fmt.Errorf("plan: head %q: %w", head, ErrUnknownRev)
	}
	resolved := make(map[string]string, len(revs))
	for i, rev := range revs[1:] {
		resolved[rev] = objs[i+1].OID
	}
	if in.Since != "" && resolved[in.Since] == "" {
		return nil, fmt.Errorf("plan: since %q: %w (fetch it, or name a commit of this repository)", in.Since, ErrUnknownRev)
	}

	// 2. Group services by base; one ancestry check and one diff per group.
	groups := make(map[string]*baseGroup)
	var order []string
	for i := range svcs {
		s := &svcs[i]
		rev := s.in.LiveCommit
		if in.Since != "" {
			rev = in.Since
		}
		s.base = resolved[rev]
		if s.base == "" {
			continue
		}
		g, ok := groups[s.base]
		if !ok {
			g = &baseGroup{sha: s.base, index: newPrefixIndex()}
			groups[s.base] = g
			order = append(order, s.base)
		}
		g.index.watch(s.dir)
		for _, p := range s.shared {
			g.index.watch(p)
		}
		for _, p := range s.buildInputs {
			g.index.watch(p)
		}
	}
	for _, sha := range order {
		g := groups[sha]
		if sha == headSHA {
			g.inHistory = true
			continue
		}
		if in.Since != "" {
			g.inHistory = true
		} else {
			g.inHistory, err = r.isAncestor(ctx, sha, headSHA)
			if err != nil {
				return nil, fmt.Errorf("plan: %w", err)
			}
			if !g.inHistory {
				continue
			}
		}
		changed, err := r.changedPaths(ctx, sha, headSHA)
		if err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
		for _, p := range changed {
			g.index.add(p)
		}
	}

	// 3. Decide; note services whose own dir changed, to tell "added" apart.
	out := make([]Decision, len(svcs))
	var ownChanged []int
	for i := range svcs {
		out[i] = decide(&svcs[i], in.Since, groups)
		if out[i].Reason == reasonOwnDir && svcs[i].dir != "" {
			ownChanged = append(ownChanged, i)
		}
	}
	if len(ownChanged) > 0 {
		names := make([]string, len(ownChanged))
		for j, i := range ownChanged {
			names[j] = svcs[i].base + ":" + svcs[i].dir
		}
		objs, err := r.objects(ctx, names)
		if err != nil {
			return nil, fmt.Errorf("plan: look up service directories: %w", err)
		}
		for j, i := range ownChanged {
			if objs[j].Type != "tree" {
				out[i].Reason = "service added since " + short(svcs[i].base)
			}
		}
	}
	for i := range out {
		if out[i].Reason == reasonOwnDir {
			own := groups[svcs[i].base].index.changes(svcs[i].dir)
			out[i].Reason = ownDirReason(own)
		}
	}
	return out, nil
}

// reasonOwnDir marks a decision whose reason is filled in once it is known
// whether the directory existed at the base.
const reasonOwnDir = "\x00own"

// decide makes one service's decision from its group's diff.
func decide(s *svc, since string, groups map[string]*baseGroup) Decision {
	d := Decision{Service: s.in.Name, Action: ActionDeploy, Base: s.base}
	switch {
	case since == "" && s.in.LiveCommit == "":
		d.Reason = "no live commit"
		return d
	case s.base == "":
		d.Reason = "live commit " + short(s.in.LiveCommit) + " not in history"
		return d
	}
	g := groups[s.base]
	if !g.inHistory {
		d.Reason = "live commit " + short(s.in.LiveCommit) + " not in history"
		return d
	}
	own := g.index.changes(s.dir)
	var sharedDecl, buildDecl string
	var sources [][]string
	if len(own) > 0 {
		sources = append(sources, own)
	}
	for i, p := range s.shared {
		if hs := g.index.changes(p); len(hs) > 0 {
			if sharedDecl == "" {
				sharedDecl = s.in.Shared[i]
			}
			sources = append(sources, hs)
		}
	}
	for i, p := range s.buildInputs {
		if hs := g.index.changes(p); len(hs) > 0 {
			if buildDecl == "" {
				buildDecl = s.in.BuildInputs[i]
			}
			sources = append(sources, hs)
		}
	}
	switch {
	case len(own) > 0:
		d.Reason = reasonOwnDir
	case sharedDecl != "":
		d.Reason = "shared path " + sharedDecl + " changed"
	case buildDecl != "":
		d.Reason = "build input " + buildDecl + " changed"
	default:
		d.Action = ActionSkip
		d.Reason = "unchanged since " + short(s.base)
		return d
	}
	d.Paths = mergePaths(sources)
	return d
}

// ownDirReason words an own-directory change by its first changed path.
func ownDirReason(own []string) string {
	if len(own) == 1 {
		return "own dir changed (" + own[0] + ")"
	}
	return "own dir changed (" + own[0] + " …)"
}

// mergePaths unions sorted path lists; a single list is returned as is.
func mergePaths(sources [][]string) []string {
	if len(sources) == 1 {
		return sources[0]
	}
	var n int
	for _, s := range sources {
		n += len(s)
	}
	all := make([]string, 0, n)
	for _, s := range sources {
		all = append(all, s...)
	}
	sort.Strings(all)
	return slices.Compact(all)
}

// cleanServices validates names and cleans every path.
func cleanServices(in []ServiceInput) ([]svc, error) {
	out := make([]svc, len(in))
	seen := make(map[string]bool, len(in))
	for i, s := range in {
		if s.Name == "" {
			return nil, fmt.Errorf("service %d has no name", i)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("service %s is listed twice", s.Name)
		}
		seen[s.Name] = true
		dir, err := cleanPath(s.Dir)
		if err != nil {
			return nil, fmt.Errorf("service %s: dir: %w", s.Name, err)
		}
		out[i] = svc{in: s, dir: dir}
		if out[i].shared, err = cleanPaths(s.Shared); err != nil {
			return nil, fmt.Errorf("service %s: shared: %w", s.Name, err)
		}
		if out[i].buildInputs, err = cleanPaths(s.BuildInputs); err != nil {
			return nil, fmt.Errorf("service %s: build input: %w", s.Name, err)
		}
	}
	return out, nil
}

func cleanPaths(ps []string) ([]string, error) {
	out := make([]string, len(ps))
	for i, p := range ps {
		c, err := cleanPath(p)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// isAncestor reports whether commit a is an ancestor of (or equal to) b.
func (r *Repo) isAncestor(ctx context.Context, a, b string) (bool, error) {
	_, err := r.git(ctx, nil, "merge-base", "--is-ancestor", a, b)
	switch {
	case err == nil:
		return true, nil
	case exitCode(err) == 1:
		return false, nil
	default:
		return false, fmt.Errorf("is %s an ancestor of %s: %w", short(a), short(b), err)
	}
}

// changedPaths lists the paths that differ between the trees of two
// commits, sorted. A rename shows as its deletion and its addition, so both
// sides count as changed. It uses the plumbing diff-tree rather than `git
// diff` so user configuration (diff.relative, external diff drivers) cannot
// change the answer.
func (r *Repo) changedPaths(ctx context.Context, from, to string) ([]string, error) {
	out, err := r.git(ctx, nil, "diff-tree", "-r", "-z", "--name-only", "--no-renames", "--no-commit-id", from, to)
	if err != nil {
		return nil, fmt.Errorf("diff %s..%s: %w", short(from), short(to), err)
	}
	raw := bytes.Split(bytes.TrimSuffix(out, []byte{0}), []byte{0})
	paths := make([]string, 0, len(raw))
	for _, p := range raw {
		if len(p) > 0 {
			paths = append(paths, string(p))
		}
	}
	if !sort.StringsAreSorted(paths) {
		sort.Strings(paths)
	}
	return paths, nil
}

// FileAt returns the content of the file at path (relative to the top
// level, slash-separated) in commit rev; ok is false when rev has no such
// file. Change detection reads the spec as it was at a base commit with it.
func (r *Repo) FileAt(ctx context.Context, rev, path string) (data []byte, ok bool, err error) {
	p, err := cleanPath(path)
	if err != nil {
		return nil, false, fmt.Errorf("file %s at %s: %w", path, short(rev), err)
	}
	objs, err := r.objects(ctx, []string{rev + ":" + p})
	if err != nil {
		return nil, false, fmt.Errorf("file %s at %s: %w", p, short(rev), err)
	}
	if objs[0].Type != "blob" {
		return nil, false, nil
	}
	out, err := r.git(ctx, nil, "cat-file", "blob", objs[0].OID)
	if err != nil {
		return nil, false, fmt.Errorf("file %s at %s: %w", p, short(rev), err)
	}
	return out, true, nil
}
