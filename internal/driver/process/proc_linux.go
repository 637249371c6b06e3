//go:build linux

package process

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// readStat reads and parses /proc/PID/stat; errNoProcess when the pid is gone.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, fs.ErrNotExist) {
		return procStat{}, errNoProcess
	}
	if err != nil {
		return procStat{}, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	s, err := parseStat(b)
	if err != nil {
		return procStat{}, fmt.Errorf("parse stat of pid %d: %w", pid, err)
	}
	return s, nil
}

// readUptime returns the seconds since boot from /proc/uptime.
func readUptime() (float64, error) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, fmt.Errorf("read uptime: %w", err)
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	up, err := strconv.ParseFloat(first, 64)
	if err != nil {
		return 0, fmt.Errorf("parse uptime %q: %w", first, err)
	}
	return up, nil
}

// setStdout makes fd the process's standard output.
func setStdout(fd int) error { return unix.Dup3(fd, 1, 0) }
