package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine/ecs"
	"github.com/berth-dev/berth/internal/spec"
)

func init() { extraCommands = append(extraCommands, newAWSCommand, newVerifyCommand) }

func newAWSCommand(g *globals) *cobra.Command {
	aws := &cobra.Command{
		Use:   "aws",
		Short: "AWS helpers for ecs environments",
	}
	aws.AddCommand(&cobra.Command{
		Use:   "policy",
		Short: "Print the least-privilege IAM policy of the principal that runs berth against ECS",
		Long: `policy prints the IAM policy (JSON) the deploy role needs: read access where
AWS offers no narrower scope, and changes only to resources tagged
berth:project with this project's name, in the project's names. With
--env NAME it is scoped to that environment's cluster and roles. docs/ecs.md
explains each statement.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := ecs.PolicyInput{Project: "PROJECT", Cluster: "CLUSTER", Roles: []string{"arn:aws:iam::ACCOUNT:role/EXECUTION_ROLE", "arn:aws:iam::ACCOUNT:role/TASK_ROLE"}}
			if sp, err := g.loadSpec(); err == nil {
				in.Project = sp.Project
				if sp.AWS != nil {
					in.Cluster, in.Roles = sp.AWS.Cluster, nil
					for _, r := range []string{sp.AWS.ExecutionRole, sp.AWS.TaskRole} {
						if r != "" {
							in.Roles = append(in.Roles, r)
						}
					}
				}
			} else if g.env != "" {
				return err
			}
			fmt.Fprint(g.stdout, ecs.Policy(in))
			return nil
		},
	})
	return aws
}

type verifyCommand struct {
	g      *globals
	output string
}

func newVerifyCommand(g *globals) *cobra.Command {
	c := &verifyCommand{g: g}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check an ecs environment before deploying to it (changes nothing)",
		Long: `verify checks, without changing anything, what an ecs environment expects to
exist: credentials and account, cluster, network, the ALB listener, roles,
every referenced secret, the image registry, and that the project's listener
rule priorities are free. It prints one line per check, with the fix for each
failure, and exits non-zero when any failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(c.output); err != nil {
				return err
			}
			sp, err := g.loadSpec()
			if err != nil {
				return err
			}
			if g.env == "" || sp.Engine != spec.EngineECS {
				return usageErr("verify checks an ecs environment: pass --env NAME for an environment with engine: ecs")
			}
			e, ok := g.ecsEngine()
			if !ok {
				return usageErr("environment %s does not run on ecs", g.env)
			}
			v, ok := e.(*ecs.Engine)
			if !ok {
				_, err := e.Status(cmd.Context()) // the error that kept the engine from being built
				return err
			}
			checks := v.Verify(cmd.Context())
			bad := 0
			for _, ch := range checks {
				if !ch.OK {
					bad++
				}
			}
			if c.output == "json" {
				if err := writeJSONTo(g.stdout, checks); err != nil {
					return err
				}
			} else {
				w := newTable(g.stdout)
				fmt.Fprintln(w, "CHECK\tRESULT\tDETAIL")
				for _, ch := range checks {
					res := "ok"
					if !ch.OK {
						res = "FAIL"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\n", ch.Name, res, ch.Detail)
					if ch.Fix != "" {
						fmt.Fprintf(w, "\t\tfix: %s\n", ch.Fix)
					}
				}
				if err := w.Flush(); err != nil {
					return err
				}
			}
			if bad > 0 {
				return failed(fmt.Errorf("%d of %d checks failed for environment %s", bad, len(checks), g.env))
			}
			if c.output != "json" {
				fmt.Fprintf(g.stdout, "all %d checks passed: environment %s is ready to deploy\n", len(checks), g.env)
			}
			return nil
		},
	}
	outputFlag(cmd, &c.output)
	return cmd
}
