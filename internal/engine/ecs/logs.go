package ecs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/berth-dev/berth/internal/engine"
)

// defaultRetention is how many days log groups keep lines by default.
const defaultRetention = 30

// logWindow is how far back logs (without -f) look.
const logWindow = 24 * time.Hour

// ensureLogGroup creates the service's log group, with its retention,
// when it does not exist.
func (e *Engine) ensureLogGroup(ctx context.Context, svc string) error {
	name := e.logGroup(svc)
	out, err := e.c.logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(name)})
	if err != nil {
		return fmt.Errorf("describe log group %s: %w", name, err)
	}
	for _, g := range out.LogGroups {
		if aws.ToString(g.LogGroupName) == name {
			return nil
		}
	}
	days := e.aws.LogRetention
	if days == 0 {
		days = defaultRetention
	}
	return e.mutate(fmt.Sprintf("create log group %s (%d days)", name, days), func() error {
		_, err := e.c.logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(name), Tags: e.ownTags(svc)})
		if err != nil && errorCode(err) != "ResourceAlreadyExistsException" {
			return fmt.Errorf("create log group %s: %w", name, err)
		}
		if _, err := e.c.logs.PutRetentionPolicy(ctx, &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String(name), RetentionInDays: aws.Int32(int32(days))}); err != nil {
			return fmt.Errorf("set retention of log group %s: %w", name, err)
		}
		return nil
	})
}

// taskStream is the awslogs stream of a task: prefix/container/task-id.
func taskStream(svc, taskID string) string { return svc + "/" + svc + "/" + taskID }

// lastLines returns the last n lines a task logged.
func (e *Engine) lastLines(ctx context.Context, svc, taskID string, n int) ([]string, error) {
	evs, err := e.filter(ctx, svc, []string{taskStream(svc, taskID)}, e.now().Add(-logWindow), 0)
	if err != nil {
		return nil, err
	}
	if len(evs) > n {
		evs = evs[len(evs)-n:]
	}
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = strings.TrimRight(aws.ToString(ev.Message), "\n")
	}
	return out, nil
}

// filter reads a log group's events from start on, oldest first (every
// page; limit > 0 keeps only the last limit).
func (e *Engine) filter(ctx context.Context, svc string, streams []string, start time.Time, limit int) ([]logtypes.FilteredLogEvent, error) {
	in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(e.logGroup(svc)), StartTime: aws.Int64(start.UnixMilli())}
	if len(streams) > 0 {
		in.LogStreamNames = streams
	}
	var evs []logtypes.FilteredLogEvent
	p := cloudwatchlogs.NewFilterLogEventsPaginator(e.c.logs, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if errorCode(err) == "ResourceNotFoundException" {
				return nil, fmt.Errorf("no log group %s: %s has not been deployed to ECS yet: %w", e.logGroup(svc), svc, ErrNotDeployed)
			}
			return nil, fmt.Errorf("read log group %s: %w", e.logGroup(svc), err)
		}
		evs = append(evs, page.Events...)
		if limit > 0 && len(evs) > 4*limit {
			evs = evs[len(evs)-limit:]
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return aws.ToInt64(evs[i].Timestamp) < aws.ToInt64(evs[j].Timestamp) })
	if limit > 0 && len(evs) > limit {
		evs = evs[len(evs)-limit:]
	}
	return evs, nil
}

// Logs prints a service's log lines from CloudWatch Logs (the last day,
// or the last Tail lines), each prefixed with its task; Follow keeps
// polling for new lines until ctx ends.
func (e *Engine) Logs(ctx context.Context, service string, o engine.LogOptions) (io.ReadCloser, error) {
	if o.Trace != "" {
		return nil, errors.New("logs --trace reads berth's router access log, which an ECS environment does not have (the ALB's): search CloudWatch Logs for the trace id")
	}
	if _, err := e.serviceSpec(service); err != nil {
		return nil, err
	}
	evs, err := e.filter(ctx, service, nil, e.now().Add(-logWindow), o.Tail)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		write := func(evs []logtypes.FilteredLogEvent) error {
			for _, ev := range evs {
				stream := aws.ToString(ev.LogStreamName)
				task := stream[strings.LastIndex(stream, "/")+1:]
				if _, err := fmt.Fprintf(pw, "%s %s\n", task, strings.TrimRight(aws.ToString(ev.Message), "\n")); err != nil {
					return err
				}
			}
			return nil
		}
		if err := write(evs); err != nil || !o.Follow {
			pw.CloseWithError(err)
			return
		}
		seen := map[string]bool{}
		var last int64
		for _, ev := range evs {
			seen[aws.ToString(ev.EventId)] = true
			last = max(last, aws.ToInt64(ev.Timestamp))
		}
		tick := time.NewTicker(e.poll)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				pw.Close()
				return
			case <-tick.C:
			}
			evs, err := e.filter(ctx, service, nil, time.UnixMilli(last), 0)
			if err != nil {
				if ctx.Err() != nil {
					err = nil
				}
				pw.CloseWithError(err)
				return
			}
			var fresh []logtypes.FilteredLogEvent
			for _, ev := range evs {
				if id := aws.ToString(ev.EventId); !seen[id] {
					seen[id] = true
					fresh = append(fresh, ev)
					last = max(last, aws.ToInt64(ev.Timestamp))
				}
			}
			if err := write(fresh); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr, nil
}
