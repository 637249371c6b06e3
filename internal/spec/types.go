package spec

import "time"

// Spec is a loaded, defaulted and validated berth.yaml.
type Spec struct {
	// Path is the absolute path of the spec file; Root is its directory,
	// against which every relative path in the spec is resolved.
	Path string `yaml:"-" json:"-"`
	Root string `yaml:"-" json:"-"`

	Project  string `yaml:"project" json:"project"`
	Registry string `yaml:"registry,omitempty" json:"registry,omitempty"`
	Engine   string `yaml:"engine,omitempty" json:"engine,omitempty"` // process | docker | auto
	// Listen is the router's listen address (default 127.0.0.1:8080).
	Listen string `yaml:"listen,omitempty" json:"listen,omitempty"`
	// ListenTLS is the router's HTTPS listen address (none by default).
	ListenTLS string `yaml:"listen_tls,omitempty" json:"listen_tls,omitempty"`
	// TLS configures the HTTPS listener's certificates.
	TLS          *TLS                    `yaml:"tls,omitempty" json:"tls,omitempty"`
	Environments map[string]*Environment `yaml:"environments,omitempty" json:"environments,omitempty"`
	// ServicesFrom is a glob (relative to Root); every matching directory
	// holding a Dockerfile becomes a service with defaults.
	ServicesFrom string `yaml:"services_from,omitempty" json:"services_from,omitempty"`
	// Shared paths whose change fans out to every service.
	Shared   []string            `yaml:"shared,omitempty" json:"shared,omitempty"`
	Defaults Defaults            `yaml:"defaults,omitempty" json:"defaults,omitempty"`
	Services map[string]*Service `yaml:"services" json:"services"`
	// Notify lists webhook targets for deployment events.
	Notify []Notify `yaml:"notify,omitempty" json:"notify,omitempty"`
	// MaxCount is the most tasks any service may run (its count, a scale,
	// an autoscaler's max) unless the service sets its own max_count.
	// Default DefaultMaxCount.
	MaxCount int `yaml:"max_count,omitempty" json:"max_count,omitempty"`
	// Router tunes the router's limits and protocol checks.
	Router *Router `yaml:"router,omitempty" json:"router,omitempty"`

	// Order is the service names in dependency order (depends_on first).
	Order []string `yaml:"-" json:"order"`

	// Env is the environment ForEnvironment applied ("" for none), and AWS
	// that environment's aws: block (engine ecs).
	Env string `yaml:"-" json:"env,omitempty"`
	AWS *AWS   `yaml:"-" json:"aws,omitempty"`
	// Warnings are things in the spec that are valid but probably not what
	// was meant (a key that has no effect where it is written), located
	// like problems. Commands print them; they never stop one.
	Warnings []Problem `yaml:"-" json:"-"`
}

// Environment is a named target with its engine and overrides.
type Environment struct {
	Engine   string `yaml:"engine,omitempty" json:"engine,omitempty"`
	Registry string `yaml:"registry,omitempty" json:"registry,omitempty"`
	// Listen overrides the router's listen address in this environment.
	Listen string `yaml:"listen,omitempty" json:"listen,omitempty"`
	// ListenTLS overrides the router's HTTPS listen address.
	ListenTLS string `yaml:"listen_tls,omitempty" json:"listen_tls,omitempty"`
	// Env is merged into every service's env (these values win).
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// AWS is where an environment with engine ecs runs.
	AWS *AWS `yaml:"aws,omitempty" json:"aws,omitempty"`
}

// Defaults apply to every service that does not set the key itself.
type Defaults struct {
	Health  *Health           `yaml:"health,omitempty" json:"health,omitempty"`
	Deploy  *Deploy           `yaml:"deploy,omitempty" json:"deploy,omitempty"`
	Count   *int              `yaml:"count,omitempty" json:"count,omitempty"`
	Env     map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	Secrets map[string]string `yaml:"secrets,omitempty" json:"secrets,omitempty"`
	Config  map[string]string `yaml:"config,omitempty" json:"config,omitempty"`
	CPU     int               `yaml:"cpu,omitempty" json:"cpu,omitempty"`
	Memory  int               `yaml:"memory,omitempty" json:"memory,omitempty"`
	Heal    *Heal             `yaml:"heal,omitempty" json:"heal,omitempty"`
}

// Service is one long-running program with a port, health check, route and count.
type Service struct {
	Name string `yaml:"-" json:"name"`

	// Run is the command that starts the service (process engine), run by
	// /bin/sh -c in Root. It must listen on $PORT.
	Run string `yaml:"run,omitempty" json:"run,omitempty"`
	// Build is either a shell command producing $BERTH_ARTIFACT (process
	// engine) or a docker build description (docker engine).
	Build *Build `yaml:"build,omitempty" json:"build,omitempty"`
	// Image is a prebuilt image reference (docker engine).
	Image string `yaml:"image,omitempty" json:"image,omitempty"`
	// Port is the port the service listens on inside its container (docker
	// engine; default 8080). Process tasks get a free port in $PORT.
	Port int `yaml:"port,omitempty" json:"port,omitempty"`
	// Dir is the service's own directory (relative to Root), used for change
	// detection.
	Dir       string            `yaml:"dir,omitempty" json:"dir,omitempty"`
	Shared    []string          `yaml:"shared,omitempty" json:"shared,omitempty"`
	Health    *Health           `yaml:"health,omitempty" json:"health,omitempty"`
	Route     *Route            `yaml:"route,omitempty" json:"route,omitempty"`
	Env       map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	Secrets   map[string]string `yaml:"secrets,omitempty" json:"secrets,omitempty"`
	Config    map[string]string `yaml:"config,omitempty" json:"config,omitempty"`
	Count     *int              `yaml:"count,omitempty" json:"count,omitempty"`
	DependsOn []string          `yaml:"depends_on,omitempty" json:"depends_on,omitempty"`
	Deploy    *Deploy           `yaml:"deploy,omitempty" json:"deploy,omitempty"`
	// CPU (units, 1024 = one vCPU) and Memory (MiB) size a task on ECS
	// Fargate; an ECS environment needs both, as a Fargate combination.
	CPU    int `yaml:"cpu,omitempty" json:"cpu,omitempty"`
	Memory int `yaml:"memory,omitempty" json:"memory,omitempty"`
	// Volumes are mounted into the service's containers (docker engine).
	Volumes []Volume `yaml:"volumes,omitempty" json:"volumes,omitempty"`
	// Ports are published on loopback (docker engine), for backing
	// services such as a database that tools on the host connect to.
	Ports []PortMapping `yaml:"ports,omitempty" json:"ports,omitempty"`
	// Scale turns on autoscaling between Scale.Min and Scale.Max tasks.
	Scale *Scale `yaml:"scale,omitempty" json:"scale,omitempty"`
	// Heal is the restart budget of self-healing; always set after Load.
	Heal *Heal `yaml:"heal,omitempty" json:"heal,omitempty"`
	// MaxCount is the most tasks this service may run; after Load it holds
	// the effective value (the service's, else the spec's, else
	// DefaultMaxCount).
	MaxCount int `yaml:"max_count,omitempty" json:"max_count,omitempty"`

	// Line is the line of the service's key in the spec file (for errors).
	Line int `yaml:"-" json:"-"`
}

// Build describes how to produce a service's artifact. In YAML a scalar is
// a shell Command; a mapping is a docker build.
type Build struct {
	Command    string            `yaml:"command,omitempty" json:"command,omitempty"`
	Context    string            `yaml:"context,omitempty" json:"context,omitempty"`
	Dockerfile string            `yaml:"dockerfile,omitempty" json:"dockerfile,omitempty"`
	Target     string            `yaml:"target,omitempty" json:"target,omitempty"`
	Args       map[string]string `yaml:"args,omitempty" json:"args,omitempty"`
}

// Health configures a service's health check. Exactly one kind applies
// (see Kind): an HTTP GET of Path (the default), a TCP connect (TCP), a
// command run in the task that must exit 0 (Command), or none at all
// (None, written `health: none`: a running task counts as healthy; for
// workers that serve nothing).
type Health struct {
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// TCP checks that the task's port accepts a connection.
	TCP bool `yaml:"tcp,omitempty" json:"tcp,omitempty"`
	// Command is run (argv, no shell) in the task's environment; exit 0
	// passes.
	Command []string `yaml:"command,omitempty" json:"command,omitempty"`
	// None is set by `health: none`.
	None      bool     `yaml:"-" json:"none,omitempty"`
	Interval  Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	Timeout   Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Healthy   int      `yaml:"healthy,omitempty" json:"healthy,omitempty"`     // consecutive passes to become healthy
	Unhealthy int      `yaml:"unhealthy,omitempty" json:"unhealthy,omitempty"` // consecutive failures to become unhealthy
	Grace     Duration `yaml:"grace,omitempty" json:"grace,omitempty"`         // start grace: failures ignored this long after start
	// Deadline is how long a new task may take to become healthy before the
	// deployment gives up on it.
	Deadline Duration `yaml:"deadline,omitempty" json:"deadline,omitempty"`
}

// Health check kinds, as returned by Health.Kind.
const (
	HealthHTTP    = "http"
	HealthTCP     = "tcp"
	HealthCommand = "command"
	HealthNone    = "none"
)

// Route is a service's host / path-prefix rule.
type Route struct {
	Host        string   `yaml:"host,omitempty" json:"host,omitempty"`
	Hosts       []string `yaml:"hosts,omitempty" json:"hosts,omitempty"`
	Path        string   `yaml:"path,omitempty" json:"path,omitempty"`
	Priority    int      `yaml:"priority,omitempty" json:"priority,omitempty"`
	Default     bool     `yaml:"default,omitempty" json:"default,omitempty"`
	StripPrefix bool     `yaml:"strip_prefix,omitempty" json:"strip_prefix,omitempty"`
}

// Deploy configures how a service moves from one release to the next.
type Deploy struct {
	Strategy       string    `yaml:"strategy,omitempty" json:"strategy,omitempty"` // rolling | bluegreen | canary
	MaxSurge       *int      `yaml:"max_surge,omitempty" json:"max_surge,omitempty"`
	MaxUnavailable *int      `yaml:"max_unavailable,omitempty" json:"max_unavailable,omitempty"`
	Drain          Duration  `yaml:"drain,omitempty" json:"drain,omitempty"`
	Steps          []Step    `yaml:"steps,omitempty" json:"steps,omitempty"`
	Linear         *Linear   `yaml:"linear,omitempty" json:"linear,omitempty"`
	Pause          Duration  `yaml:"pause,omitempty" json:"pause,omitempty"`
	Bake           Duration  `yaml:"bake,omitempty" json:"bake,omitempty"`
	Analysis       *Analysis `yaml:"analysis,omitempty" json:"analysis,omitempty"`
	Preview        *Preview  `yaml:"preview,omitempty" json:"preview,omitempty"`
	// CircuitBreaker is how many task failures in a row end a deployment.
	CircuitBreaker int `yaml:"circuit_breaker,omitempty" json:"circuit_breaker,omitempty"`
	// Sticky keeps a client on one release while several serve traffic.
	Sticky *Sticky `yaml:"sticky,omitempty" json:"sticky,omitempty"`
	// StepsDefaulted is true when a canary set neither steps nor linear
	// and Steps holds the built-in default (an engine may pick its own).
	StepsDefaulted bool `yaml:"-" json:"-"`
}

// Step is one canary step: a traffic percentage, or a manual gate
// (written `pause` in YAML) that waits for `berth promote`.
type Step struct {
	Percent int  `json:"percent,omitempty"`
	Gate    bool `json:"gate,omitempty"`
}

// Linear is a canary that adds Step percent every Every.
type Linear struct {
	Step  Percent  `yaml:"step" json:"step"`
	Every Duration `yaml:"every" json:"every"`
}

// Analysis holds the thresholds a new release is judged against.
type Analysis struct {
	Max5xxRate  Percent  `yaml:"max_5xx_rate,omitempty" json:"max_5xx_rate,omitempty"`
	MaxP99      Duration `yaml:"max_p99,omitempty" json:"max_p99,omitempty"`
	MinRequests int      `yaml:"min_requests,omitempty" json:"min_requests,omitempty"`
	Window      Duration `yaml:"window,omitempty" json:"window,omitempty"`
	Smoke       []string `yaml:"smoke,omitempty" json:"smoke,omitempty"`     // paths GET against the new release
	Webhook     string   `yaml:"webhook,omitempty" json:"webhook,omitempty"` // external pass/fail URL
}

// Preview exposes a blue/green's new fleet before the switch.
type Preview struct {
	Header string `yaml:"header,omitempty" json:"header,omitempty"` // default X-Berth-Preview
	Host   string `yaml:"host,omitempty" json:"host,omitempty"`
}

// Notify is one webhook target for deployment events.
type Notify struct {
	URL    string   `yaml:"url" json:"url"`
	Format string   `yaml:"format,omitempty" json:"format,omitempty"` // json | slack
	Events []string `yaml:"events,omitempty" json:"events,omitempty"`
}

// Volume is one mount, written like docker compose's short syntax:
// "name:/target" (a named volume, kept across deploys),
// "./dir:/target" or "/abs/dir:/target" (a bind mount of a host
// directory), each optionally followed by ":ro".
type Volume struct {
	// Source is the volume name, or the host path of a bind mount (as
	// written; relative paths are against the spec's directory).
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
	// Bind is true for a bind mount (Source is a path), false for a named
	// volume.
	Bind bool `json:"bind,omitempty"`
}

// PortMapping publishes a container port on a loopback host port, written
// "5432", "15432:5432" or "127.0.0.1:15432:5432", optionally with "/tcp"
// or "/udp". Host 0 means the container port itself.
type PortMapping struct {
	Host      int    `json:"host,omitempty"`
	Container int    `json:"container"`
	Protocol  string `json:"protocol,omitempty"` // tcp (default) | udp
}

// Scale is a service's autoscaling: between Min and Max tasks, tracking
// one Target, changing at most once per cooldown in each direction.
type Scale struct {
	Min    *int         `yaml:"min,omitempty" json:"min,omitempty"`
	Max    int          `yaml:"max,omitempty" json:"max,omitempty"`
	Target *ScaleTarget `yaml:"target,omitempty" json:"target,omitempty"`
	// UpCooldown is the least time between two scale-outs.
	UpCooldown Duration `yaml:"up_cooldown,omitempty" json:"up_cooldown,omitempty"`
	// DownCooldown is the least time between two scale-ins (and after a
	// scale-out before a scale-in).
	DownCooldown Duration `yaml:"down_cooldown,omitempty" json:"down_cooldown,omitempty"`
}

// ScaleTarget is what autoscaling tracks; exactly one field is set.
type ScaleTarget struct {
	CPU        Percent  `yaml:"cpu,omitempty" json:"cpu,omitempty"`
	Memory     Percent  `yaml:"memory,omitempty" json:"memory,omitempty"`
	RPSPerTask int      `yaml:"rps_per_task,omitempty" json:"rps_per_task,omitempty"`
	P99        Duration `yaml:"p99,omitempty" json:"p99,omitempty"`
}

// Scale target metrics, as returned by ScaleTarget.Metric.
const (
	MetricCPU        = "cpu"
	MetricMemory     = "memory"
	MetricRPSPerTask = "rps_per_task"
	MetricP99        = "p99"
)

// Heal is the anti-thrash budget of self-healing: at most MaxRestarts
// restarts of a service's tasks within Window; past it berth stops
// restarting and marks the service degraded.
type Heal struct {
	MaxRestarts int      `yaml:"max_restarts,omitempty" json:"max_restarts,omitempty"`
	Window      Duration `yaml:"window,omitempty" json:"window,omitempty"`
}

// Duration is a time.Duration written as "30s" in YAML and JSON.
type Duration time.Duration

// Percent is a share written "10%" in YAML (stored as 0..100, may be fractional).
type Percent float64
