package repo

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gitRepo is a real git repository in a temp dir, driven by the git binary.
type gitRepo struct {
	t    *testing.T
	dir  string
	tick int // commit dates advance one minute per commit, deterministically
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	g := &gitRepo{t: t, dir: t.TempDir()}
	g.git("init", "-q", "-b", "main")
	return g
}

// git runs a git command in the repository and returns its trimmed output.
func (g *gitRepo) git(args ...string) string {
	g.t.Helper()
	date := time.Date(2024, 1, 1, 0, g.tick, 0, 0, time.UTC).Format(time.RFC3339)
	cmd := exec.Command("git", append([]string{"-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null"}, args...)...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Berth Test", "GIT_AUTHOR_EMAIL=test@berth.invalid",
		"GIT_COMMITTER_NAME=Berth Test", "GIT_COMMITTER_EMAIL=test@berth.invalid",
		"GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// write creates or overwrites files: path, content, path, content, ...
func (g *gitRepo) write(pathContent ...string) {
	g.t.Helper()
	for i := 0; i+1 < len(pathContent); i += 2 {
		p := filepath.Join(g.dir, filepath.FromSlash(pathContent[i]))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(pathContent[i+1]), 0o644); err != nil {
			g.t.Fatal(err)
		}
	}
}

// commit stages everything and commits, returning the new commit's SHA.
func (g *gitRepo) commit(msg string) string {
	g.t.Helper()
	g.tick++
	g.git("add", "-A")
	g.git("commit", "-q", "--allow-empty", "-m", msg)
	return g.git("rev-parse", "HEAD")
}

// open opens the repository through the package under test.
func (g *gitRepo) open() *Repo {
	g.t.Helper()
	r, err := Open(context.Background(), g.dir)
	if err != nil {
		g.t.Fatalf("Open: %v", err)
	}
	return r
}

// fixture is a small monorepo: three services, a shared package, a
// lockfile two services build with and a Dockerfile kept outside the third.
type fixture struct {
	*gitRepo
	base string // the commit every service runs
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	g := newGitRepo(t)
	g.write(
		"services/a/Dockerfile", "FROM scratch\n",
		"services/a/main.go", "package main // a\n",
		"services/a/util.go", "package main // util\n",
		"services/ab/Dockerfile", "FROM scratch\n",
		"services/ab/main.go", "package main // ab\n",
		"services/c/main.go", "package main // c\n",
		"packages/lib/lib.go", "package lib\n",
		"pnpm-lock.yaml", "lockfileVersion: 9\n",
		"docker/c.Dockerfile", "FROM scratch\n",
		"README.md", "shop\n",
	)
	return &fixture{gitRepo: g, base: g.commit("initial")}
}

// services returns the fixture's services, all live at f.base.
func (f *fixture) services() []ServiceInput {
	return []ServiceInput{
		{Name: "a", Dir: "services/a", Shared: []string{"packages/"}, BuildInputs: []string{"pnpm-lock.yaml"}, LiveCommit: f.base},
		{Name: "ab", Dir: "services/ab/", Shared: []string{"packages/"}, BuildInputs: []string{"pnpm-lock.yaml"}, LiveCommit: f.base},
		{Name: "c", Dir: "./services/c", Shared: []string{"packages/"}, BuildInputs: []string{"docker/c.Dockerfile"}, LiveCommit: f.base},
	}
}

func sh(sha string) string { return sha[:ShortLen] }

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("svc-%04d", i)
	}
	return out
}
