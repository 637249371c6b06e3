package cli

import (
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/driver/docker/entry"
)

func init() { extraCommands = append(extraCommands, newEntryCommand) }

// newEntryCommand is the hidden `berth __entry FILE -- ARGV...`: the entry
// shim of containers with secrets (see package entry). It runs inside the
// container, from the berth binary the docker driver mounts there.
func newEntryCommand(*globals) *cobra.Command {
	return &cobra.Command{
		Use:                entry.Command + " FILE -- COMMAND [ARG...]",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			return entry.Main(args)
		},
	}
}
