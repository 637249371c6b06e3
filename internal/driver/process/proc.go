package process

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of the time fields in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports; reading it needs sysconf
// (cgo), so it is a constant here.
const clockTicks = 100

// procStat is the part of /proc/PID/stat the driver uses.
type procStat struct {
	State     byte   // field 3: R, S, D, Z, X, ...
	UTime     uint64 // field 14, clock ticks
	STime     uint64 // field 15, clock ticks
	StartTime uint64 // field 22, clock ticks since boot
	RSSPages  uint64 // field 24
}

// exited reports whether the process has terminated (zombie or dead) and
// only its /proc entry remains.
func (s procStat) exited() bool { return s.State == 'Z' || s.State == 'X' }

// parseStat parses the contents of /proc/PID/stat. Field 2, the command
// name, is wrapped in parentheses and may itself contain spaces and
// parentheses, so the fields after it are found after the LAST ')'.
func parseStat(b []byte) (procStat, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return procStat{}, errors.New("no ')' after the command name")
	}
	// fields[0] is field 3 (state), so field n is fields[n-3].
	fields := strings.Fields(string(b[end+1:]))
	if len(fields) < 24-3+1 {
		return procStat{}, fmt.Errorf("%d fields after the command name, want at least %d", len(fields), 24-3+1)
	}
	if len(fields[0]) != 1 {
		return procStat{}, fmt.Errorf("state %q is not one character", fields[0])
	}
	num := func(field int) (uint64, error) {
		v, err := strconv.ParseUint(fields[field-3], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("field %d: %w", field, err)
		}
		return v, nil
	}
	s := procStat{State: fields[0][0]}
	var err error
	for _, f := range []struct {
		n   int
		dst *uint64
	}{{14, &s.UTime}, {15, &s.STime}, {22, &s.StartTime}, {24, &s.RSSPages}} {
		if *f.dst, err = num(f.n); err != nil {
			return procStat{}, err
		}
	}
	return s, nil
}

// errNoProcess is returned by readStat when no process has the pid.
var errNoProcess = errors.New("no such process")
