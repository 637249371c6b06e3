//go:build darwin

package process

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// readStat reads what the driver uses of a process from the kernel
// (sysctl kern.proc.pid): its state and start time. macOS keeps no CPU
// times or resident size there, so those read 0.
func readStat(pid int) (procStat, error) {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
			return procStat{}, errNoProcess
		}
		return procStat{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	if kp.Proc.P_pid != int32(pid) {
		return procStat{}, errNoProcess
	}
	st := procStat{State: 'S'}
	if kp.Proc.P_stat == 5 { // SZOMB
		st.State = 'Z'
	}
	t := kp.Proc.P_starttime
	st.StartTime = uint64(t.Sec)*1_000_000 + uint64(t.Usec)
	return st, nil
}

// readUptime is unknown on macOS: CPU percentages over a task's lifetime
// read 0.
func readUptime() (float64, error) { return 0, errors.ErrUnsupported }

// setStdout makes fd the process's standard output.
func setStdout(fd int) error { return unix.Dup2(fd, 1) }
