package deploy

import (
	"strings"
	"testing"
	"time"
)

func at(d time.Duration) time.Time { return t0.Add(d) }

func TestHeal_Decisions(t *testing.T) {
	budget := HealBudget{MaxRestarts: 3, Window: 10 * time.Minute}
	cases := []struct {
		name string
		in   HealInput
		// want
		start, restarts int
		wake            time.Time
		spent, resumed  bool
		owed            int
	}{
		{name: "first exit is replaced at once",
			in:    HealInput{Now: at(0), State: HealState{Owed: 1}, Want: 1},
			start: 1, restarts: 1},
		{name: "second restart backs off half a second",
			in:   HealInput{Now: at(100 * time.Millisecond), State: HealState{Owed: 1, Restarts: []time.Time{at(0)}}, Want: 1},
			wake: at(500 * time.Millisecond), owed: 1},
		{name: "second restart goes once the backoff passed",
			in:    HealInput{Now: at(600 * time.Millisecond), State: HealState{Owed: 1, Restarts: []time.Time{at(0)}}, Want: 1},
			start: 1, restarts: 1},
		{name: "backoff doubles and is capped",
			in: HealInput{Now: at(20 * time.Second), Budget: HealBudget{MaxRestarts: 100, Window: time.Hour},
				State: HealState{Owed: 1, Restarts: []time.Time{at(1), at(2), at(3), at(4), at(5), at(6), at(7), at(8), at(9), at(10)}}, Want: 1},
			wake: at(10 + 30*time.Second), owed: 1},
		{name: "staggered: no second replacement while one is starting",
			in:   HealInput{Now: at(time.Minute), State: HealState{Owed: 2}, Want: 2, Starting: 1},
			owed: 2},
		{name: "two owed replacements go one at a time",
			in:    HealInput{Now: at(0), State: HealState{Owed: 2}, Want: 2},
			start: 1, restarts: 1, owed: 1},
		{name: "scale-up starts are not restarts",
			in:    HealInput{Now: at(0), State: HealState{}, Want: 3},
			start: 3},
		{name: "budget spent: nothing restarted, wake when the oldest leaves the window",
			in:    HealInput{Now: at(2 * time.Minute), State: HealState{Owed: 1, Restarts: []time.Time{at(0), at(time.Minute), at(90 * time.Second)}}, Want: 1},
			spent: true, wake: at(10 * time.Minute), owed: 1},
		{name: "budget still spent: no second event",
			in:   HealInput{Now: at(3 * time.Minute), State: HealState{Owed: 1, Held: true, Restarts: []time.Time{at(0), at(time.Minute), at(90 * time.Second)}}, Want: 1},
			wake: at(10 * time.Minute), owed: 1},
		{name: "window passed: resumes",
			in:    HealInput{Now: at(10 * time.Minute), State: HealState{Owed: 1, Held: true, Restarts: []time.Time{at(0), at(time.Minute), at(90 * time.Second)}}, Want: 1},
			start: 1, restarts: 1, resumed: true},
		{name: "reset (deploy, berth restart) forgets earlier restarts",
			in:    HealInput{Now: at(3 * time.Minute), State: HealState{Owed: 1, ResetAt: at(2 * time.Minute), Restarts: []time.Time{at(0), at(time.Minute), at(90 * time.Second)}}, Want: 1},
			start: 1, restarts: 1},
		{name: "a deployment starts what it wants and owes nothing",
			in:    HealInput{Now: at(0), State: HealState{Owed: 2, Held: true, Restarts: []time.Time{at(0), at(0), at(0)}}, Want: 2, Deploying: true},
			start: 2},
		{name: "owed beyond what is missing is forgotten",
			in:   HealInput{Now: at(0), State: HealState{Owed: 3}, Want: 0},
			owed: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			if in.Budget.MaxRestarts == 0 {
				in.Budget = budget
			}
			d := Heal(in)
			if d.Start != c.start || d.Restarts != c.restarts || !d.WakeAt.Equal(c.wake) || d.Spent != c.spent || d.Resumed != c.resumed || d.State.Owed != c.owed {
				t.Fatalf("Heal = start %d restarts %d wake %v spent %v resumed %v owed %d; want start %d restarts %d wake %v spent %v resumed %v owed %d",
					d.Start, d.Restarts, d.WakeAt, d.Spent, d.Resumed, d.State.Owed, c.start, c.restarts, c.wake, c.spent, c.resumed, c.owed)
			}
		})
	}
}

// TestHeal_CrashLooperHeldToBudget steps a service whose one task dies
// 100ms after every start, on a fake clock: it is restarted exactly
// MaxRestarts times, then held (one Spent edge), then resumes once the
// window passes.
func TestHeal_CrashLooperHeldToBudget(t *testing.T) {
	b := HealBudget{MaxRestarts: 5, Window: 10 * time.Minute}
	st := HealState{}.Failed(1)
	now := t0
	restarts, spent := 0, 0
	var wake time.Time
	for i := 0; i < 200 && now.Before(at(9*time.Minute)); i++ {
		d := Heal(HealInput{Now: now, Budget: b, State: st, Want: st.Owed})
		st = d.State
		restarts += d.Restarts
		if d.Spent {
			spent++
		}
		if d.Restarts > 0 {
			// The replacement dies 100ms later.
			now = now.Add(100 * time.Millisecond)
			st = st.Failed(1)
			continue
		}
		if d.WakeAt.IsZero() {
			t.Fatalf("a held pass set no wake-up at %v", now)
		}
		wake = d.WakeAt
		now = d.WakeAt
	}
	if restarts != 5 || spent != 1 {
		t.Fatalf("restarts %d, spent edges %d within the window; want 5 and 1", restarts, spent)
	}
	d := Heal(HealInput{Now: wake, Budget: b, State: st, Want: 1})
	if d.Restarts != 1 || !d.Resumed {
		t.Fatalf("after the window passed: restarts %d resumed %v, want 1 true", d.Restarts, d.Resumed)
	}
}

// TestHeal_IdempotentTriggers: a task's failure reported twice is owed
// once (the loop records it when the task leaves the live set), so one
// replacement starts.
func TestHeal_IdempotentTriggers(t *testing.T) {
	st := HealState{}.Failed(1)
	// The second trigger finds the task already gone: nothing recorded.
	d := Heal(HealInput{Now: t0, Budget: HealBudget{MaxRestarts: 5, Window: time.Minute}, State: st, Want: 1})
	if d.Start != 1 || d.Restarts != 1 {
		t.Fatalf("start %d restarts %d, want 1 1", d.Start, d.Restarts)
	}
	d = Heal(HealInput{Now: t0, Budget: HealBudget{MaxRestarts: 5, Window: time.Minute}, State: d.State, Want: 0, Starting: 1})
	if d.Start != 0 || d.Restarts != 0 {
		t.Fatalf("second pass: start %d restarts %d, want none", d.Start, d.Restarts)
	}
}

func TestPostDeployRollback(t *testing.T) {
	ok := at(0)
	cases := []struct {
		name string
		in   PostDeployInput
		want bool
	}{
		{"three exits within the grace roll back", PostDeployInput{Now: at(20 * time.Second), Release: 4, From: 3, SucceededAt: ok,
			Failures: []time.Time{at(5 * time.Second), at(11 * time.Second), at(18 * time.Second)}}, true},
		{"two exits do not", PostDeployInput{Now: at(20 * time.Second), Release: 4, From: 3, SucceededAt: ok,
			Failures: []time.Time{at(5 * time.Second), at(11 * time.Second)}}, false},
		{"exits after the grace do not", PostDeployInput{Now: at(time.Hour), Release: 4, From: 3, SucceededAt: ok,
			Failures: []time.Time{at(6 * time.Minute), at(7 * time.Minute), at(8 * time.Minute)}}, false},
		{"exits before the success do not", PostDeployInput{Now: at(time.Minute), Release: 4, From: 3, SucceededAt: ok,
			Failures: []time.Time{at(-3 * time.Second), at(-2 * time.Second), at(time.Second)}}, false},
		{"no earlier release", PostDeployInput{Now: at(20 * time.Second), Release: 1, SucceededAt: ok,
			Failures: []time.Time{at(1), at(2), at(3)}}, false},
		{"breaker 5 needs five", PostDeployInput{Now: at(20 * time.Second), Release: 4, From: 3, SucceededAt: ok, Breaker: 5,
			Failures: []time.Time{at(1), at(2), at(3), at(4)}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, why := PostDeployRollback(c.in)
			if got != c.want {
				t.Fatalf("rollback %v (%s), want %v", got, why, c.want)
			}
			if got && !strings.Contains(why, "release 4 failed 3 times") {
				t.Fatalf("reason %q", why)
			}
		})
	}
}
