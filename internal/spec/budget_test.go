package spec

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// mergeBomb is a merge-key bomb: every level merges the previous one four
// times, so a naive expansion visits 4^levels key/value pairs. Ten levels
// fit in well under 424 bytes.
func mergeBomb(levels int) string {
	var b strings.Builder
	b.WriteString("project: bomb\nx0: &a0 {k: v}\n")
	for i := 1; i <= levels; i++ {
		p := i - 1
		fmt.Fprintf(&b, "x%d: &a%d {<<: [*a%d, *a%d, *a%d, *a%d]}\n", i, i, p, p, p, p)
	}
	fmt.Fprintf(&b, "services: {web: {run: w, env: {<<: *a%d}}}\n", levels)
	return b.String()
}

// aliasBomb is the classic billion laughs through sequences of aliases.
func aliasBomb(levels int) string {
	var b strings.Builder
	b.WriteString("project: bomb\nx-a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "x-a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	fmt.Fprintf(&b, "services:\n  web:\n    run: ./web\n    shared: *a%d\n", levels)
	return b.String()
}

func TestParse_MergeKeyBombIsRefusedQuickly(t *testing.T) {
	src := mergeBomb(10)
	if len(src) > 424 {
		t.Fatalf("bomb is %d bytes; keep it small", len(src))
	}
	start := time.Now()
	_, err := parse(t, src)
	elapsed := time.Since(start)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Parse = %v, want an invalid spec", err)
	}
	if !strings.Contains(err.Error(), "expands to more than") {
		t.Errorf("error does not name the expansion: %v", err)
	}
	if elapsed > raceSlowdown*100*time.Millisecond {
		t.Errorf("refusing the bomb took %v, want well under a second", elapsed)
	}
}

func TestParse_AliasBombIsRefusedQuickly(t *testing.T) {
	src := aliasBomb(9) // 9^10 scalars
	start := time.Now()
	_, err := parse(t, src)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "expands to more than") {
		t.Fatalf("Parse = %v, want the expansion refused", err)
	}
	if elapsed := time.Since(start); elapsed > raceSlowdown*100*time.Millisecond {
		t.Errorf("refusing the bomb took %v", elapsed)
	}
}

func TestExpansion_CountsEachDistinctNodeOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
	}{
		{"merge", mergeBomb(10)},
		{"alias", aliasBomb(9)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tc.src), &doc); err != nil {
				t.Fatal(err)
			}
			written := countNodes(&doc)
			e := &expansion{limit: expansionBudget(written)}
			if got := e.sizeOf(&doc); got <= e.limit {
				t.Fatalf("sizeOf = %d, want more than the budget %d", got, e.limit)
			}
			// The whole document is counted with at most one visit per
			// written node: the count itself cannot explode.
			if e.visits > written {
				t.Errorf("visits = %d for %d written nodes", e.visits, written)
			}
		})
	}
}

func TestParse_AnchorsWithinBudgetStillWork(t *testing.T) {
	src := `project: shop
x-base: &base
  env: {LOG: info}
  count: 2
services:
  a: {<<: *base, run: ./a}
  b:
    <<: *base
    run: ./b
    count: 3
`
	s := mustParse(t, src)
	if *s.Services["a"].Count != 2 || *s.Services["b"].Count != 3 || s.Services["b"].Env["LOG"] != "info" {
		t.Errorf("merged services = %+v, %+v", s.Services["a"], s.Services["b"])
	}
}

// manyServices is a spec of n services, each with a route, a port, an
// env, a dependency on its predecessor and the same anchored defaults.
func manyServices(n int) string {
	var b strings.Builder
	b.WriteString("project: big\nx-d: &d {env: {LOG: info}, health: {path: /ready}}\nservices:\n")
	for i := range n {
		fmt.Fprintf(&b, "  s%d:\n    <<: *d\n    run: ./s\n    port: %d\n    route: {path: /s%d}\n", i, 10000+i, i)
		if i > 0 {
			fmt.Fprintf(&b, "    depends_on: [s%d]\n", i-1)
		}
	}
	return b.String()
}

// cpuTime is the CPU time this process has used (user + system): unlike
// wall time it does not grow when other processes load the machine.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestParse_FourThousandServicesValidateInLinearTime(t *testing.T) {
	// The race detector makes parsing ~10x slower: there, check the
	// linearity on a quarter of the size, and the absolute bound only
	// without it.
	n := 4000 / raceSlowdown
	small, large := manyServices(n/4), manyServices(n)
	measure := func(src string) (wall, cpu time.Duration) {
		wall, cpu = time.Duration(1<<62), time.Duration(1<<62)
		for range 3 {
			runtime.GC()
			start, startCPU := time.Now(), cpuTime(t)
			s := mustParse(t, src)
			wall, cpu = min(wall, time.Since(start)), min(cpu, cpuTime(t)-startCPU)
			if len(s.Order) == 0 {
				t.Fatal("no order")
			}
		}
		return wall, cpu
	}
	ws, cs := measure(small)
	wl, cl := measure(large)
	t.Logf("%d services: %v (CPU %v); %d services: %v (CPU %v)", n/4, ws, cs, n, wl, cl)
	// CPU time includes the parallel garbage collector, so it may exceed
	// wall time; it is the cost that does not depend on the machine's load.
	if raceSlowdown == 1 && wl > 500*time.Millisecond && cl > 500*time.Millisecond {
		t.Errorf("4,000 services took %v (CPU %v), want under 0.5s", wl, cl)
	}
	// Linear: 4x the services costs about 4x; quadratic would be 16x.
	if cl > 10*cs {
		t.Errorf("4x the services took %.1fx the CPU time (%v vs %v): not linear", float64(cl)/float64(cs), cl, cs)
	}
}

func TestParse_SyntaxErrorInALargeSpecIsLocatedQuickly(t *testing.T) {
	// The error line is found by parsing prefixes of the file; that must
	// not cost one parse per line (4,000 services are 20,000 lines).
	src := manyServices(4000/raceSlowdown) + "  bad:\n    run: x\n   oops: y\n"
	want := strings.Count(src, "\n") // the line of "oops"
	start, startCPU := time.Now(), cpuTime(t)
	_, err := parse(t, src)
	wall, cpu := time.Since(start), cpuTime(t)-startCPU
	got := problemsOf(t, err)
	if len(got) != 1 || !strings.HasPrefix(got[0], fmt.Sprintf(":%d: invalid YAML: did not find expected key", want)) {
		t.Errorf("problems = %q, want one at line %d", got, want)
	}
	t.Logf("located in %v (CPU %v)", wall, cpu)
	if wall > 2*time.Second && cpu > 2*time.Second {
		t.Errorf("locating the syntax error took %v (CPU %v)", wall, cpu)
	}
}
