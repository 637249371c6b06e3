package process

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/driver"
)

// Sweep stops the tasks this driver's log directory holds logs of that
// keep rejects: processes a control plane started and then lost track of
// (it crashed between starting a task and recording it). A task is known
// by its standard output, which is its log file LogDir/<task-id>.log, and
// each orphan's whole process group goes (its log writer, whose standard
// output is the log, included). It returns the ids of the tasks it stopped.
func (d *Driver) Sweep(ctx context.Context, keep func(taskID string) bool) ([]string, error) {
	if d.logDir == "" {
		return nil, nil
	}
	dir, err := filepath.Abs(d.logDir)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	ents, err := os.ReadDir("/proc")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no /proc (macOS): orphans cannot be found by their log
	}
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	var removed []string
	var errs []error
	seen := map[int]bool{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		id, ok := taskOfLog(pid, dir)
		if !ok || keep(id) {
			continue
		}
		// The task's group: the task leads it; its log writer and
		// children are members.
		pgid, err := unix.Getpgid(pid)
		if err != nil || pgid <= 1 || pgid == unix.Getpgrp() || seen[pgid] {
			continue
		}
		seen[pgid] = true
		st, err := readStat(pgid)
		if err != nil || st.exited() {
			// The task is gone but members of its group (its log writer,
			// a child) hold on: nothing of ours runs in it any more.
			if err := unix.Kill(-pgid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("kill what is left of task %s: %w", id, err))
				continue
			}
			removed = append(removed, id)
			continue
		}
		h := driver.Handle{Driver: Name, Version: HandleVersion, TaskID: id, PID: pgid, StartTime: st.StartTime}
		if err := d.Stop(ctx, h, 0); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, id)
	}
	return removed, errors.Join(errs...)
}

// taskOfLog returns the task id whose log file in dir is the process's
// standard output.
func taskOfLog(pid int, dir string) (string, bool) {
	target, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/1")
	if err != nil || filepath.Dir(target) != dir || !strings.HasSuffix(target, ".log") {
		return "", false
	}
	return strings.TrimSuffix(filepath.Base(target), ".log"), true
}
