package deploy

import (
	"fmt"
	"time"
)

// Failure is one observed failure of a task of the release being rolled out.
type Failure struct {
	TaskID string
	At     time.Time
	// Why is human-readable: "exit code 1", "health check GET /health: 503".
	Why string
}

// JudgeInput is what a deployment's health verdict is decided on.
type JudgeInput struct {
	Now     time.Time
	Release int
	// Tasks are the live tasks (any release); only those of Release count.
	Tasks []TaskView
	// Deadline is how long a new task may take to become healthy.
	Deadline time.Duration
	// Failures are consecutive failures of the new release's tasks since
	// the last time one became healthy.
	Failures []Failure
	// Breaker is how many consecutive failures end the deployment.
	Breaker int
	// LastCheck describes the newest failed health check per task, for
	// the reason of a deadline verdict.
	LastCheck map[string]string
}

// Verdict says whether a deployment must roll back, and why.
type Verdict struct {
	Failed bool
	Reason string
}

// Judge decides whether the release being rolled out has failed: a task
// that is not healthy within the deadline, or Breaker failures in a row
// (crash loops, failed health after start), fail it.
func Judge(in JudgeInput) Verdict {
	breaker := in.Breaker
	if breaker <= 0 {
		breaker = 3
	}
	if n := len(in.Failures); n >= breaker {
		last := in.Failures[n-1]
		return Verdict{Failed: true, Reason: fmt.Sprintf(
			"release %d failed %d times in a row; last: task %s %s",
			in.Release, n, last.TaskID, last.Why)}
	}
	if in.Deadline > 0 {
		for _, t := range in.Tasks {
			if t.Release != in.Release || t.Phase == Healthy {
				continue
			}
			if age := in.Now.Sub(t.StartedAt); age >= in.Deadline {
				why := "no health check passed"
				if c := in.LastCheck[t.ID]; c != "" {
					why = "last check: " + c
				}
				return Verdict{Failed: true, Reason: fmt.Sprintf(
					"task %s of release %d not healthy after %s (%s)",
					t.ID, in.Release, in.Deadline, why)}
			}
		}
	}
	return Verdict{}
}

// NextDeadline is the earliest time at which Judge could change its mind
// about a deadline, so a runner knows when to wake up; zero if none.
func NextDeadline(in JudgeInput) time.Time {
	var next time.Time
	if in.Deadline <= 0 {
		return next
	}
	for _, t := range in.Tasks {
		if t.Release != in.Release || t.Phase == Healthy {
			continue
		}
		at := t.StartedAt.Add(in.Deadline)
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

// Backoff is how long to wait before restarting a task of a service that
// crashed restarts times in a row: 500ms doubling up to 30s.
func Backoff(restarts int) time.Duration {
	if restarts <= 0 {
		return 0
	}
	d := 500 * time.Millisecond
	for i := 1; i < restarts && d < 30*time.Second; i++ {
		d *= 2
	}
	if d > 30*time.Second {
		d = 30 * time.Second
	}
	return d
}
