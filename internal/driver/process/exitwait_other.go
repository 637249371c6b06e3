//go:build !linux

package process

import (
	"errors"
	"fmt"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/driver"
)

// The portable fallback of exitwait_linux.go, for systems without pidfds:
// a started task is reaped by a blocking wait (one thread per task), and an
// adopted one is polled.

// errNoPidfd says the platform has no pidfds: adopted tasks are polled.
var errNoPidfd = errors.New("no pidfd on this platform")

// openPidfd has nothing to open here.
func openPidfd(int) (int, error) { return -1, errNoPidfd }

// adoptedPoll is how often an adopted task is checked for its exit.
const adoptedPoll = 500 * time.Millisecond

// reapChild reaps a started task with a blocking wait and then marks it
// exited. Without WNOWAIT there is a moment, between the reap and
// markExited, in which signalGroup could signal a reused pid; Linux has
// no such window.
func (d *Driver) reapChild(t *task, cmd *exec.Cmd) driver.ExitStatus {
	st := exitStatus(cmd.Wait())
	t.markExited(d.now())
	return st
}

// waitAdopted polls an adopted task (not our child) until its pid is gone.
func waitAdopted(pid int, _ int) error {
	for {
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			return nil
		} else if err != nil && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("check pid %d: %w", pid, err)
		}
		time.Sleep(adoptedPoll)
	}
}
