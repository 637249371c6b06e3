package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/driver"
)

// Name is the driver name recorded in the handles this driver issues.
const Name = "process"

// HandleVersion is the version of the handles this driver issues and accepts.
const HandleVersion = 1

// ErrInvalidHandle is returned for a handle this driver did not issue (other
// driver, unknown version, no pid).
var ErrInvalidHandle = errors.New("invalid process handle")

// Config configures a process Driver.
type Config struct {
	// LogDir is where task logs (<task-id>.log) are written when the
	// TaskSpec does not name its own LogDir.
	LogDir string
	// Logger receives the driver's own log lines; nil discards them.
	Logger *slog.Logger
	// Now is the clock used for CPU sampling; nil means time.Now.
	Now func() time.Time
	// LogWriter is the command that runs a task's log writer (see
	// LogWriterMain), such as {"/usr/bin/berth", LogWriterCommand}: the task
	// writes into a pipe it reads, so the task never waits for its log
	// file and the file is rotated by size. Empty: the task writes to its
	// log file directly, unbounded.
	LogWriter []string
	// LogMaxBytes is the size a task's log file is rotated at
	// (DefaultLogMaxBytes when 0); LogFiles how many rotated files are
	// kept (DefaultLogFiles when 0; negative keeps none).
	LogMaxBytes int64
	LogFiles    int
}

// Driver runs tasks as local processes, each in its own process group, so
// they outlive a crash of the control plane and can be adopted again by
// pid and start time. It is safe for concurrent use.
type Driver struct {
	logDir      string
	log         *slog.Logger
	now         func() time.Time
	logWriter   []string
	logMaxBytes int64
	logFiles    int

	mu    sync.Mutex
	tasks map[taskKey]*task
}

var _ driver.Driver = (*Driver)(nil)

// New returns a process driver.
func New(cfg Config) *Driver {
	d := &Driver{logDir: cfg.LogDir, log: cfg.Logger, now: cfg.Now, tasks: map[taskKey]*task{},
		logWriter: cfg.LogWriter, logMaxBytes: cfg.LogMaxBytes, logFiles: cfg.LogFiles}
	if d.logMaxBytes <= 0 {
		d.logMaxBytes = DefaultLogMaxBytes
	}
	switch {
	case d.logFiles == 0:
		d.logFiles = DefaultLogFiles
	case d.logFiles < 0:
		d.logFiles = 0
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// Name returns "process".
func (d *Driver) Name() string { return Name }

// Start runs `/bin/sh -c 'exec <Command>'` (or the artifact when Command is
// empty) in its own process group, with output appended to
// <LogDir>/<task-id>.log and PORT set to a free loopback port. A command that
// is missing or exits at once is reported by Wait, not by Start.
func (d *Driver) Start(ctx context.Context, spec driver.TaskSpec) (driver.Handle, error) {
	h, err := d.start(ctx, spec)
	if err != nil {
		return driver.Handle{}, fmt.Errorf("start task %s: %w", spec.ID, err)
	}
	return h, nil
}

func (d *Driver) start(ctx context.Context, spec driver.TaskSpec) (driver.Handle, error) {
	if err := ctx.Err(); err != nil {
		return driver.Handle{}, err
	}
	if spec.ID == "" || spec.ID == "." || spec.ID == ".." || filepath.Base(spec.ID) != spec.ID {
		return driver.Handle{}, fmt.Errorf("task id %q is not usable as a file name", spec.ID)
	}
	command := spec.Command
	if command == "" {
		if spec.Artifact == "" {
			return driver.Handle{}, errors.New("neither a command nor an artifact to run")
		}
		command = shellQuote(spec.Artifact)
	}
	logDir := spec.LogDir
	if logDir == "" {
		logDir = d.logDir
	}
	if logDir == "" {
		return driver.Handle{}, errors.New("no log directory configured")
	}
	if err := os.MkdirAll(logDir, 0o750); err != nil {
		return driver.Handle{}, fmt.Errorf("create log directory: %w", err)
	}
	logPath := filepath.Join(logDir, spec.ID+".log")
	var logFile, logPipe *os.File
	if len(d.logWriter) > 0 {
		// The task writes into a pipe its log writer reads.
		r, w, err := os.Pipe()
		if err != nil {
			return driver.Handle{}, fmt.Errorf("log pipe: %w", err)
		}
		defer r.Close() // the writer holds its own copy
		logFile, logPipe = w, r
	} else {
		f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return driver.Handle{}, fmt.Errorf("open log: %w", err)
		}
		logFile = f
	}
	defer logFile.Close() // the child holds its own copy

	port, err := d.freePort()
	if err != nil {
		return driver.Handle{}, err
	}
	env, err := taskEnv(os.Environ(), spec, port)
	if err != nil {
		return driver.Handle{}, err
	}
	// Not exec.CommandContext: the task must outlive ctx and this process.
	cmd := exec.Command("/bin/sh", "-c", "exec "+command)
	cmd.Dir = spec.Dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return driver.Handle{}, err
	}
	pid := cmd.Process.Pid
	// The child is not reaped before watchChild runs, so its /proc entry
	// exists even if it has already exited.
	st, err := readStat(pid)
	if err == nil && logPipe != nil {
		err = d.startLogWriter(logPipe, logPath, pid)
	}
	if err != nil {
		_ = unix.Kill(-pid, unix.SIGKILL)
		_ = cmd.Wait()
		return driver.Handle{}, err
	}
	t := newTask(spec.ID, pid, st.StartTime, port, false)
	d.mu.Lock()
	d.forgetOldLocked()
	d.tasks[t.key()] = t
	d.mu.Unlock()
	go d.watchChild(t, cmd)

	d.log.Info("task started", "task", spec.ID, "pid", pid, "port", port, "log", logPath)
	return driver.Handle{
		Driver:    Name,
		Version:   HandleVersion,
		TaskID:    spec.ID,
		Addr:      net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		PID:       pid,
		StartTime: st.StartTime,
		LogPath:   logPath,
	}, nil
}

// startLogWriter starts the log writer of the task pid, reading its output
// from r, in the task's process group: it goes when the task's group is
// stopped, and outlives the control plane as the task does.
func (d *Driver) startLogWriter(r *os.File, logPath string, pid int) error {
	args := append(slices.Clone(d.logWriter[1:]), logPath, strconv.FormatInt(d.logMaxBytes, 10), strconv.Itoa(d.logFiles))
	cmd := exec.Command(d.logWriter[0], args...)
	cmd.Stdin = r
	cmd.Env = []string{"PATH=" + defaultPath}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pid}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start log writer: %w", err)
	}
	go func() { _ = cmd.Wait() }() // reap it; it exits when the task's output ends
	return nil
}

// freePort picks a free loopback port (listen on port 0, close, use) that no
// live task of this driver holds.
func (d *Driver) freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("pick a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if err := l.Close(); err != nil {
			return 0, fmt.Errorf("pick a free port: %w", err)
		}
		if !d.portTaken(port) {
			return port, nil
		}
	}
	return 0, errors.New("pick a free port: every port offered is held by a task")
}

func (d *Driver) portTaken(port int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range d.tasks {
		if t.port == port && !t.isExited() {
			return true
		}
	}
	return false
}

// Wait blocks until the task exits or ctx ends. For a task this driver
// started it reports the exit code or signal; for an adopted task the code is
// unknown (Code -1 and Err set). An untracked handle is adopted first.
func (d *Driver) Wait(ctx context.Context, h driver.Handle) (driver.ExitStatus, error) {
	t, err := d.track(h)
	if err != nil {
		return driver.ExitStatus{}, fmt.Errorf("wait for task %s: %w", h.TaskID, err)
	}
	select {
	case <-t.done:
		return t.status, nil
	case <-ctx.Done():
		return driver.ExitStatus{}, fmt.Errorf("wait for task %s: %w", h.TaskID, ctx.Err())
	}
}

// Stop sends SIGTERM to the task's process group, SIGKILL after grace (or
// when ctx ends), and returns once the task has exited. A task that is gone,
// or a stale handle whose pid now belongs to another process, is not an
// error, and that other process is never signalled.
func (d *Driver) Stop(ctx context.Context, h driver.Handle, grace time.Duration) error {
	t, err := d.track(h)
	if errors.Is(err, driver.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop task %s: %w", h.TaskID, err)
	}
	if err := t.signalGroup(unix.SIGTERM); err != nil {
		return fmt.Errorf("stop task %s: %w", h.TaskID, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-t.done:
		d.log.Info("task stopped", "task", h.TaskID, "status", t.status.String())
		return nil
	case <-timer.C:
		if grace > 0 {
			d.log.Warn("task outlived its grace after SIGTERM; killing", "task", h.TaskID, "grace", grace)
		}
	case <-ctx.Done():
	}
	if err := t.signalGroup(unix.SIGKILL); err != nil {
		return fmt.Errorf("kill task %s: %w", h.TaskID, err)
	}
	select {
	case <-t.done:
		d.log.Info("task killed", "task", h.TaskID, "status", t.status.String())
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop task %s: %w", h.TaskID, ctx.Err())
	}
}

// Inspect reports whether the task runs, with its CPU (percent of one core)
// and resident memory; ErrNotFound when the pid is gone or belongs to another
// process. A task this driver watched exit is reported with its exit status.
func (d *Driver) Inspect(ctx context.Context, h driver.Handle) (driver.State, error) {
	if err := checkHandle(h); err != nil {
		return driver.State{}, fmt.Errorf("inspect task %s: %w", h.TaskID, err)
	}
	t := d.tracked(h)
	st, err := readStat(h.PID)
	gone := errors.Is(err, errNoProcess) || (err == nil && (st.StartTime != h.StartTime || st.exited()))
	if err != nil && !gone {
		return driver.State{}, fmt.Errorf("inspect task %s: %w", h.TaskID, err)
	}
	if t != nil && (gone || t.isExited()) {
		// Children are reaped right after they exit, so done closes promptly.
		select {
		case <-t.done:
			status := t.status
			return driver.State{Exit: &status}, nil
		case <-ctx.Done():
			return driver.State{}, fmt.Errorf("inspect task %s: %w", h.TaskID, ctx.Err())
		}
	}
	if gone {
		return driver.State{}, fmt.Errorf("inspect task %s (pid %d): %w", h.TaskID, h.PID, driver.ErrNotFound)
	}
	state := driver.State{Running: true, MemoryBytes: st.RSSPages * uint64(os.Getpagesize())}
	if h.LogPath != "" {
		state.LogLinesDropped = readDropped(h.LogPath)
	}
	if t != nil {
		state.CPUPercent = t.cpuPercent(st, d.now())
	} else {
		state.CPUPercent = lifetimeCPUPercent(st)
	}
	return state, nil
}

// Recover adopts a task started by an earlier control plane: the pid must
// exist and have the handle's start time, otherwise ErrNotFound. Afterwards
// Wait, Stop and Inspect work on it.
func (d *Driver) Recover(ctx context.Context, h driver.Handle) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("recover task %s: %w", h.TaskID, err)
	}
	t, err := d.track(h)
	if err != nil {
		return fmt.Errorf("recover task %s: %w", h.TaskID, err)
	}
	if t.isExited() {
		return fmt.Errorf("recover task %s (pid %d): exited: %w", h.TaskID, h.PID, driver.ErrNotFound)
	}
	return nil
}

func checkHandle(h driver.Handle) error {
	if h.Driver != Name || h.Version != HandleVersion || h.PID <= 0 {
		return fmt.Errorf("%w: driver %q version %d pid %d", ErrInvalidHandle, h.Driver, h.Version, h.PID)
	}
	return nil
}

// forgetAfter is how long the driver remembers a task's exit status; after
// that a handle of the task is treated like any gone task (ErrNotFound).
const forgetAfter = 10 * time.Minute

// forgetOldLocked drops tasks that exited more than forgetAfter ago, so a
// long-running control plane does not accumulate them. d.mu must be held.
func (d *Driver) forgetOldLocked() {
	cutoff := d.now().Add(-forgetAfter)
	for k, t := range d.tasks {
		if t.exitedBefore(cutoff) {
			delete(d.tasks, k)
		}
	}
}

// tracked returns the task the driver already watches for h, or nil.
func (d *Driver) tracked(h driver.Handle) *task {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tasks[taskKey{pid: h.PID, start: h.StartTime}]
}

// track returns the watched task for h, adopting it when the driver does not
// watch it yet; ErrNotFound when the pid is gone or is another process.
func (d *Driver) track(h driver.Handle) (*task, error) {
	if err := checkHandle(h); err != nil {
		return nil, err
	}
	if t := d.tracked(h); t != nil {
		return t, nil
	}
	// Open the pidfd first, then check the start time: if it matches, the
	// pidfd refers to the handle's process (its pid cannot have been reused
	// in between, since that process still holds it).
	fd, err := openPidfd(h.PID)
	if errors.Is(err, errNoPidfd) {
		fd, err = -1, nil // polled instead (exitwait_other.go)
	}
	if errors.Is(err, unix.ESRCH) {
		return nil, fmt.Errorf("pid %d: %w", h.PID, driver.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open pidfd of pid %d: %w", h.PID, err)
	}
	st, err := readStat(h.PID)
	switch {
	case errors.Is(err, errNoProcess) || (err == nil && st.exited()):
		_ = unix.Close(fd)
		return nil, fmt.Errorf("pid %d exited: %w", h.PID, driver.ErrNotFound)
	case err != nil:
		_ = unix.Close(fd)
		return nil, err
	case st.StartTime != h.StartTime:
		_ = unix.Close(fd)
		return nil, fmt.Errorf("pid %d has start time %d, handle has %d (pid reused): %w",
			h.PID, st.StartTime, h.StartTime, driver.ErrNotFound)
	}
	port := 0
	if _, p, err := net.SplitHostPort(h.Addr); err == nil {
		port, _ = strconv.Atoi(p)
	}
	t := newTask(h.TaskID, h.PID, h.StartTime, port, true)
	t.pidfd = fd
	d.mu.Lock()
	if existing := d.tasks[t.key()]; existing != nil {
		d.mu.Unlock()
		_ = unix.Close(fd)
		return existing, nil
	}
	d.forgetOldLocked()
	d.tasks[t.key()] = t
	d.mu.Unlock()
	go d.watchAdopted(t, fd)
	d.log.Info("task adopted", "task", h.TaskID, "pid", h.PID)
	return t, nil
}
