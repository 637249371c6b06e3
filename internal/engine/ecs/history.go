package ecs

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-dev/berth/internal/api"
)

// historyDepth is how many releases History reads back.
const historyDepth = 20

// History lists a service's releases (its berth-made task-definition
// revisions, newest first) and its deployments as ECS reports them.
func (e *Engine) History(ctx context.Context, service string) (api.History, error) {
	h := api.History{Service: service}
	if _, err := e.serviceSpec(service); err != nil {
		return h, err
	}
	rels, err := e.releases(ctx, service, historyDepth)
	if err != nil {
		return h, err
	}
	live, err := e.describeServices(ctx, []string{service})
	if err != nil {
		return h, err
	}
	var liveTD string
	if s := live[service]; s != nil {
		liveTD = aws.ToString(s.TaskDefinition)
		for _, d := range s.Deployments {
			h.Deployments = append(h.Deployments, deploymentOf(service, d))
		}
	}
	for _, r := range rels {
		h.Releases = append(h.Releases, api.Release{
			Service: service, Number: r.Number, Commit: r.Commit, Image: r.Image, SetID: r.Set,
			CreatedAt: r.CreatedAt, Live: r.ARN == liveTD,
		})
	}
	return h, nil
}

func deploymentOf(service string, d types.Deployment) api.Deployment {
	state := stateRunning
	switch d.RolloutState {
	case types.DeploymentRolloutStateCompleted:
		state = stateSucceeded
	case types.DeploymentRolloutStateFailed:
		state = stateFailed
	}
	return api.Deployment{
		Service: service, ToRelease: revisionOf(aws.ToString(d.TaskDefinition)), Strategy: "rolling",
		State: state, Reason: aws.ToString(d.RolloutStateReason), StartedAt: aws.ToTime(d.CreatedAt), FinishedAt: aws.ToTime(d.UpdatedAt),
	}
}

// Rollback points services back at an earlier task-definition revision
// (nothing is rebuilt or deregistered): one service to the release
// before its live one (or To), every service of a release set to what
// ran before the set, or every service to its release of a commit.
func (e *Engine) Rollback(ctx context.Context, r api.RollbackRequest) (api.DeployResponse, error) {
	var resp api.DeployResponse
	type move struct {
		svc      string
		from, to release
	}
	var moves []move
	// introduced are services a rolled-back set created: before it, they
	// did not run, so they are deleted.
	var introduced []string
	live, err := e.describeServices(ctx, e.sp.Order)
	if err != nil {
		return resp, err
	}
	liveRel := map[string]release{}
	for n, s := range live {
		if !e.owned(ecsTags(s.Tags)) {
			continue
		}
		lr, err := e.liveRelease(ctx, s)
		if err != nil {
			return resp, err
		}
		liveRel[n] = lr
	}
	switch {
	case r.Service != "":
		if _, err := e.serviceSpec(r.Service); err != nil {
			return resp, err
		}
		cur, ok := liveRel[r.Service]
		if !ok {
			return resp, fmt.Errorf("rollback %s: %w", r.Service, ErrNotDeployed)
		}
		rels, err := e.releases(ctx, r.Service, 0)
		if err != nil {
			return resp, err
		}
		var target *release
		for i, rel := range rels {
			if (r.To == 0 && rel.Revision < cur.Revision) || (r.To != 0 && rel.Number == r.To) {
				target = &rels[i]
				break
			}
		}
		if target == nil {
			if r.To != 0 {
				return resp, fmt.Errorf("rollback %s: release %d: %w (berth history --env %s %s lists them)", r.Service, r.To, ErrNoRelease, e.sp.Env, r.Service)
			}
			return resp, fmt.Errorf("rollback %s: release %d is its first: %w before it", r.Service, cur.Number, ErrNoRelease)
		}
		moves = append(moves, move{r.Service, cur, *target})
	case r.ToCommit != "":
		for _, n := range e.sp.Order {
			cur, ok := liveRel[n]
			if !ok {
				continue
			}
			rels, err := e.releases(ctx, n, 0)
			if err != nil {
				return resp, err
			}
			for _, rel := range rels {
				if rel.Commit != "" && (strings.HasPrefix(rel.Commit, r.ToCommit) || strings.HasPrefix(r.ToCommit, rel.Commit)) {
					moves = append(moves, move{n, cur, rel})
					break
				}
			}
		}
		if len(moves) == 0 {
			return resp, fmt.Errorf("rollback to commit %s: %w: no service has a release made from it", r.ToCommit, ErrNoRelease)
		}
	case r.LastSet || r.Set != "":
		set := r.Set
		if r.LastSet {
			for _, lr := range liveRel {
				if lr.Set > set {
					set = lr.Set
				}
			}
			if set == "" {
				return resp, fmt.Errorf("rollback of the last set: %w: no live release carries a set", ErrNoRelease)
			}
		}
		resp.SetID = set
		for _, n := range e.sp.Order {
			cur, ok := liveRel[n]
			if !ok {
				continue
			}
			rels, err := e.releases(ctx, n, 0)
			if err != nil {
				return resp, err
			}
			// The newest release of the set, then the newest one before it
			// that is not part of the set.
			inSet := -1
			for i, rel := range rels {
				if rel.Set == set {
					inSet = i
					break
				}
			}
			if inSet < 0 {
				continue
			}
			before := false
			for _, rel := range rels[inSet+1:] {
				if rel.Set != set {
					moves = append(moves, move{n, cur, rel})
					before = true
					break
				}
			}
			if !before && cur.Set == set {
				introduced = append(introduced, n)
			}
		}
		if len(moves) == 0 && len(introduced) == 0 {
			return resp, fmt.Errorf("rollback of set %s: %w: no live service has a release before it", set, ErrNoRelease)
		}
	default:
		return resp, fmt.Errorf("rollback: name a service, a set or a commit")
	}
	for _, n := range introduced {
		s := live[n]
		err := e.mutate(fmt.Sprintf("delete ECS service %s: set %s introduced it", aws.ToString(s.ServiceName), resp.SetID), func() error {
			return e.deleteService(ctx, n, s)
		})
		if err != nil {
			return resp, err
		}
	}
	sort.SliceStable(moves, func(i, j int) bool { return indexOf(e.sp.Order, moves[i].svc) < indexOf(e.sp.Order, moves[j].svc) })
	for _, m := range moves {
		if m.from.ARN == m.to.ARN {
			resp.Unchanged = append(resp.Unchanged, m.svc)
			continue
		}
		svc := e.sp.Services[m.svc]
		s := live[m.svc]
		if e.dryRun {
			fmt.Fprintf(e.planOut, "update ECS service %s: task definition %s → %s (release %d → %d, commit %s)\n", aws.ToString(s.ServiceName), m.from.ARN, m.to.ARN, m.from.Number, m.to.Number, m.to.Commit)
			continue
		}
		d := e.newDeployment(m.svc, m.from.Number, m.to, resp.SetID)
		if _, err := e.c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{
			Cluster: aws.String(e.cluster()), Service: s.ServiceName, TaskDefinition: aws.String(m.to.ARN),
			DeploymentConfiguration: DeploymentConfiguration(svc, int(s.DesiredCount)),
		}); err != nil {
			e.finishSubmit(d, fmt.Errorf("roll %s back to release %d: %w", m.svc, m.to.Number, err))
			return resp, d.err
		}
		tags := map[string]string{TagRelease: fmt.Sprint(m.to.Number), TagCommit: m.to.Commit, TagSet: m.to.Set, TagFingerprint: m.to.Fingerprint, TagTaskDef: m.to.ARN}
		if _, err := e.c.ecs.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: s.ServiceArn, Tags: toECSTags(tags)}); err != nil {
			e.finishSubmit(d, fmt.Errorf("tag %s with release %d: %w", m.svc, m.to.Number, err))
			return resp, d.err
		}
		e.finishSubmit(d, nil)
		resp.Deployments = append(resp.Deployments, d.d)
	}
	return resp, nil
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return len(s)
}
