// Command plan benchmarks berth's change plan against the loop a deploy.sh
// runs: it generates a monorepo of many services and commits with git
// fast-import, then times, side by side, repo.Plan over every service and
// one `git diff --quiet` per service, and optionally the berth CLI.
//
//	go run ./bench/plan [-services 1000] [-commits 5000] [-back 100] [-berth ./berth]
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/repo"
)

const spec = "project: big\nservices_from: microservices/*\nshared: [packages/, lockfile]\n"

var shared = []string{"packages/", "lockfile"}

func main() {
	services := flag.Int("services", 1000, "services in the generated monorepo")
	commits := flag.Int("commits", 5000, "commits after the initial one")
	back := flag.Int("back", 100, "plan since the commit this many back from HEAD")
	runs := flag.Int("runs", 5, "runs of repo.Plan (and of berth plan); the median is reported")
	naiveRuns := flag.Int("naive-runs", 3, "runs of the naive loop; the median is reported")
	berth := flag.String("berth", "", "path of a berth binary to time `berth plan --since <rev> -f <spec>` too")
	keep := flag.Bool("keep", false, "keep the generated repository")
	flag.Parse()
	if err := run(*services, *commits, *back, *runs, *naiveRuns, *berth, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "bench/plan:", err)
		os.Exit(1)
	}
}

func run(nServices, nCommits, back, runs, naiveRuns int, berth string, keep bool) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "berth-bench-plan-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	start := time.Now()
	names, err := generate(dir, nServices, nCommits)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	since, err := git(dir, "rev-parse", fmt.Sprintf("HEAD~%d", back))
	if err != nil {
		return err
	}
	fmt.Printf("monorepo: %d services, %d commits, generated in %s (%s)\n", nServices, nCommits+1, time.Since(start).Round(time.Millisecond), dir)
	fmt.Printf("since:    HEAD~%d = %s\n\n", back, since[:12])

	r, err := repo.Open(ctx, dir)
	if err != nil {
		return err
	}
	in := repo.PlanInput{Since: since}
	for _, n := range names {
		in.Services = append(in.Services, repo.ServiceInput{Name: n, Dir: "microservices/" + n, Shared: shared})
	}

	// (a) repo.Plan over every service.
	var decisions []repo.Decision
	planTime, err := median(runs, func() error {
		decisions, err = r.Plan(ctx, in)
		return err
	})
	if err != nil {
		return fmt.Errorf("repo.Plan: %w", err)
	}
	var planDeploys []string
	for _, d := range decisions {
		if d.Action == repo.ActionDeploy {
			planDeploys = append(planDeploys, d.Service)
		}
	}

	// (b) what a deploy.sh does: one git diff per service.
	var naiveDeploys []string
	naiveTime, err := median(naiveRuns, func() error {
		naiveDeploys = naiveDeploys[:0]
		for _, n := range names {
			args := append([]string{"diff", "--quiet", since, "HEAD", "--", "microservices/" + n}, shared...)
			_, err := git(dir, args...)
			var exitErr *exec.ExitError
			switch {
			case err == nil:
			case errors.As(err, &exitErr) && exitErr.ExitCode() == 1:
				naiveDeploys = append(naiveDeploys, n)
			default:
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("naive loop: %w", err)
	}
	if !slices.Equal(planDeploys, naiveDeploys) {
		return fmt.Errorf("plans disagree: repo.Plan deploys %d services, the naive loop %d", len(planDeploys), len(naiveDeploys))
	}

	ratio := float64(naiveTime) / float64(planTime)
	fmt.Printf("plan: %d deploy, %d skip (both methods agree)\n", len(planDeploys), nServices-len(planDeploys))
	fmt.Printf("(a) repo.Plan, all services        median of %d: %8s\n", runs, planTime.Round(10*time.Microsecond))
	fmt.Printf("(b) git diff --quiet per service   median of %d: %8s\n", naiveRuns, naiveTime.Round(time.Millisecond))
	verdict := "MET"
	if planTime >= 300*time.Millisecond || ratio < 20 {
		verdict = "MISSED"
	}
	fmt.Printf("ratio (b)/(a): %.0fx   target (a) < 300ms and >= 20x: %s\n", ratio, verdict)

	if berth != "" {
		abs, err := filepath.Abs(berth)
		if err != nil {
			return err
		}
		var out []byte
		cliTime, err := median(runs, func() error {
			cmd := exec.Command(abs, "plan", "--since", since, "-f", filepath.Join(dir, "berth.yaml"))
			cmd.Dir = dir
			out, err = cmd.CombinedOutput()
			return err
		})
		if err != nil {
			fmt.Printf("(c) berth plan                     failed: %v\n%s", err, firstLines(out, 5))
		} else {
			fmt.Printf("(c) berth plan --since (CLI)       median of %d: %8s  (%.0fx faster than (b))\n", runs, cliTime.Round(10*time.Microsecond), float64(naiveTime)/float64(cliTime))
		}
	}
	return nil
}

// generate writes a monorepo into dir with one fast-import stream: an
// initial commit holding every service (Dockerfile + main.go), packages/,
// a lockfile and berth.yaml, then nCommits small commits. Most commits
// touch one service; packages/ and the lockfile change rarely, as in life.
// It returns the service names, sorted.
func generate(dir string, nServices, nCommits int) ([]string, error) {
	if _, err := git(dir, "init", "-q", "-b", "main"); err != nil {
		return nil, err
	}
	names := make([]string, nServices)
	for i := range names {
		names[i] = fmt.Sprintf("svc-%04d", i+1)
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	when := int64(1_700_000_000)
	file := func(path, content string) {
		fmt.Fprintf(w, "M 100644 inline %s\ndata %d\n%s\n", path, len(content), content)
	}
	commit := func(mark int, msg string) {
		when += 60
		fmt.Fprintf(w, "commit refs/heads/main\nmark :%d\ncommitter Bench <bench@berth.invalid> %d +0000\ndata %d\n%s\n", mark, when, len(msg), msg)
		if mark > 1 {
			fmt.Fprintf(w, "from :%d\n", mark-1)
		}
	}
	commit(1, "initial")
	file("berth.yaml", spec)
	file("lockfile", "version: 1\n")
	for p := 0; p < 20; p++ {
		file(fmt.Sprintf("packages/pkg-%02d/index.js", p), fmt.Sprintf("export const v = %d\n", p))
	}
	for _, n := range names {
		file("microservices/"+n+"/Dockerfile", "FROM scratch\nCOPY main.js /\n")
		file("microservices/"+n+"/main.js", "// "+n+" v0\n")
	}
	rng := uint64(42)
	next := func(n int) int { // xorshift: deterministic, no dependency
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return int(rng % uint64(n))
	}
	for i := 1; i <= nCommits; i++ {
		switch {
		case i%1000 == 500:
			commit(i+1, fmt.Sprintf("bump lockfile %d", i))
			file("lockfile", fmt.Sprintf("version: %d\n", i))
		case i%500 == 250:
			p := next(20)
			commit(i+1, fmt.Sprintf("pkg-%02d change %d", p, i))
			file(fmt.Sprintf("packages/pkg-%02d/index.js", p), fmt.Sprintf("export const v = %d\n", i))
		default:
			n := names[next(len(names))]
			commit(i+1, fmt.Sprintf("%s change %d", n, i))
			if i%7 == 0 {
				file(fmt.Sprintf("microservices/%s/lib-%d.js", n, i), "// helper\n")
			} else {
				file("microservices/"+n+"/main.js", fmt.Sprintf("// %s v%d\n", n, i))
			}
		}
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("git fast-import: %w\n%s", err, out)
	}
	if _, err := git(dir, "reset", "-q", "--hard", "main"); err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// git runs one git command in dir and returns its trimmed output.
func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.Output()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && exitErr.ExitCode() == 1 {
			return "", err // a meaningful answer (diff --quiet: differs)
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// median runs f n times and returns the median duration.
func median(n int, f func() error) (time.Duration, error) {
	if n < 1 {
		n = 1
	}
	ds := make([]time.Duration, n)
	for i := range ds {
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ds[i] = time.Since(start)
	}
	slices.Sort(ds)
	return ds[n/2], nil
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return "    " + strings.Join(lines, "\n    ") + "\n"
}
