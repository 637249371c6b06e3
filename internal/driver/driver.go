// Package driver defines the contract every task driver (process, docker)
// fulfils: start, wait, stop, inspect, recover. The control plane consumes it;
// drivers live in sub-packages.
package driver

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"
)

// ErrNotFound is returned by Recover and Inspect when the task a handle
// describes no longer exists (or a reused pid/container is not ours).
var ErrNotFound = errors.New("task not found")

// TaskSpec is everything a driver needs to start one task of a release.
type TaskSpec struct {
	ID      string // unique task id, e.g. "web-3-a1b2c3"
	Project string
	Service string
	Release int
	Commit  string

	// Command is run by /bin/sh -c (process driver) or overrides the image's
	// command (docker driver) when non-empty.
	Command string
	// Dir is the working directory of a process task.
	Dir string
	// Env is the full environment added to the task (spec env, secrets,
	// and BERTH_* variables). Drivers add PORT and BERTH_* themselves too.
	Env map[string]string
	// Artifact is the path of the built artifact (process driver); exposed as
	// BERTH_ARTIFACT.
	Artifact string
	// Image is the image reference (docker driver).
	Image string
	// ContainerPort is the port the service listens on inside a container
	// (docker driver); the process driver picks a free loopback port instead.
	ContainerPort int
	// LogDir is where the driver writes per-task log files.
	LogDir string

	// Secrets are environment variables whose values must not be stored
	// where the engine shows its configuration (docker inspect, the
	// engine's files on disk). The process driver adds them to the
	// environment like Env; the docker driver delivers them in a file on
	// tmpfs that an entry shim reads into the environment.
	Secrets map[string]string
	// HostNetwork runs a container in the host's network namespace
	// (docker driver), so it reaches the router and the other tasks on
	// loopback as a process task does. It listens on the loopback port
	// given in $PORT (picked by the driver), or on ContainerPort when
	// FixedPort is set. Ignored when Ports is not empty.
	HostNetwork bool
	// FixedPort means the image listens on ContainerPort whatever $PORT
	// says (an image berth did not build, such as postgres).
	FixedPort bool
	// Ports are published on 127.0.0.1 (docker driver; the container then
	// has its own network namespace, as docker's default bridge gives it).
	Ports []Port
	// Volumes are mounted into the container (docker driver).
	Volumes []Volume
}

// Port publishes a container port on a loopback host port.
type Port struct {
	Host      int    // 0: the same number as Container
	Container int    // required
	Protocol  string // "tcp" (default) or "udp"
}

// Volume is one mount of a container: a named volume (kept across tasks
// and deploys until removed by hand) or, with Bind, a host directory.
type Volume struct {
	Source   string // volume name, or absolute host path when Bind
	Target   string // absolute path in the container
	ReadOnly bool
	Bind     bool
}

// Handle is the persisted, versioned, opaque-to-the-control-plane record of
// a started task; Recover re-attaches to it after a control-plane restart.
type Handle struct {
	Driver  string `json:"driver"`
	Version int    `json:"version"`
	TaskID  string `json:"task_id"`
	// Addr is the loopback host:port the router sends traffic to.
	Addr string `json:"addr"`
	// Process driver.
	PID       int    `json:"pid,omitempty"`
	StartTime uint64 `json:"start_time,omitempty"` // /proc/PID/stat field 22
	LogPath   string `json:"log_path,omitempty"`
	// Docker driver.
	ContainerID string `json:"container_id,omitempty"`
}

// ExitStatus describes how a task ended.
type ExitStatus struct {
	Code      int    `json:"code"`
	Signal    string `json:"signal,omitempty"`
	Err       string `json:"error,omitempty"`
	OOMKilled bool   `json:"oom_killed,omitempty"`
}

// String renders the status for humans: "exit code 2", "killed by SIGKILL".
func (e ExitStatus) String() string {
	switch {
	case e.Err != "":
		return e.Err
	case e.Signal != "":
		return "killed by " + e.Signal
	default:
		return "exit code " + strconv.Itoa(e.Code)
	}
}

// State is what Inspect reports.
type State struct {
	Running bool
	Exit    *ExitStatus // set once the task has exited
	// CPU and memory usage when the driver can report them.
	CPUPercent  float64
	MemoryBytes uint64
	// LogLinesDropped is how many lines of the task's output its log
	// writer dropped rather than make the task wait (process driver).
	LogLinesDropped uint64
}

// LogOptions selects which log lines to return.
type LogOptions struct {
	Follow bool
	Tail   int // 0 = all
}

// Driver runs tasks. Implementations must be safe for concurrent use.
type Driver interface {
	// Name is "process" or "docker".
	Name() string
	// Start launches the task and returns once it is started (not healthy).
	Start(ctx context.Context, t TaskSpec) (Handle, error)
	// Wait blocks until the task exits or ctx ends.
	Wait(ctx context.Context, h Handle) (ExitStatus, error)
	// Stop sends a graceful stop, and kills after grace; it returns once the
	// task is gone. Stopping a task that is already gone is not an error.
	Stop(ctx context.Context, h Handle, grace time.Duration) error
	// Inspect reports the task's state; ErrNotFound when it is gone.
	Inspect(ctx context.Context, h Handle) (State, error)
	// Recover re-attaches to a task started by an earlier control plane;
	// ErrNotFound when the task is gone or the handle is stale.
	Recover(ctx context.Context, h Handle) error
	// Logs streams the task's combined stdout and stderr.
	Logs(ctx context.Context, h Handle, o LogOptions) (io.ReadCloser, error)
}
