package ecs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/engine"
)

// failedLogLines is how many last log lines of a failed task a failed
// deployment shows.
const failedLogLines = 10

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// Deployment returns a deployment this engine started.
func (e *Engine) Deployment(ctx context.Context, id string) (api.Deployment, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.deps[id]
	if !ok {
		return api.Deployment{}, fmt.Errorf("deployment %s: not started by this berth process (ECS keeps the history: berth history SERVICE)", id)
	}
	return d.d, nil
}

// Events follows a deployment this engine started until it finished,
// polling ECS: the service's events, the reasons of the tasks that
// stopped, and the outcome from the deployment's rolloutState. When it
// failed, the last log lines of a failed task come too. Without a
// deployment it prints the services' recent ECS events.
func (e *Engine) Events(ctx context.Context, q engine.EventQuery, fn func(api.Event) error) error {
	if q.Deployment == "" {
		return e.serviceEvents(ctx, q, fn)
	}
	e.mu.Lock()
	d, ok := e.deps[q.Deployment]
	e.mu.Unlock()
	if !ok {
		return fmt.Errorf("deployment %s: not started by this berth process", q.Deployment)
	}
	select {
	case <-d.submitted:
	case <-ctx.Done():
		return ctx.Err()
	}
	if d.err != nil {
		return fn(e.event(d, api.EventDeployFailed, d.err.Error()))
	}
	if err := fn(e.event(d, api.EventDeployStarted, e.startMessage(d))); err != nil {
		return err
	}
	e.mu.Lock()
	done := d.d
	e.mu.Unlock()
	if done.State != stateRunning {
		// Already followed to its end: replay the outcome, ask nothing.
		return fn(e.outcome(d, done.State, done.Reason))
	}
	for _, w := range d.warnings {
		if err := fn(e.event(d, api.EventDeployProgress, w)); err != nil {
			return err
		}
	}
	tick := time.NewTicker(e.poll)
	defer tick.Stop()
	for {
		observe := e.observe
		if progressive(d.rollout) && d.sdArn != "" {
			observe = e.observeProgressive
		}
		done, err := observe(ctx, d, fn)
		if err != nil || done {
			return err
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (e *Engine) event(d *deployment, kind, msg string) api.Event {
	return api.Event{Time: e.now(), Service: d.d.Service, Deployment: d.d.ID, Kind: kind, Message: msg}
}

// observe polls the service once, reports what is new, and says whether
// the deployment reached its outcome.
func (e *Engine) observe(ctx context.Context, d *deployment, fn func(api.Event) error) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out, err := e.c.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(e.cluster()), Services: []string{e.serviceName(d.d.Service)}})
	if err != nil {
		return false, fmt.Errorf("follow %s: %w", d.d.Service, err)
	}
	if len(out.Services) == 0 {
		return true, e.finish(d, stateFailed, "the ECS service disappeared", fn)
	}
	s := out.Services[0]
	// ECS lists events newest first.
	evs := append([]types.ServiceEvent(nil), s.Events...)
	sort.SliceStable(evs, func(i, j int) bool { return aws.ToTime(evs[i].CreatedAt).Before(aws.ToTime(evs[j].CreatedAt)) })
	for _, ev := range evs {
		id := aws.ToString(ev.Id)
		if d.seenEvents[id] || aws.ToTime(ev.CreatedAt).Before(d.d.StartedAt.Add(-time.Second)) {
			continue
		}
		d.seenEvents[id] = true
		if err := fn(e.event(d, api.EventDeployProgress, aws.ToString(ev.Message))); err != nil {
			return false, err
		}
	}
	var mine *types.Deployment
	primary := ""
	for i, dep := range s.Deployments {
		if aws.ToString(dep.Status) == "PRIMARY" {
			primary = aws.ToString(dep.TaskDefinition)
		}
		if (d.ecsID != "" && aws.ToString(dep.Id) == d.ecsID) || (d.ecsID == "" && aws.ToString(dep.TaskDefinition) == d.taskDef) {
			mine = &s.Deployments[i]
		}
	}
	if mine != nil && mine.FailedTasks > 0 {
		if err := e.reportStoppedTasks(ctx, d, fn); err != nil {
			return false, err
		}
	}
	switch {
	case mine != nil && mine.RolloutState == types.DeploymentRolloutStateCompleted && aws.ToString(mine.Status) == "PRIMARY":
		return true, e.finish(d, stateSucceeded, "", fn)
	case mine != nil && mine.RolloutState == types.DeploymentRolloutStateFailed:
		reason := aws.ToString(mine.RolloutStateReason)
		if err := e.reportStoppedTasks(ctx, d, fn); err != nil {
			return false, err
		}
		if primary != "" && primary != d.taskDef {
			return true, e.finish(d, stateRolledBack, orText(reason, "the circuit breaker rolled it back"), fn)
		}
		return true, e.finish(d, stateFailed, orText(reason, "ECS reports the rollout failed"), fn)
	case mine == nil && primary == d.taskDef:
		// ECS dropped the finished deployment from the list.
		return true, e.finish(d, stateSucceeded, "", fn)
	case mine == nil:
		if err := e.reportStoppedTasks(ctx, d, fn); err != nil {
			return false, err
		}
		return true, e.finish(d, stateRolledBack, "ECS replaced the deployment: the service runs "+primary, fn)
	}
	return false, nil
}

func orText(s, d string) string {
	if strings.TrimSpace(s) == "" {
		return d
	}
	return s
}

// reportStoppedTasks reports the stopped tasks of the deployment's task
// definition not reported yet, with their reasons.
func (e *Engine) reportStoppedTasks(ctx context.Context, d *deployment, fn func(api.Event) error) error {
	list, err := e.c.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(e.cluster()), ServiceName: aws.String(e.serviceName(d.d.Service)), DesiredStatus: types.DesiredStatusStopped})
	if err != nil {
		return fmt.Errorf("list stopped tasks of %s: %w", d.d.Service, err)
	}
	var arns []string
	for _, a := range list.TaskArns {
		if !d.seenTasks[a] {
			arns = append(arns, a)
		}
	}
	for start := 0; start < len(arns); start += 100 {
		batch := arns[start:min(start+100, len(arns))]
		out, err := e.c.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(e.cluster()), Tasks: batch})
		if err != nil {
			return fmt.Errorf("describe stopped tasks of %s: %w", d.d.Service, err)
		}
		for _, t := range out.Tasks {
			arn := aws.ToString(t.TaskArn)
			d.seenTasks[arn] = true
			if aws.ToString(t.TaskDefinitionArn) != d.taskDef {
				continue
			}
			id := arn[strings.LastIndex(arn, "/")+1:]
			if d.failedTask == "" {
				d.failedTask = id
			}
			msg := fmt.Sprintf("task %s stopped: %s", id, orText(aws.ToString(t.StoppedReason), string(t.StopCode)))
			for _, c := range t.Containers {
				if c.ExitCode != nil || c.Reason != nil {
					msg += fmt.Sprintf(" (container %s", aws.ToString(c.Name))
					if c.ExitCode != nil {
						msg += fmt.Sprintf(" exited %d", *c.ExitCode)
					}
					if c.Reason != nil {
						msg += ": " + aws.ToString(c.Reason)
					}
					msg += ")"
				}
			}
			if err := fn(e.event(d, api.EventTaskStopped, msg)); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish records the outcome and reports it; a failed deployment also
// shows the last log lines of a failed task.
func (e *Engine) finish(d *deployment, state, reason string, fn func(api.Event) error) error {
	e.mu.Lock()
	d.d.State, d.d.Reason, d.d.FinishedAt = state, reason, e.now()
	task := d.failedTask
	e.mu.Unlock()
	defer d.doneOnce.Do(func() { close(d.done) })
	if state != stateSucceeded && task != "" {
		lines, err := e.lastLines(context.Background(), d.d.Service, task, failedLogLines)
		if err == nil && len(lines) > 0 {
			if err := fn(e.event(d, api.EventDeployProgress, fmt.Sprintf("last %d log lines of task %s:\n    %s", len(lines), task, strings.Join(lines, "\n    ")))); err != nil {
				return err
			}
		}
	}
	return fn(e.outcome(d, state, reason))
}

// outcome is the final event of a deployment.
func (e *Engine) outcome(d *deployment, state, reason string) api.Event {
	switch state {
	case stateSucceeded:
		return e.event(d, api.EventDeploySucceeded, fmt.Sprintf("release %d is live: ECS reports the rollout complete", d.d.ToRelease))
	case stateRolledBack:
		return e.event(d, api.EventDeployRollback, "rolled back: "+reason)
	}
	return e.event(d, api.EventDeployFailed, "failed: "+reason)
}

// serviceEvents reports the recent ECS events of one service (or all).
func (e *Engine) serviceEvents(ctx context.Context, q engine.EventQuery, fn func(api.Event) error) error {
	names := e.sp.Order
	if q.Service != "" {
		names = []string{q.Service}
	}
	live, err := e.describeServices(ctx, names)
	if err != nil {
		return err
	}
	for _, n := range names {
		s := live[n]
		if s == nil {
			continue
		}
		for i := len(s.Events) - 1; i >= 0; i-- {
			ev := s.Events[i]
			if err := fn(api.Event{Time: aws.ToTime(ev.CreatedAt), Service: n, Kind: api.EventDeployProgress, Message: aws.ToString(ev.Message)}); err != nil {
				return err
			}
		}
	}
	return nil
}
