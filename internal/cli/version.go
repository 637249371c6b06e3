package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are stamped at build time by the Makefile:
//
//	-ldflags "-X github.com/berth-dev/berth/internal/cli.version=v1.2.3
//	          -X github.com/berth-dev/berth/internal/cli.commit=<sha>"
//
// Without them, berth reports what the Go toolchain recorded: the module
// version and the VCS revision of the build (go build in a git checkout).
var version, commit string

func newVersionCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print berth's version and the commit it was built from",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			bi, _ := debug.ReadBuildInfo()
			fmt.Fprintln(g.stdout, versionLine(version, commit, bi))
			return nil
		},
	}
}

// versionLine is "berth VERSION (commit SHA[, modified])": the stamped
// values first, else those of the build info, else "(devel)" and
// "unknown".
func versionLine(version, commit string, bi *debug.BuildInfo) string {
	modified := false
	if bi != nil {
		if version == "" && bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if commit == "" {
					commit = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if version == "" {
		version = "(devel)"
	}
	if commit == "" {
		commit = "unknown"
	}
	line := fmt.Sprintf("berth %s (commit %s", version, commit)
	if modified {
		line += ", modified"
	}
	return line + ")"
}
