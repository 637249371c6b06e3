package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/driver"
)

// Exec runs argv (no shell) as the task would: with its environment and in
// its working directory, read from /proc so adopted tasks work too. It
// returns nil when the command exits 0, else an error with the end of its
// output. The health checks of `health: {command: [...]}` use it.
func (d *Driver) Exec(ctx context.Context, h driver.Handle, argv []string) error {
	if len(argv) == 0 {
		return errors.New("exec: no command")
	}
	if err := checkHandle(h); err != nil {
		return fmt.Errorf("exec in task %s: %w", h.TaskID, err)
	}
	proc := "/proc/" + strconv.Itoa(h.PID)
	env, envErr := os.ReadFile(proc + "/environ")
	dir, dirErr := os.Readlink(proc + "/cwd")
	// Read the stat last: if the pid still has the handle's start time,
	// what was read above is the task's.
	st, err := readStat(h.PID)
	if err != nil || st.StartTime != h.StartTime || st.exited() || envErr != nil || dirErr != nil {
		return fmt.Errorf("exec in task %s (pid %d): %w", h.TaskID, h.PID, driver.ErrNotFound)
	}
	var vars []string
	for _, kv := range bytes.Split(env, []byte{0}) {
		if len(kv) > 0 {
			vars = append(vars, string(kv))
		}
	}
	path := argv[0]
	if !strings.Contains(path, "/") {
		for _, kv := range vars {
			if p, ok := strings.CutPrefix(kv, "PATH="); ok {
				path = lookIn(argv[0], p)
			}
		}
	}
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env, cmd.Dir = vars, dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if len(msg) > 200 {
			msg = msg[:200]
		}
		if msg != "" {
			return fmt.Errorf("%s: %w: %s", argv[0], err, msg)
		}
		return fmt.Errorf("%s: %w", argv[0], err)
	}
	return nil
}

// lookIn finds an executable name in the directories of path (a PATH
// value), or returns name unchanged for exec to report.
func lookIn(name, path string) string {
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			continue
		}
		p := dir + "/" + name
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return name
}
