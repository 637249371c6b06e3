//go:build linux

package process

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/driver"
)

// reapChild waits for a started task's exit on a pidfd parked on the
// runtime's poller (falling back to a blocking waitid when no pidfd can be
// had), marks the task exited, and only then reaps it.
func (d *Driver) reapChild(t *task, cmd *exec.Cmd) driver.ExitStatus {
	fd, err := openPidfd(t.pid)
	if err == nil {
		err = waitPidfd(fd)
	}
	if err != nil {
		// Wait without reaping (WNOWAIT) the blocking way, holding a thread.
		d.log.Debug("wait for task on a pidfd", "task", t.id, "pid", t.pid, "err", err)
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, t.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if !errors.Is(err, unix.EINTR) {
				if err != nil {
					d.log.Error("wait for task without reaping", "task", t.id, "pid", t.pid, "err", err)
				}
				break
			}
		}
	}
	t.markExited(d.now())
	return exitStatus(cmd.Wait())
}

// waitAdopted waits for an adopted task's exit on a duplicate of its pidfd
// (the task keeps the original for signalGroup), through the poller.
func waitAdopted(_ int, pidfd int) error {
	dup, err := unix.FcntlInt(uintptr(pidfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("dup pidfd: %w", err)
	}
	return waitPidfd(dup)
}

// waitPidfd blocks until the process behind pidfd has exited, without
// holding an OS thread: the pidfd is made non-blocking and handed to the Go
// runtime's poller (epoll), so a waiting task costs a parked goroutine, not
// a thread blocked in waitid or poll. It takes ownership of pidfd and
// closes it. When the poller refuses the fd it falls back to a blocking
// poll (one thread, as before).
func waitPidfd(pidfd int) error {
	if err := unix.SetNonblock(pidfd, true); err != nil {
		_ = unix.Close(pidfd)
		return fmt.Errorf("pidfd non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(pidfd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("pidfd: %w", err)
	}
	var pollErr error
	readErr := rc.Read(func(fd uintptr) bool {
		exited, err := pidfdReady(int(fd), 0)
		if err != nil {
			pollErr = err
			return true
		}
		return exited
	})
	if pollErr != nil {
		return pollErr
	}
	if readErr == nil {
		return nil
	}
	// Not pollable by the runtime: wait the blocking way.
	var blockErr error
	if err := rc.Control(func(fd uintptr) {
		for {
			exited, err := pidfdReady(int(fd), -1)
			if err != nil || exited {
				blockErr = err
				return
			}
		}
	}); err != nil {
		return fmt.Errorf("pidfd: %w (poller: %v)", err, readErr)
	}
	return blockErr
}

// pidfdReady polls a pidfd: true once its process has exited.
func pidfdReady(fd int, timeoutMs int) (bool, error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, timeoutMs)
	if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("poll pidfd: %w", err)
	}
	return n > 0 && fds[0].Revents != 0, nil
}

// openPidfd opens a pidfd for pid (which must be our unreaped child or a
// process checked by start time right after).
func openPidfd(pid int) (int, error) { return unix.PidfdOpen(pid, 0) }

// errNoPidfd is never returned on Linux.
var errNoPidfd = errors.New("no pidfd on this platform")
