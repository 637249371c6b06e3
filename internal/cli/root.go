package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/spec"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // the operation ran and failed (e.g. a deployment rolled back)
	exitUsage   = 2 // bad input: flags, spec, arguments
	exitUnreach = 3 // no control plane answered
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

func failed(err error) error { return &exitError{code: exitFailed, err: err} }

// Execute runs the berth command line and returns the process exit code.
func Execute() int {
	return run(os.Args[1:], os.Stdout, os.Stderr)
}

func run(args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRootCommand(g)
	root.SetArgs(followAlias(args))
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := g.explain(root.Execute())
	if err == nil {
		return exitOK
	}
	var se *spec.Error
	if errors.As(err, &se) {
		fmt.Fprintf(stderr, "error: %s is invalid; nothing was changed:\n%s\n", g.specPath(), se.Error())
		return exitUsage
	}
	fmt.Fprintln(stderr, "error:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if isUnreachable(err) {
		return exitUnreach
	}
	return exitFailed
}

func newRootCommand(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "berth",
		Short: "Deploy a repository of services from a git commit to running, healthy services",
		Long: `berth takes a repository of services (berth.yaml) to running, health-checked,
load-balanced services: immutable releases, zero-downtime rolling deploys with
automatic rollback, and one-command rollback of one service or a whole release set.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.file, "file", "f", envOr("BERTH_FILE", "berth.yaml"), "path of the spec (env BERTH_FILE)")
	root.PersistentFlags().StringVar(&g.state, "state", os.Getenv("BERTH_STATE"), "state directory (env BERTH_STATE; default .berth beside the spec)")
	root.PersistentFlags().StringVar(&g.env, "env", os.Getenv("BERTH_ENV"), "environment of the spec to use (env BERTH_ENV)")
	root.PersistentFlags().BoolVar(&g.dryRun, "dry-run", false, "print the AWS changes a mutating command would make, and make none (ecs environments)")
	root.AddCommand(
		newUpCommand(g),
		newServeCommand(g),
		newRouterCommand(g),
		newDeployCommand(g),
		newStatusCommand(g),
		newHistoryCommand(g),
		newTimelineCommand(g),
		newRollbackCommand(g),
		newScaleCommand(g),
		newLogsCommand(g),
		newDownCommand(g),
		newVersionCommand(g),
	)
	for _, extra := range extraCommands {
		root.AddCommand(extra(g))
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr("%v\n  see `%s --help`", err, c.CommandPath())
	})
	if err := root.RegisterFlagCompletionFunc("env", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return g.environmentNames(), cobra.ShellCompDirectiveNoFileComp
	}); err != nil {
		panic("cli: " + err.Error())
	}
	walk(root, func(c *cobra.Command) {
		strictArgs(c)
		plainBoolUsage(c)
		completeServices(g, c)
	})
	return root
}

// walk calls fn on c and every command below it.
func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// strictArgs makes every argument error a usage error (exit 2): a
// command's own argument check, and a word that names no subcommand of a
// command that only groups others (cobra would print help and exit 0).
func strictArgs(c *cobra.Command) {
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				var names []string
				for _, sub := range c.Commands() {
					if sub.IsAvailableCommand() {
						names = append(names, sub.Name())
					}
				}
				hint := ""
				if h := spec.Suggest(args[0], names); h != "" {
					hint = " (" + h + ")"
				}
				return usageErr("unknown command %q for %q%s\n  see `%s --help`", args[0], c.CommandPath(), hint, c.CommandPath())
			}
			return c.Help()
		}
		return
	}
	if check := c.Args; check != nil {
		c.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usageErr("%v\n  usage: %s", err, c.UseLine())
			}
			return nil
		}
	}
}

// plainBoolUsage keeps back-quoted words in a boolean flag's help text as
// text: pflag shows a back-quoted word as the flag's value placeholder
// ("--changed berth plan"), and a boolean flag takes no value.
func plainBoolUsage(c *cobra.Command) {
	fix := func(f *pflag.Flag) {
		if f.Value.Type() == "bool" && strings.Contains(f.Usage, "`") {
			f.Usage = strings.ReplaceAll(f.Usage, "`", "'")
		}
	}
	c.LocalFlags().VisitAll(fix)
	c.Flags().VisitAll(fix)
	c.PersistentFlags().VisitAll(fix)
}

// completeServices offers the spec's service names as the arguments of
// commands whose usage takes SERVICE (and SERVICE= for SERVICE=N).
func completeServices(g *globals, c *cobra.Command) {
	if f := c.LocalFlags().Lookup("services"); f != nil && f.Value.Type() != "bool" {
		// --services a,b: complete the name after the last comma.
		_ = c.RegisterFlagCompletionFunc("services", func(cmd *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
			done := ""
			if i := strings.LastIndex(prefix, ","); i >= 0 {
				done = prefix[:i+1]
			}
			var out []cobra.Completion
			for _, n := range g.serviceNames(cmd.Context()) {
				out = append(out, done+n)
			}
			return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
		})
	}
	if c.ValidArgsFunction != nil || !strings.Contains(c.Use, "SERVICE") {
		return
	}
	many := strings.Contains(c.Use, "...")
	assign := strings.Contains(c.Use, "SERVICE=")
	c.ValidArgsFunction = func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 && !many {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, n := range g.serviceNames(cmd.Context()) {
			if assign {
				n += "="
			}
			out = append(out, n)
		}
		if assign {
			return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// extraCommands lets feature files register their commands.
var extraCommands []func(*globals) *cobra.Command

// followAlias lets `berth logs SERVICE -f` mean follow, as in docker and
// kubectl: after the logs command, a bare -f becomes --follow (name the spec
// with --file there). Everywhere else -f is the spec file.
func followAlias(args []string) []string {
	out := make([]string, 0, len(args))
	inLogs := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(out, args[i:]...)
		case inLogs && a == "-f":
			a = "--follow"
		case inLogs:
		case a == "logs":
			inLogs = true
		case globalTakesValue[a] && i+1 < len(args):
			// Copy the flag and its value, which could be the word "logs".
			out = append(out, a)
			i++
			a = args[i]
		}
		out = append(out, a)
	}
	return out
}

// globalTakesValue lists the persistent flags that take a separate value.
var globalTakesValue = map[string]bool{"-f": true, "--file": true, "--state": true, "--env": true}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}
