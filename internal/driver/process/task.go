package process

import (
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/driver"
)

// exitUnknown is what Wait reports for an adopted task: it is not our child,
// so its exit code cannot be read.
const exitUnknown = "exited while adopted (exit code unknown)"

// taskKey identifies a process across pid reuse.
type taskKey struct {
	pid   int
	start uint64
}

// task is one process the driver watches, started or adopted.
type task struct {
	id      string
	pid     int
	start   uint64
	port    int
	adopted bool

	mu       sync.Mutex
	exited   bool      // the process has exited: its pid may be reused, never signal it
	exitedAt time.Time // when exited was set, for forgetting old tasks
	pidfd    int       // adopted tasks: open until exit; -1 for children
	// last CPU sample, for CPU percent between two Inspect calls
	cpuTicks uint64
	cpuAt    time.Time

	done   chan struct{} // closed once the process is gone and status is set
	status driver.ExitStatus
}

func newTask(id string, pid int, start uint64, port int, adopted bool) *task {
	return &task{id: id, pid: pid, start: start, port: port, adopted: adopted, pidfd: -1, done: make(chan struct{})}
}

func (t *task) key() taskKey { return taskKey{pid: t.pid, start: t.start} }

func (t *task) isExited() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.exited
}

// markExited records that the process is gone and closes its pidfd.
func (t *task) markExited(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.exited, t.exitedAt = true, now
	if t.pidfd >= 0 {
		_ = unix.Close(t.pidfd)
		t.pidfd = -1
	}
}

// exitedBefore reports whether the task exited before cutoff.
func (t *task) exitedBefore(cutoff time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.exited && t.exitedAt.Before(cutoff)
}

// signalGroup signals the task's process group unless the task has exited.
// The check and the kill happen under t.mu and markExited takes t.mu before
// a child is reaped, so a started task's pid is never signalled after it
// could have been reused. An adopted task is reaped by someone else, so its
// pidfd is polled right before the kill to keep that window to microseconds.
func (t *task) signalGroup(sig unix.Signal) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.exited {
		return nil
	}
	if t.pidfd >= 0 {
		fds := []unix.PollFd{{Fd: int32(t.pidfd), Events: unix.POLLIN}}
		if n, err := unix.Poll(fds, 0); err == nil && n > 0 {
			return nil // exited; the watcher is about to record it
		}
	}
	// The task is its own process group leader (Setpgid), so pgid == pid.
	if err := unix.Kill(-t.pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("send %s to process group %d: %w", unix.SignalName(sig), t.pid, err)
	}
	return nil
}

// cpuPercent returns the CPU used since the previous sample (or over the
// process's lifetime for the first one), in percent of one core.
func (t *task) cpuPercent(st procStat, now time.Time) float64 {
	ticks := st.UTime + st.STime
	t.mu.Lock()
	prevTicks, prevAt := t.cpuTicks, t.cpuAt
	t.cpuTicks, t.cpuAt = ticks, now
	t.mu.Unlock()
	elapsed := now.Sub(prevAt).Seconds()
	if prevAt.IsZero() || elapsed <= 0 || ticks < prevTicks {
		return lifetimeCPUPercent(st)
	}
	return float64(ticks-prevTicks) / clockTicks / elapsed * 100
}

// lifetimeCPUPercent is the process's average CPU use since it started;
// 0 when uptime cannot be read.
func lifetimeCPUPercent(st procStat) float64 {
	up, err := readUptime()
	if err != nil {
		return 0
	}
	elapsed := up - float64(st.StartTime)/clockTicks
	if elapsed <= 0 {
		return 0
	}
	return float64(st.UTime+st.STime) / clockTicks / elapsed * 100
}

// watchChild waits for a started task to exit, marks it exited, reaps it
// and publishes its exit status. How it waits is the platform's
// (reapChild): on Linux on a pidfd through the runtime's poller, so a
// running task costs no OS thread, and the child is not reaped until
// markExited has made signalGroup refuse to use its pid.
func (d *Driver) watchChild(t *task, cmd *exec.Cmd) {
	t.status = d.reapChild(t, cmd)
	d.log.Info("task exited", "task", t.id, "pid", t.pid, "status", t.status.String())
	close(t.done)
}

// watchAdopted waits for an adopted task to exit (waitAdopted: on Linux
// event-based on its pidfd, without an OS thread). It is not our child, so
// it is not ours to reap and its code is unknown. markExited closes the
// pidfd.
func (d *Driver) watchAdopted(t *task, pidfd int) {
	status := driver.ExitStatus{Code: -1, Err: exitUnknown}
	if err := waitAdopted(t.pid, pidfd); err != nil {
		d.log.Error("wait for adopted task", "task", t.id, "pid", t.pid, "err", err)
		status.Err = "lost track of adopted task: " + err.Error()
	}
	t.markExited(d.now())
	t.status = status
	d.log.Info("adopted task exited", "task", t.id, "pid", t.pid)
	close(t.done)
}

// exitStatus converts the result of cmd.Wait. A task killed by a signal gets
// the shell convention code 128+signal and the signal's name.
func exitStatus(err error) driver.ExitStatus {
	if err == nil {
		return driver.ExitStatus{}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			sig := unix.Signal(ws.Signal())
			return driver.ExitStatus{Code: 128 + int(sig), Signal: unix.SignalName(sig)}
		}
		return driver.ExitStatus{Code: ee.ExitCode()}
	}
	return driver.ExitStatus{Code: -1, Err: "wait: " + err.Error()}
}
