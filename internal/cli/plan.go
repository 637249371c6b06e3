package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine/ecs"
	"github.com/berth-dev/berth/internal/ship"
	"github.com/berth-dev/berth/internal/spec"
)

func init() { extraCommands = append(extraCommands, newPlanCommand) }

type planCommand struct {
	cmd     *cobra.Command
	g       *globals
	changed bool
	since   string
	output  string
}

func newPlanCommand(g *globals) *cobra.Command {
	c := &planCommand{g: g}
	c.cmd = &cobra.Command{
		Use:   "plan [SERVICE...]",
		Short: "Show which services a deploy of the current commit would roll out, and why",
		Long: `plan compares the current commit with the commit each service runs live (as
the control plane reports it) and prints, per service, DEPLOY or skip with the
reason: its own directory, a shared path or a build input changed, its
resolved spec in berth.yaml changed (e.g. "spec changed: env.LOG_LEVEL"), it
has no live commit, or its live commit is not in this branch's history. This is the
plan ` + "`berth deploy --changed`" + ` carries out.

With --since REV every service is compared against that one revision (and the
spec as committed there) instead, and no control plane is needed (what CI wants for a pull request).`,
		RunE: func(cmd *cobra.Command, args []string) error { return c.run(cmd.Context(), args) },
	}
	f := c.cmd.Flags()
	f.BoolVar(&c.changed, "changed", false, "plan against the live commits (what plan always does without --since; accepted for symmetry with deploy --changed)")
	f.StringVar(&c.since, "since", "", "compare every service against this revision instead of its live commit")
	outputFlag(c.cmd, &c.output)
	return c.cmd
}

// planRow is one line of `berth plan -o json`.
type planRow struct {
	Service string `json:"service"`
	Action  string `json:"action"`
	Reason  string `json:"reason"`
	// ECS is, in an ecs environment, how ECS will roll the service out.
	ECS *ecs.Rollout `json:"ecs,omitempty"`
}

func (c *planCommand) run(ctx context.Context, names []string) error {
	if err := checkOutput(c.output); err != nil {
		return err
	}
	sp, err := c.g.loadSpec()
	if err != nil {
		return err
	}
	svcs, err := ship.Select(sp, names)
	if err != nil {
		return c.g.shipErr(err)
	}
	var live map[string]string
	desired := map[string]int{}
	if c.since == "" {
		e := c.g.engine()
		warnTo := c.g.stdout
		if c.output == "json" {
			warnTo = c.g.stderr
		}
		printWarnings(warnTo, e)
		st, err := e.Status(ctx)
		if err != nil {
			if isUnreachable(err) {
				return &exitError{code: exitUnreach, err: fmt.Errorf("%v\n  plan needs the live commits: start a control plane (`berth serve`), set BERTH_API, or pass --since REV", err)}
			}
			return err
		}
		live = ship.LiveCommits(st)
		for _, s := range st.Services {
			desired[s.Name] = s.Desired
		}
	}
	rollouts, err := ecsRollouts(sp, svcs, desired)
	if err != nil {
		return err
	}
	decisions, err := ship.Plan(ctx, ship.PlanRequest{Spec: sp, Services: svcs, Env: c.g.env, Live: live, Since: c.since})
	if err != nil {
		return c.g.shipErr(err)
	}
	if c.output == "json" {
		rows := make([]planRow, len(decisions))
		for i, d := range decisions {
			rows[i] = planRow{Service: d.Service, Action: d.Action, Reason: d.Reason, ECS: rollouts[d.Service]}
		}
		return writeJSONTo(c.g.stdout, rows)
	}
	ship.WritePlan(c.g.stdout, decisions)
	for _, svc := range svcs {
		if r := rollouts[svc.Name]; r != nil {
			fmt.Fprintf(c.g.stdout, "  %s on ECS: %s\n", svc.Name, r.Summary())
		}
	}
	return nil
}

// ecsRollouts plans, in an ecs environment, how ECS rolls each service
// out; a rollout ECS cannot run is a usage error naming the nearest one
// it can. Outside ecs environments it returns nil.
func ecsRollouts(sp *spec.Spec, svcs []*spec.Service, desired map[string]int) (map[string]*ecs.Rollout, error) {
	if sp.Engine != spec.EngineECS {
		return nil, nil
	}
	out := map[string]*ecs.Rollout{}
	for _, svc := range svcs {
		n, ok := desired[svc.Name]
		if !ok {
			n = 1
			if svc.Count != nil {
				n = *svc.Count
			}
		}
		r, err := ecs.PlanRollout(sp, svc, n)
		if err != nil {
			return nil, usageErr("environment %s: %v", sp.Env, err)
		}
		out[svc.Name] = r
	}
	return out, nil
}
