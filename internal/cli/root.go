package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

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
	err := root.Execute()
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
	root.AddCommand(
		newUpCommand(g),
		newServeCommand(g),
		newRouterCommand(g),
		newDeployCommand(g),
		newStatusCommand(g),
		newHistoryCommand(g),
		newRollbackCommand(g),
		newScaleCommand(g),
		newLogsCommand(g),
		newDownCommand(g),
		newVersionCommand(g),
	)
	for _, extra := range extraCommands {
		root.AddCommand(extra(g))
	}
	return root
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
