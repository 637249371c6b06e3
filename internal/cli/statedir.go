package cli

import (
	"fmt"
	"io"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/berth-dev/berth/internal/repo"
)

// ignoreStateDir makes sure the .gitignore beside the spec ignores berth's
// state directory (so `git status` stays clean and `berth deploy` needs no
// --allow-dirty after `berth up`), and says so when it added the line. A
// failure is only a warning: berth works without it.
func (g *globals) ignoreStateDir(w io.Writer) {
	dir, err := filepath.Abs(filepath.Dir(g.specPath()))
	if err != nil {
		return
	}
	added, err := repo.IgnoreState(dir)
	switch {
	case err != nil:
		fmt.Fprintf(w, "warning: could not add %s/ to .gitignore (%v): add it yourself so berth's state is never committed\n", repo.StateDirName, err)
	case added:
		fmt.Fprintf(w, "added %s/ to %s (berth's local state: never commit it)\n", repo.StateDirName, filepath.Join(dir, ".gitignore"))
	}
}

// keepRunningWithoutOutput makes a write to a closed stdout or stderr (the
// reader of `berth up | tee log` died on Ctrl-C) fail with EPIPE instead of
// killing berth with SIGPIPE, so berth goes on stopping its tasks whatever
// happens to its output. Output written after that is lost, nothing else.
func keepRunningWithoutOutput() { signal.Ignore(syscall.SIGPIPE) }
