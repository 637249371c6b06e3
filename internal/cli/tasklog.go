package cli

import (
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/driver/process"
)

func init() { extraCommands = append(extraCommands, newTaskLogCommand) }

// newTaskLogCommand is the hidden `berth __tasklog PATH MAX_BYTES FILES`:
// the log writer of one process task (see process.LogWriterMain), started
// by the process driver in the task's process group.
func newTaskLogCommand(*globals) *cobra.Command {
	return &cobra.Command{
		Use:                process.LogWriterCommand + " PATH MAX_BYTES FILES",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			return process.LogWriterMain(args)
		},
	}
}

// taskLogWriter is the command the process driver runs as each task's log
// writer: this berth binary. Tests, whose binary is not berth, replace it.
var taskLogWriter = func() []string {
	exe, err := os.Executable()
	if err != nil {
		return nil // tasks write their log files directly
	}
	return []string{exe, process.LogWriterCommand}
}

// taskLogLimits reads the rotation of task logs from the environment:
// BERTH_LOG_MAX_SIZE (bytes, or with a K, M or G suffix; default 10M) and
// BERTH_LOG_FILES (rotated files kept per task; default 3, 0 keeps none).
func taskLogLimits() (maxBytes int64, files int, err error) {
	if v := os.Getenv("BERTH_LOG_MAX_SIZE"); v != "" {
		if maxBytes, err = parseSize(v); err != nil {
			return 0, 0, fmt.Errorf("BERTH_LOG_MAX_SIZE=%s: %w", v, err)
		}
	}
	if v := os.Getenv("BERTH_LOG_FILES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, fmt.Errorf("BERTH_LOG_FILES=%s: want a number of files, 0 or more", v)
		}
		files = n
		if n == 0 {
			files = -1 // the driver's "keep none"
		}
	}
	return maxBytes, files, nil
}

// parseSize reads "10485760", "512K", "10M" or "1G" (powers of 1024).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult, s = 1<<10, s[:len(s)-1]
	case 'm', 'M':
		mult, s = 1<<20, s[:len(s)-1]
	case 'g', 'G':
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("want a size such as 10M, 512K or a number of bytes")
	}
	return n * mult, nil
}
