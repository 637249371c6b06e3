package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// Execute runs the berth command line and returns the process exit code.
func Execute() int {
	root := newRootCommand()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	return 0
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "berth",
		Short:         "Deploy a repository of services from a git commit to running, healthy services",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	return root
}
