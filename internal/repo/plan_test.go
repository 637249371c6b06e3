package repo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// expect is the part of a Decision a scenario pins down.
type expect struct {
	Action string
	Reason string
	Paths  []string
}

func deploy(reason string, paths ...string) expect {
	return expect{Action: ActionDeploy, Reason: reason, Paths: paths}
}

func skip(reason string) expect { return expect{Action: ActionSkip, Reason: reason} }

func TestPlan_Scenarios(t *testing.T) {
	tests := []struct {
		name string
		// change mutates the fixture after its base commit; it may return
		// services to plan (nil: the fixture's) and a Since revision.
		change func(f *fixture) (svcs []ServiceInput, since string)
		want   func(f *fixture) map[string]expect
	}{
		{
			name: "OwnDir_OnlyThatServiceDeploys",
			change: func(f *fixture) ([]ServiceInput, string) {
				f.write("services/a/main.go", "package main // a v2\n")
				f.commit("a: v2")
				return nil, ""
			},
			want: func(f *fixture) map[string]expect {
				return map[string]expect{
					"a":  deploy("own dir changed (services/a/main.go)", "services/a/main.go"),
					"ab": skip("unchanged since " + sh(f.base)), // services/a is not a prefix of services/ab
					"c":  skip("unchanged since " + sh(f.base)),
				}
			},
		},
		{
			name: "OwnDir_ManyPathsNamesTheFirst",
			change: func(f *fixture) ([]ServiceInput, string) {
				f.write("services/c/main.go", "package main // c v2\n", "services/c/new.go", "package main\n")
				f.commit("c: v2")
				return nil, ""
			},
			want: func(f *fixture) map[string]expect {
				return map[string]expect{
					"a":  skip("unchanged since " + sh(f.base)),
					"ab": skip("unchanged since " + sh(f.base)),
					"c":  deploy("own dir changed (services/c/main.go …)", "services/c/main.go", "services/c/new.go"),
				}
			},
		},
		{
			name: "SharedPackage_FansOut",
			change: func(f *fixture) ([]ServiceInput, string) {
				f.write("packages/lib/lib.go", "package lib // v2\n")
				f.commit("lib: v2")
				return nil, ""
			},
			want: func(f *fixture) map[string]expect {
				return map[string]expect{
					"a":  deploy("shared path packages/ changed", "packages/lib/lib.go"),
					"ab": deploy("shared path packages/ changed", "packages/lib/lib.go"),
					"c":  deploy("shared path packages/ changed", "packages/lib/lib.go"),
				}
			},
		},
		{
			name: "Lockfile_FansOutToItsBuilders",
			change: func(f *fixture) ([]ServiceInput, string) {
				f.write("pnpm-lock.yaml", "lockfileVersion: 9\n# bump\n")
				f.commit("bump lockfile")
				return nil, ""
			},
			want: func(f *fixture) map[string]expect {
				return map[string]expect{
					"a":  deploy("build input pnpm-lock.yaml changed", "pnpm-lock.yaml"),
					"ab": deploy("build input pnpm-lock.yaml changed", "pnpm-lock.yaml"),
					"c":  skip("unchanged since " + sh(f.base)),
				}
			},
		},
		{
			name: "Dockerfile_OutsideDir_IsBuildInput",
			change: func(f *fixture) ([]ServiceInput, string) {
				f.write("docker/c.Dockerfile", "FROM scratch\nCOPY . /\n", "README.md", "shop v2\n")
				f.commit("c: dockerfile")
				return nil, ""
			},
			want: func(f *fixture) map[string]expect {
				return map[string]expect{
					"a":  skip("unchanged since " + sh(f.base)),
					"ab": skip("unchanged since " + sh(f.base)),
					"c":  deploy("build input docker/c.Dockerfile changed", "docker/c.Dockerfile"),
				}
			},
		},
		{
			name: "OwnDirAndShared_OwnDirWinsPathsUnion",
			change: func(f *fixture) ([]ServiceInput, string) {
				f.write("services/a/main.go", "package main // a v2\n", "packages/lib/lib.go", "package lib // v2\n")
				f.commit("a and lib")
				return nil, ""
			},
			want: func(f *fixture) map[string]expect {
				return map[string]expect{
					"a":  deploy("own dir changed (services/a/main.go)", "packages/lib/lib.go", "services/a/main.go"),
					"ab": deploy("shared path packages/ changed", "packages/lib/lib.go"),
					"c":  deploy("shared path packages/ changed", "packages/lib/lib.go"),
				}
			},
		},
		{
			name: "RenameAcrossServices_BothDeploy",
			change: func(f *fixture) ([]ServiceInput, string) {
				f.git("mv", "services/a/util.go", "services/c/util.go")
				f.commit("move util from a to c")
				return nil, ""
			},
			want: func(f *fixture) map[string]expect {
				return map[string]expect{
					"a":  deploy("own dir changed (services/a/util.go)", "services/a/util.go"),
					"ab": skip("unchanged since " + sh(f.base)),
					"c":  deploy("own dir changed (services/c/util.go)", "services/c/util.go"),
				}
			},
		},
		{
			name: "ServiceAdded_DeploysAsAdded",
			change: func(f *fixture) ([]ServiceInput, string) {
				f.write("services/d/main.go", "package main // d\n", "services/d/Dockerfile", "FROM scratch\n")
				f.commit("add d")
				svcs := append(f.services(), ServiceInput{Name: "d", Dir: "services/d", Shared: []string{"packages/"}})
				return svcs, f.base
			},
			want: func(f *fixture) map[string]expect {
				return map[string]expect{
					"a":  skip("unchanged since " + sh(f.base)),
					"ab": skip("unchanged since " + sh(f.base)),
					"c":  skip("unchanged since " + sh(f.base)),
					"d":  deploy("service added since "+sh(f.base), "services/d/Dockerfile", "services/d/main.go"),
				}
			},
		},
		{
			name: "NoLiveCommit_Deploys",
			change: func(f *fixture) ([]ServiceInput, string) {
				svcs := f.services()
				svcs[1].LiveCommit = ""
				return svcs, ""
			},
			want: func(f *fixture) map[string]expect {
				return map[string]expect{
					"a":  skip("unchanged since " + sh(f.base)),
					"ab": deploy("no live commit"),
					"c":  skip("unchanged since " + sh(f.base)),
				}
			},
		},
		{
			name: "LiveCommitForcePushedAwayOrUnknown_Deploys",
			change: func(f *fixture) ([]ServiceInput, string) {
				f.write("services/a/main.go", "package main // lost\n")
				lost := f.commit("a: lost in a force-push")
				f.git("reset", "-q", "--hard", f.base)
				f.write("services/c/main.go", "package main // c v2\n")
				f.commit("c: v2")
				svcs := f.services()
				svcs[0].LiveCommit = lost
				svcs[1].LiveCommit = "0123456789abcdef0123456789abcdef01234567"
				return svcs, ""
			},
			want: func(f *fixture) map[string]expect {
				return map[string]expect{
					"a":  deploy("live commit " + sh(f.git("rev-parse", "HEAD@{2}")) + " not in history"),
					"ab": deploy("live commit 0123456789ab not in history"),
					"c":  deploy("own dir changed (services/c/main.go)", "services/c/main.go"),
				}
			},
		},
		{
			name: "Since_OverridesLiveCommits",
			change: func(f *fixture) ([]ServiceInput, string) {
				f.write("services/a/main.go", "package main // a v2\n")
				mid := f.commit("a: v2")
				f.write("services/c/main.go", "package main // c v2\n")
				f.commit("c: v2")
				svcs := f.services()
				for i := range svcs {
					svcs[i].LiveCommit = "" // ignored with Since
				}
				return svcs, mid
			},
			want: func(f *fixture) map[string]expect {
				mid := f.git("rev-parse", "HEAD~1")
				return map[string]expect{
					"a":  skip("unchanged since " + sh(mid)),
					"ab": skip("unchanged since " + sh(mid)),
					"c":  deploy("own dir changed (services/c/main.go)", "services/c/main.go"),
				}
			},
		},
		{
			name: "MixedBases_EachAgainstItsOwn",
			change: func(f *fixture) ([]ServiceInput, string) {
				f.write("services/a/main.go", "package main // a v2\n")
				mid := f.commit("a: v2")
				f.write("packages/lib/lib.go", "package lib // v2\n")
				f.commit("lib: v2")
				svcs := f.services()
				svcs[0].LiveCommit = mid[:7] // short names resolve too
				svcs[0].Shared = nil
				svcs[2].Shared = nil
				return svcs, ""
			},
			want: func(f *fixture) map[string]expect {
				return map[string]expect{
					"a":  skip("unchanged since " + sh(f.git("rev-parse", "HEAD~1"))),
					"ab": deploy("shared path packages/ changed", "packages/lib/lib.go"),
					"c":  skip("unchanged since " + sh(f.base)),
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			svcs, since := tt.change(f)
			if svcs == nil {
				svcs = f.services()
			}
			got, err := f.open().Plan(context.Background(), PlanInput{Since: since, Services: svcs})
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			want := tt.want(f)
			if len(got) != len(svcs) {
				t.Fatalf("got %d decisions for %d services", len(got), len(svcs))
			}
			for i, d := range got {
				if d.Service != svcs[i].Name {
					t.Errorf("decision %d is for %q, want %q (input order)", i, d.Service, svcs[i].Name)
				}
				g := expect{Action: d.Action, Reason: d.Reason, Paths: d.Paths}
				if w := want[d.Service]; !reflect.DeepEqual(g, w) {
					t.Errorf("%s:\n got  %+v\n want %+v", d.Service, g, w)
				}
				if (d.Action == ActionSkip || d.Base != "") && len(d.Base) != 40 {
					t.Errorf("%s: base %q, want a full commit", d.Service, d.Base)
				}
			}
		})
	}
}

func TestPlan_RejectsBadInput(t *testing.T) {
	f := newFixture(t)
	r := f.open()
	ctx := context.Background()
	tests := []struct {
		name string
		in   PlanInput
		want error
	}{
		{"UnknownSince", PlanInput{Since: "no-such-rev", Services: f.services()}, ErrUnknownRev},
		{"UnknownHead", PlanInput{Head: "no-such-rev", Services: f.services()}, ErrUnknownRev},
		{"AbsoluteDir", PlanInput{Services: []ServiceInput{{Name: "x", Dir: "/etc"}}}, ErrBadPath},
		{"EscapingShared", PlanInput{Services: []ServiceInput{{Name: "x", Shared: []string{"../other"}}}}, ErrBadPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := r.Plan(ctx, tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("Plan: err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestPlan_GitCallsDoNotGrowWithServices holds the batching promise: the
// number of git invocations depends on distinct bases, not on services.
func TestPlan_GitCallsDoNotGrowWithServices(t *testing.T) {
	g := newGitRepo(t)
	const n = 300
	var files []string
	for _, name := range names(n) {
		files = append(files, "microservices/"+name+"/main.go", "package main // "+name+"\n")
	}
	files = append(files, "packages/lib.go", "package lib\n", "lockfile", "v1\n")
	g.write(files...)
	first := g.commit("initial")
	g.write("microservices/svc-0007/main.go", "package main // v2\n", "microservices/svc-0200/x.go", "package main\n")
	second := g.commit("two services change")
	g.write("microservices/svc-0100/main.go", "package main // v2\n")
	g.commit("one more")
	r := g.open()

	plan := func(count int, since string, live func(i int) string) (int64, []Decision) {
		t.Helper()
		svcs := make([]ServiceInput, count)
		for i, name := range names(count) {
			svcs[i] = ServiceInput{Name: name, Dir: "microservices/" + name, Shared: []string{"packages/", "lockfile"}, LiveCommit: live(i)}
		}
		before := r.calls.Load()
		ds, err := r.Plan(context.Background(), PlanInput{Since: since, Services: svcs})
		if err != nil {
			t.Fatalf("Plan: %v", err)
		}
		return r.calls.Load() - before, ds
	}
	tests := []struct {
		name  string
		since string
		live  func(i int) string
		max   int64 // 1 resolve + (ancestry + diff) per base + 1 directory lookup
	}{
		{"Since", first, func(int) string { return "" }, 3},
		{"OneLiveBase", "", func(int) string { return first }, 4},
		{"TwoLiveBases", "", func(i int) string { return []string{first, second}[i%2] }, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			few, _ := plan(10, tt.since, tt.live)
			many, ds := plan(n, tt.since, tt.live)
			if few > tt.max || many > tt.max {
				t.Errorf("git invocations: %d for 10 services, %d for %d; want at most %d for any count", few, many, n, tt.max)
			}
			var deploys []string
			for _, d := range ds {
				if d.Action == ActionDeploy {
					deploys = append(deploys, d.Service)
				}
			}
			if len(deploys) == 0 || len(deploys) > 3 {
				t.Errorf("deploys = %v, want the changed services only", deploys)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	r, err := Open(ctx, filepath.Join(f.dir, "services", "a"))
	if err != nil {
		t.Fatalf("Open(subdir): %v", err)
	}
	want, _ := filepath.EvalSymlinks(f.dir)
	if got, _ := filepath.EvalSymlinks(r.Root); got != want {
		t.Errorf("Root = %q, want top level %q", r.Root, want)
	}
	if _, err := Open(ctx, t.TempDir()); !errors.Is(err, ErrNotRepo) {
		t.Errorf("Open(not a repo): err = %v, want ErrNotRepo", err)
	}
}

func TestHead(t *testing.T) {
	ctx := context.Background()
	g := newGitRepo(t)
	if _, err := g.open().Head(ctx); !errors.Is(err, ErrNoCommits) {
		t.Fatalf("Head of empty repo: err = %v, want ErrNoCommits", err)
	}
	g.write("a", "1")
	sha := g.commit("one")
	c, err := g.open().Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Commit{SHA: sha, Short: sha[:12], Branch: "main"}); c != want {
		t.Errorf("Head = %+v, want %+v", c, want)
	}
	g.git("checkout", "-q", "--detach")
	c, err = g.open().Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Commit{SHA: sha, Short: sha[:12]}); c != want {
		t.Errorf("detached Head = %+v, want %+v", c, want)
	}
}

func TestDirty(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.write(".gitignore", "*.log\n")
	f.commit("ignore logs")
	r := f.open()
	if got, err := r.Dirty(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Dirty of a clean tree = %v, %v; want none", got, err)
	}
	f.write(
		"services/a/main.go", "package main // edited\n", // modified, unstaged
		"services/c/new dir/new file.go", "package main\n", // untracked, in an untracked dir, with spaces
		"debug.log", "ignored\n", // ignored
	)
	f.git("mv", "services/ab/main.go", "services/ab/renamed.go") // staged rename
	if err := os.Remove(filepath.Join(f.dir, "README.md")); err != nil {
		t.Fatal(err)
	}
	got, err := r.Dirty(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"README.md", "services/a/main.go", "services/ab/main.go", "services/ab/renamed.go", "services/c/new dir/new file.go"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Dirty = %q, want %q", got, want)
	}
}

func TestPrefixIndex_SegmentBoundaries(t *testing.T) {
	x := newPrefixIndex()
	for _, p := range []string{"svc", "svc/a", "lockfile", ""} {
		x.watch(p)
	}
	for _, p := range []string{"svc/a/main.go", "svc2/main.go", "svc/b.go", "lockfile", "lockfile.bak"} {
		x.add(p)
	}
	tests := map[string][]string{
		"svc":      {"svc/a/main.go", "svc/b.go"},
		"svc/a":    {"svc/a/main.go"},
		"lockfile": {"lockfile"},
		"":         {"svc/a/main.go", "svc2/main.go", "svc/b.go", "lockfile", "lockfile.bak"},
	}
	for p, want := range tests {
		if got := x.changes(p); !reflect.DeepEqual(got, want) {
			t.Errorf("changes(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{"packages/", "packages", false},
		{"./services/a/", "services/a", false},
		{"", "", false},
		{".", "", false},
		{"a/../b", "b", false},
		{"/abs", "", true},
		{"../up", "", true},
	}
	for _, tt := range tests {
		got, err := cleanPath(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("cleanPath(%q) = %q, %v; want %q, err %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}
