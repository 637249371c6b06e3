package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/driver"
)

// Name is the driver's name, as stored in handles.
const Name = "docker"

// handleVersion is the version of the Handle layout this driver writes.
const handleVersion = 1

// Labels put on every task container; adoption and sweeping rely on them.
const (
	LabelProject = "berth.project"
	LabelService = "berth.service"
	LabelRelease = "berth.release"
	LabelCommit  = "berth.commit"
	LabelTask    = "berth.task"
	// LabelAddr is the loopback address of a task in the host's network
	// namespace (no published port tells it).
	LabelAddr = "berth.addr"
)

// pingTimeout bounds the engine check in New.
const pingTimeout = 5 * time.Second

// startAttempts is how many free ports Start tries before giving up.
const startAttempts = 3

// exitCacheSize bounds how many exit statuses of removed containers are kept
// for a late Wait.
const exitCacheSize = 1024

// Config configures a Driver.
type Config struct {
	// Project scopes every container the driver creates, lists and sweeps.
	Project string
	// Logger receives the driver's logs; slog.Default() when nil.
	Logger *slog.Logger
	// Shim is a statically linked berth binary, mounted into containers
	// with secrets as their entry shim (see package entry). Default: the
	// running executable, when it is static (`make build` builds it so).
	Shim string
	// SecretsDir is the host directory (on tmpfs) holding each task's
	// secrets file while it runs. Default /dev/shm/berth-<project>.
	SecretsDir string
	// LogMaxBytes and LogFiles bound each container's log as for process
	// tasks (engine's json-file driver: max-size, max-file counts the
	// current file too); 0 means 10 MiB and 3 rotated files, a negative
	// LogFiles none.
	LogMaxBytes int64
	LogFiles    int
}

// Driver runs tasks as Docker containers. It is safe for concurrent use.
type Driver struct {
	cli        *client.Client
	project    string
	log        *slog.Logger
	shim       string
	secretsDir string
	logConfig  container.LogConfig

	mu        sync.Mutex
	exits     map[string]driver.ExitStatus // of removed containers, by exitKey
	exitOrder []string
	cpu       map[string]cpuSample // last stats sample by container ID
}

type cpuSample struct {
	container, system uint64
}

var _ driver.Driver = (*Driver)(nil)

// New connects to the Docker engine named by the environment (DOCKER_HOST
// and friends) and checks that it answers.
func New(ctx context.Context, cfg Config) (*Driver, error) {
	if cfg.Project == "" {
		return nil, errors.New("docker driver: project is required")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := cli.Ping(pingCtx); err != nil {
		cli.Close()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, fmt.Errorf("%w at %s: no answer within %s: is dockerd running? try `docker info`",
				ErrEngineUnreachable, cli.DaemonHost(), pingTimeout)
		}
		return nil, fmt.Errorf("docker driver: %w", engineError(cli.DaemonHost(), err))
	}
	secretsDir := cfg.SecretsDir
	if secretsDir == "" {
		secretsDir = filepath.Join("/dev/shm", "berth-"+cfg.Project)
	}
	logMax, logFiles := cfg.LogMaxBytes, cfg.LogFiles
	if logMax <= 0 {
		logMax = 10 << 20
	}
	switch {
	case logFiles == 0:
		logFiles = 3
	case logFiles < 0:
		logFiles = 0 // keep only the current file
	}
	return &Driver{
		logConfig: container.LogConfig{Type: "json-file", Config: map[string]string{
			"max-size": strconv.FormatInt(logMax, 10),
			"max-file": strconv.Itoa(logFiles + 1),
			// A container never waits for its log: lines are dropped when
			// the engine's buffer is full.
			"mode":            "non-blocking",
			"max-buffer-size": "4m",
		}},
		cli:        cli,
		project:    cfg.Project,
		log:        logger.With("driver", Name, "project", cfg.Project),
		shim:       cfg.Shim,
		secretsDir: secretsDir,
		exits:      map[string]driver.ExitStatus{},
		cpu:        map[string]cpuSample{},
	}, nil
}

// Close releases the engine connection.
func (d *Driver) Close() error { return d.cli.Close() }

// Name returns "docker".
func (d *Driver) Name() string { return Name }

// ContainerName is the name of the container running task taskID.
func ContainerName(project, taskID string) string {
	return "berth-" + project + "-" + taskID
}

// Start creates and starts the task's container and returns once it runs.
// With HostNetwork (and no Ports) the container shares the host's network
// namespace and listens on a free loopback port given in $PORT (or on its
// fixed ContainerPort); otherwise its ContainerPort is published on a free
// loopback port, with Ports beside it. Secrets reach the task through a
// file on tmpfs read by the entry shim, never through the container's
// configuration.
func (d *Driver) Start(ctx context.Context, t driver.TaskSpec) (driver.Handle, error) {
	if t.Image == "" {
		return driver.Handle{}, fmt.Errorf("start task %s: no image", t.ID)
	}
	if t.ContainerPort <= 0 && (!t.HostNetwork || t.FixedPort || len(t.Ports) > 0) {
		return driver.Handle{}, fmt.Errorf("start task %s: container port is required", t.ID)
	}
	cfg, err := d.containerConfig(t)
	if err != nil {
		return driver.Handle{}, fmt.Errorf("start task %s: %w", t.ID, err)
	}
	mounts, err := d.mounts(t)
	if err != nil {
		return driver.Handle{}, fmt.Errorf("start task %s: %w", t.ID, err)
	}
	if len(t.Secrets) > 0 {
		m, err := d.withSecrets(ctx, t, cfg)
		if err != nil {
			return driver.Handle{}, fmt.Errorf("start task %s: %w", t.ID, err)
		}
		mounts = append(mounts, m...)
	}
	var lastErr error
	for range startAttempts {
		h, err := d.startOnce(ctx, t, cfg, mounts)
		if err == nil {
			return h, nil
		}
		if !errors.Is(err, ErrPortTaken) {
			return driver.Handle{}, fmt.Errorf("start task %s: %w", t.ID, err)
		}
		lastErr = err
		d.log.Warn("host port taken, retrying with another", "task", t.ID, "error", err)
	}
	d.removeSecrets(t.ID)
	return driver.Handle{}, fmt.Errorf("start task %s: %w", t.ID, lastErr)
}

// hostNetwork reports whether t's container joins the host's network
// namespace.
func hostNetwork(t driver.TaskSpec) bool { return t.HostNetwork && len(t.Ports) == 0 }

func (d *Driver) containerConfig(t driver.TaskSpec) (*container.Config, error) {
	env := maps.Clone(t.Env)
	if env == nil {
		env = map[string]string{}
	}
	for k := range t.Secrets {
		delete(env, k) // never in the configuration, even if also given as Env
	}
	env["PORT"] = strconv.Itoa(t.ContainerPort)
	env["BERTH_SERVICE"] = t.Service
	env["BERTH_RELEASE"] = strconv.Itoa(t.Release)
	env["BERTH_COMMIT"] = t.Commit
	env["BERTH_TASK"] = t.ID
	envList := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		envList = append(envList, k+"="+env[k])
	}
	cfg := &container.Config{
		Image: t.Image,
		Env:   envList,
		Labels: map[string]string{
			LabelProject: d.project,
			LabelService: t.Service,
			LabelRelease: strconv.Itoa(t.Release),
			LabelCommit:  t.Commit,
			LabelTask:    t.ID,
		},
	}
	if t.Command != "" {
		words, err := splitWords(t.Command)
		if err != nil {
			return nil, err
		}
		cfg.Cmd = words
	}
	if !hostNetwork(t) {
		cfg.ExposedPorts = nat.PortSet{nat.Port(strconv.Itoa(t.ContainerPort) + "/tcp"): struct{}{}}
		for _, p := range t.Ports {
			cfg.ExposedPorts[portKey(p)] = struct{}{}
		}
	}
	return cfg, nil
}

func portKey(p driver.Port) nat.Port {
	proto := p.Protocol
	if proto == "" {
		proto = "tcp"
	}
	return nat.Port(strconv.Itoa(p.Container) + "/" + proto)
}

// VolumeName is the engine's name of a project's named volume: scoped by
// project as docker compose scopes it, so two projects' "data" differ.
func VolumeName(project, name string) string { return project + "_" + name }

// mounts converts the task's volumes: named volumes are scoped by project
// and outlive the container (kept across deploys); binds need an absolute
// host path.
func (d *Driver) mounts(t driver.TaskSpec) ([]mount.Mount, error) {
	var out []mount.Mount
	for _, v := range t.Volumes {
		if !path.IsAbs(v.Target) {
			return nil, fmt.Errorf("volume %s: target %q is not an absolute path in the container", v.Source, v.Target)
		}
		m := mount.Mount{Target: v.Target, ReadOnly: v.ReadOnly}
		if v.Bind {
			if !filepath.IsAbs(v.Source) {
				return nil, fmt.Errorf("bind mount %q: not an absolute host path", v.Source)
			}
			m.Type, m.Source = mount.TypeBind, v.Source
		} else {
			if v.Source == "" {
				return nil, fmt.Errorf("volume for %s: no name", v.Target)
			}
			m.Type, m.Source = mount.TypeVolume, VolumeName(d.project, v.Source)
			m.VolumeOptions = &mount.VolumeOptions{Labels: map[string]string{LabelProject: d.project}}
		}
		out = append(out, m)
	}
	return out, nil
}

// startOnce creates and starts the container on one free port; on failure it
// removes what it created.
func (d *Driver) startOnce(ctx context.Context, t driver.TaskSpec, cfg *container.Config, mounts []mount.Mount) (driver.Handle, error) {
	hostCfg := &container.HostConfig{Mounts: mounts, LogConfig: d.logConfig}
	var hostPort int
	if hostNetwork(t) {
		hostCfg.NetworkMode = "host"
		hostPort = t.ContainerPort
		if !t.FixedPort {
			var err error
			if hostPort, err = freePort(); err != nil {
				return driver.Handle{}, err
			}
		}
		c := *cfg
		c.Env = slices.Clone(cfg.Env)
		for i, kv := range c.Env {
			if strings.HasPrefix(kv, "PORT=") {
				c.Env[i] = "PORT=" + strconv.Itoa(hostPort)
			}
		}
		cfg = &c
	} else {
		var err error
		if hostPort, err = freePort(); err != nil {
			return driver.Handle{}, err
		}
		port := nat.Port(strconv.Itoa(t.ContainerPort) + "/tcp")
		hostCfg.PortBindings = nat.PortMap{port: []nat.PortBinding{{HostIP: "127.0.0.1", HostPort: strconv.Itoa(hostPort)}}}
		for _, p := range t.Ports {
			hp := p.Host
			if hp == 0 {
				hp = p.Container
			}
			hostCfg.PortBindings[portKey(p)] = append(hostCfg.PortBindings[portKey(p)], nat.PortBinding{HostIP: "127.0.0.1", HostPort: strconv.Itoa(hp)})
		}
	}
	labelled := *cfg
	labelled.Labels = maps.Clone(cfg.Labels)
	labelled.Labels[LabelAddr] = net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort))
	cfg = &labelled
	name := ContainerName(d.project, t.ID)
	created, err := d.cli.ContainerCreate(ctx, cfg, hostCfg, nil, nil, name)
	if err != nil {
		switch {
		case cerrdefs.IsNotFound(err):
			return driver.Handle{}, fmt.Errorf("image %s %w: run `berth build` or set registry: in berth.yaml", t.Image, ErrImageMissing)
		case cerrdefs.IsConflict(err):
			return driver.Handle{}, fmt.Errorf("container %s already exists: run `berth status`, or remove it with `docker rm -f %s`: %w", name, name, err)
		}
		return driver.Handle{}, fmt.Errorf("create container %s: %w", name, d.engineError(err))
	}
	if err := d.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		d.remove(context.WithoutCancel(ctx), created.ID)
		if isPortConflict(err) && len(t.Ports) == 0 {
			return driver.Handle{}, fmt.Errorf("%w: 127.0.0.1:%d: %v", ErrPortTaken, hostPort, err)
		}
		return driver.Handle{}, fmt.Errorf("start container %s: %w", name, d.engineError(err))
	}
	h := driver.Handle{
		Driver:      Name,
		Version:     handleVersion,
		TaskID:      t.ID,
		Addr:        net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort)),
		ContainerID: created.ID,
	}
	d.log.Info("task started", "task", t.ID, "service", t.Service, "release", t.Release,
		"image", t.Image, "addr", h.Addr, "container", shortID(created.ID))
	return h, nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Wait blocks until the task's container stops or ctx ends.
func (d *Driver) Wait(ctx context.Context, h driver.Handle) (driver.ExitStatus, error) {
	if _, err := d.inspectOwned(ctx, h); err != nil {
		if st, ok := d.cachedExit(h); ok {
			return st, nil
		}
		return driver.ExitStatus{}, fmt.Errorf("wait task %s: %w", h.TaskID, err)
	}
	resC, errC := d.cli.ContainerWait(ctx, h.ContainerID, container.WaitConditionNotRunning)
	select {
	case res := <-resC:
		st := exitStatus(int(res.StatusCode))
		if res.Error != nil && res.Error.Message != "" {
			st.Err = res.Error.Message
		}
		if insp, err := d.cli.ContainerInspect(context.WithoutCancel(ctx), h.ContainerID); err == nil && insp.State != nil {
			st.OOMKilled = insp.State.OOMKilled
		} else if cached, ok := d.cachedExit(h); ok {
			st.OOMKilled = cached.OOMKilled
		}
		return st, nil
	case err := <-errC:
		if cerrdefs.IsNotFound(err) {
			if st, ok := d.cachedExit(h); ok {
				return st, nil
			}
			return driver.ExitStatus{}, fmt.Errorf("wait task %s: %w", h.TaskID, driver.ErrNotFound)
		}
		if ctx.Err() != nil {
			return driver.ExitStatus{}, fmt.Errorf("wait task %s: %w", h.TaskID, ctx.Err())
		}
		return driver.ExitStatus{}, fmt.Errorf("wait task %s: %w", h.TaskID, d.engineError(err))
	}
}

// exitStatus maps a container exit code to an ExitStatus; codes above 128
// are the engine's way of saying a signal ended the task.
func exitStatus(code int) driver.ExitStatus {
	st := driver.ExitStatus{Code: code}
	if code > 128 && code < 128+65 {
		st.Signal = unix.SignalName(unix.Signal(code - 128))
	}
	return st
}

// Stop sends SIGTERM, waits up to grace (rounded up to whole seconds, as the
// engine counts them), kills, then removes the container.
func (d *Driver) Stop(ctx context.Context, h driver.Handle, grace time.Duration) error {
	if _, err := d.inspectOwned(ctx, h); errors.Is(err, driver.ErrNotFound) {
		return nil // gone, or not ours: never touch it
	} else if err != nil {
		return fmt.Errorf("stop task %s: %w", h.TaskID, err)
	}
	secs := int(math.Ceil(grace.Seconds()))
	if secs < 0 {
		secs = 0
	}
	err := d.cli.ContainerStop(ctx, h.ContainerID, container.StopOptions{Signal: "SIGTERM", Timeout: &secs})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop task %s: %w", h.TaskID, d.engineError(err))
	}
	if insp, err := d.cli.ContainerInspect(ctx, h.ContainerID); err == nil && insp.State != nil && !insp.State.Running {
		st := exitStatus(insp.State.ExitCode)
		st.OOMKilled = insp.State.OOMKilled
		d.rememberExit(h, st)
	}
	if err := d.cli.ContainerRemove(ctx, h.ContainerID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove task %s: %w", h.TaskID, d.engineError(err))
	}
	d.mu.Lock()
	delete(d.cpu, h.ContainerID)
	d.mu.Unlock()
	d.removeSecrets(h.TaskID)
	d.log.Info("task stopped", "task", h.TaskID, "container", shortID(h.ContainerID))
	return nil
}

func (d *Driver) rememberExit(h driver.Handle, st driver.ExitStatus) {
	key := exitKey(h)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.exits[key]; !ok {
		d.exitOrder = append(d.exitOrder, key)
	}
	d.exits[key] = st
	if len(d.exitOrder) > exitCacheSize {
		delete(d.exits, d.exitOrder[0])
		d.exitOrder = d.exitOrder[1:]
	}
}

func (d *Driver) cachedExit(h driver.Handle) (driver.ExitStatus, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.exits[exitKey(h)]
	return st, ok
}

// exitKey identifies a task in the exit cache: its container and task id,
// so a stale handle never sees another task's exit.
func exitKey(h driver.Handle) string { return h.ContainerID + "/" + h.TaskID }

// Inspect reports whether the task runs, how it ended, and its CPU and
// memory use. CPU is measured between two Inspect calls (the engine's
// one-shot stats carry no previous sample), so the first call reports 0.
func (d *Driver) Inspect(ctx context.Context, h driver.Handle) (driver.State, error) {
	insp, err := d.inspectOwned(ctx, h)
	if err != nil {
		return driver.State{}, fmt.Errorf("inspect task %s: %w", h.TaskID, err)
	}
	var st driver.State
	if insp.State == nil || !insp.State.Running {
		st.Exit = &driver.ExitStatus{}
		if insp.State != nil {
			*st.Exit = exitStatus(insp.State.ExitCode)
			st.Exit.OOMKilled = insp.State.OOMKilled
			st.Exit.Err = insp.State.Error
		}
		return st, nil
	}
	st.Running = true
	stats, err := d.stats(ctx, h.ContainerID)
	if err != nil {
		// Usage is best effort: the task runs whatever the stats say.
		d.log.Debug("stats unavailable", "task", h.TaskID, "error", err)
		return st, nil
	}
	st.MemoryBytes = memoryUsage(stats.MemoryStats)
	st.CPUPercent = d.cpuPercent(h.ContainerID, stats.CPUStats)
	return st, nil
}

func (d *Driver) stats(ctx context.Context, id string) (container.StatsResponse, error) {
	resp, err := d.cli.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return container.StatsResponse{}, d.engineError(err)
	}
	defer resp.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return container.StatsResponse{}, fmt.Errorf("decode stats: %w", err)
	}
	return s, nil
}

// cpuPercent compares s with the previous sample of the container, the way
// `docker stats` does: container time over system time, times the CPUs.
func (d *Driver) cpuPercent(id string, s container.CPUStats) float64 {
	cur := cpuSample{container: s.CPUUsage.TotalUsage, system: s.SystemUsage}
	d.mu.Lock()
	prev, ok := d.cpu[id]
	d.cpu[id] = cur
	d.mu.Unlock()
	if !ok || cur.system <= prev.system || cur.container < prev.container {
		return 0
	}
	cpus := float64(s.OnlineCPUs)
	if cpus == 0 {
		cpus = float64(len(s.CPUUsage.PercpuUsage))
	}
	if cpus == 0 {
		cpus = 1
	}
	return float64(cur.container-prev.container) / float64(cur.system-prev.system) * cpus * 100
}

// memoryUsage is usage minus the inactive page cache, as `docker stats`
// reports it (cgroup v1 and v2 name the counter differently).
func memoryUsage(m container.MemoryStats) uint64 {
	inactive, ok := m.Stats["total_inactive_file"]
	if !ok {
		inactive = m.Stats["inactive_file"]
	}
	if inactive < m.Usage {
		return m.Usage - inactive
	}
	return m.Usage
}

// Recover checks that the handle's container still exists and belongs to
// this project's task; ErrNotFound otherwise.
func (d *Driver) Recover(ctx context.Context, h driver.Handle) error {
	if _, err := d.inspectOwned(ctx, h); err != nil {
		return fmt.Errorf("recover task %s: %w", h.TaskID, err)
	}
	return nil
}

// inspectOwned inspects the handle's container and checks its labels.
func (d *Driver) inspectOwned(ctx context.Context, h driver.Handle) (container.InspectResponse, error) {
	if h.ContainerID == "" {
		return container.InspectResponse{}, fmt.Errorf("%w: handle has no container id", driver.ErrNotFound)
	}
	insp, err := d.cli.ContainerInspect(ctx, h.ContainerID)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return container.InspectResponse{}, fmt.Errorf("container %s: %w", shortID(h.ContainerID), driver.ErrNotFound)
		}
		return container.InspectResponse{}, d.engineError(err)
	}
	var labels map[string]string
	if insp.Config != nil {
		labels = insp.Config.Labels
	}
	if labels[LabelProject] != d.project || labels[LabelTask] != h.TaskID {
		return container.InspectResponse{}, fmt.Errorf("container %s belongs to project %q task %q: %w",
			shortID(h.ContainerID), labels[LabelProject], labels[LabelTask], driver.ErrNotFound)
	}
	return insp, nil
}

// Logs streams the container's stdout and stderr, demultiplexed into one
// stream.
func (d *Driver) Logs(ctx context.Context, h driver.Handle, o driver.LogOptions) (io.ReadCloser, error) {
	if _, err := d.inspectOwned(ctx, h); err != nil {
		return nil, fmt.Errorf("logs of task %s: %w", h.TaskID, err)
	}
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: o.Follow}
	if o.Tail > 0 {
		opts.Tail = strconv.Itoa(o.Tail)
	}
	rc, err := d.cli.ContainerLogs(ctx, h.ContainerID, opts)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("logs of task %s: %w", h.TaskID, driver.ErrNotFound)
		}
		return nil, fmt.Errorf("logs of task %s: %w", h.TaskID, d.engineError(err))
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, rc)
		pw.CloseWithError(err)
	}()
	return &logStream{PipeReader: pr, src: rc}, nil
}

// logStream closes the engine's stream along with the demultiplexed pipe.
type logStream struct {
	*io.PipeReader
	src io.Closer
}

func (l *logStream) Close() error {
	err := l.src.Close()
	l.PipeReader.Close()
	return err
}

// Task describes one container of the project, as found by List.
type Task struct {
	TaskID  string
	Service string
	Release int
	Commit  string
	Running bool
	// Handle re-creates the handle the task was started with.
	Handle driver.Handle
}

// List returns every container of the project, running or not.
func (d *Driver) List(ctx context.Context) ([]Task, error) {
	cs, err := d.cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelProject+"="+d.project)),
	})
	if err != nil {
		return nil, fmt.Errorf("list containers of project %s: %w", d.project, d.engineError(err))
	}
	tasks := make([]Task, 0, len(cs))
	for _, c := range cs {
		release, _ := strconv.Atoi(c.Labels[LabelRelease])
		t := Task{
			TaskID:  c.Labels[LabelTask],
			Service: c.Labels[LabelService],
			Release: release,
			Commit:  c.Labels[LabelCommit],
			Running: c.State == container.StateRunning,
			Handle: driver.Handle{
				Driver:      Name,
				Version:     handleVersion,
				TaskID:      c.Labels[LabelTask],
				ContainerID: c.ID,
			},
		}
		t.Handle.Addr = c.Labels[LabelAddr]
		for _, p := range c.Ports {
			if t.Handle.Addr == "" && p.PublicPort != 0 && p.IP == "127.0.0.1" {
				t.Handle.Addr = net.JoinHostPort(p.IP, strconv.Itoa(int(p.PublicPort)))
				break
			}
		}
		tasks = append(tasks, t)
	}
	slices.SortFunc(tasks, func(a, b Task) int {
		if a.TaskID < b.TaskID {
			return -1
		}
		if a.TaskID > b.TaskID {
			return 1
		}
		return 0
	})
	return tasks, nil
}

// Sweep force-removes the project's containers whose task keep does not
// know (orphans left by a crash) and returns their task ids.
func (d *Driver) Sweep(ctx context.Context, keep func(taskID string) bool) ([]string, error) {
	tasks, err := d.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	var removed []string
	var errs []error
	for _, t := range tasks {
		if keep(t.TaskID) {
			continue
		}
		if err := d.cli.ContainerRemove(ctx, t.Handle.ContainerID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove orphan task %s: %w", t.TaskID, d.engineError(err)))
			continue
		}
		d.removeSecrets(t.TaskID)
		d.log.Info("orphan task removed", "task", t.TaskID, "service", t.Service, "container", shortID(t.Handle.ContainerID))
		removed = append(removed, t.TaskID)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("sweep: %w", err)
	}
	return removed, nil
}

// remove force-removes a container, logging failures; used to clean up
// after a failed start.
func (d *Driver) remove(ctx context.Context, id string) {
	if err := d.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		d.log.Warn("remove container after failed start", "container", shortID(id), "error", err)
	}
}

func (d *Driver) engineError(err error) error { return engineError(d.cli.DaemonHost(), err) }

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
