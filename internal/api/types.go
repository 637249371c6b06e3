package api

import (
	"encoding/json"
	"time"
)

// Version is the API version prefix of every path: /v1/...
const Version = "v1"

// Error is the body of every non-2xx API response.
type Error struct {
	Error string `json:"error"`
	// Hint tells the user what to do next, when the server knows.
	Hint string `json:"hint,omitempty"`
}

// ReleaseSpec is what a client posts to make one release of a service.
type ReleaseSpec struct {
	Service  string `json:"service"`
	Commit   string `json:"commit"`
	Artifact string `json:"artifact,omitempty"`
	// ArtifactDigest identifies the artifact's content, so an unchanged
	// artifact with an unchanged config makes no new release.
	ArtifactDigest string `json:"artifact_digest,omitempty"`
	Image          string `json:"image,omitempty"`
	// Config is the release's configuration as internal/release encodes
	// it: {"root": ..., "service": {...}, "notify": [...]}, where service
	// is the resolved service spec, root the project directory commands and
	// artifacts run in (absent for images) and notify the webhooks. The
	// control plane validates it (release.Decode and Validate) and answers
	// 400 naming the field when it cannot run.
	Config json.RawMessage `json:"config"`
	// Fingerprint is a stable hash of Config's runtime-relevant parts
	// (release.Config.Fingerprint); the server computes it when absent.
	Fingerprint string `json:"fingerprint,omitempty"`
	// BuildSeconds is how long the client took to build this release's
	// artifact or image (0: not built now); the control plane records it
	// in berth_build_duration_seconds.
	BuildSeconds float64 `json:"build_seconds,omitempty"`
}

// DeployRequest asks the control plane to release and roll out services.
// All services of one request form one release set.
type DeployRequest struct {
	Commit   string        `json:"commit"`
	Releases []ReleaseSpec `json:"releases"`
	// Force makes a new release even when nothing changed.
	Force bool `json:"force,omitempty"`
	// Phases are what the client did before it submitted (plan, build,
	// push), timed on its clock; the control plane records them with each
	// deployment's timeline. A phase with no service is every service's.
	Phases []PhaseTiming `json:"phases,omitempty"`
}

// PhaseTiming is one phase of a deploy the client ran itself.
type PhaseTiming struct {
	Name    string    `json:"name"`
	Service string    `json:"service,omitempty"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	// GovernedBy is the setting that decides how long the phase takes.
	GovernedBy string `json:"governed_by,omitempty"`
	Detail     string `json:"detail,omitempty"`
}

// Phase is one phase of a deployment's timeline.
type Phase struct {
	Name       string    `json:"name"`
	Service    string    `json:"service"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	DurationMS int64     `json:"duration_ms"`
	// GovernedBy names the setting that decides the phase's length
	// ("deploy.drain"), empty when none does.
	GovernedBy string `json:"governed_by"`
	Detail     string `json:"detail"`
	// AfterFinish marks a phase that ran after the deployment had
	// finished (the old release draining and stopping): it is not part of
	// the wall time a deploy waited for.
	AfterFinish bool `json:"after_finish,omitempty"`
}

// Timeline is the answer of GET /v1/deployments/{id}/timeline: a
// deployment's phases (or every phase of a release set's deployments when
// the id is a set's), the slowest of them and the wall time from the
// first phase's start to the end of the last deployment.
type Timeline struct {
	Deployment *Deployment `json:"deployment,omitempty"`
	// SetID and Deployments are set for a release set's timeline.
	SetID       string       `json:"set_id,omitempty"`
	Deployments []Deployment `json:"deployments,omitempty"`
	Phases      []Phase      `json:"phases"`
	Slowest     *Phase       `json:"slowest,omitempty"`
	WallMS      int64        `json:"wall_ms"`
}

// DeployResponse lists what a deploy request started.
type DeployResponse struct {
	SetID       string       `json:"set_id,omitempty"`
	Deployments []Deployment `json:"deployments"`
	// Unchanged lists services whose release already runs (nothing to do).
	Unchanged []string `json:"unchanged,omitempty"`
}

// RollbackRequest asks to return a service to an earlier release, or every
// service of a release set (by set id or commit) to what ran before it.
type RollbackRequest struct {
	Service  string `json:"service,omitempty"`
	To       int    `json:"to,omitempty"` // 0 = the release before the current one
	Set      string `json:"set,omitempty"`
	LastSet  bool   `json:"last_set,omitempty"`
	ToCommit string `json:"to_commit,omitempty"`
}

// SecretsRolloutRequest asks the control plane to roll, with a new release
// copied from the live one, every service whose live release references one
// of the named secrets or config values at an older version.
type SecretsRolloutRequest struct {
	Names []string `json:"names"` // scoped names, e.g. "prod/DB_PASSWORD"
}

// ScaleRequest sets the desired task count of services.
type ScaleRequest struct {
	Counts map[string]int `json:"counts"`
}

// Deployment states: the "state" field of a deployment.
const (
	DeployRunning    = "running"
	DeploySucceeded  = "succeeded"
	DeployRolledBack = "rolled_back"
	DeployFailed     = "failed"
)

// Deployment is one deployment as the API shows it.
type Deployment struct {
	// ID is opaque: compare and pass it back, never parse it.
	ID          string    `json:"id"`
	Service     string    `json:"service"`
	FromRelease int       `json:"from_release"`
	ToRelease   int       `json:"to_release"`
	Strategy    string    `json:"strategy"`
	State       string    `json:"state"` // DeployRunning, DeploySucceeded, DeployRolledBack or DeployFailed
	Reason      string    `json:"reason,omitempty"`
	SetID       string    `json:"set_id,omitempty"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at,omitempty"`
	// Progressive deployments: the phase, canary step and % of traffic on
	// the new release, and what was seen at each step.
	Phase    string          `json:"phase,omitempty"`
	Step     int             `json:"step,omitempty"`
	Weight   int             `json:"weight,omitempty"`
	Progress json.RawMessage `json:"progress,omitempty"`
	// PauseUntil is when a canary's timed pause at the current weight
	// ends (zero when it is not pausing); NextStep is its next step as
	// berth.yaml writes it ("50%", "pause" for a manual gate), empty at
	// the last.
	PauseUntil time.Time `json:"pause_until,omitzero"`
	NextStep   string    `json:"next_step,omitempty"`
	// Analysis are the thresholds an active progressive deployment's new
	// release is judged against (status only).
	Analysis *Analysis `json:"analysis,omitempty"`
}

// Analysis are the resolved thresholds of a release's analysis: the
// release fails when, over the window and with at least MinRequests
// requests, its 5xx rate (a percentage) or p99 goes above them.
type Analysis struct {
	Max5xxRate    float64 `json:"max_5xx_rate"`
	MaxP99Ms      float64 `json:"max_p99_ms,omitempty"`
	MinRequests   int     `json:"min_requests"`
	WindowSeconds float64 `json:"window_seconds"`
}

// Finished reports whether the deployment reached a final state.
func (d Deployment) Finished() bool { return d.State != DeployRunning }

// Task is one task as the API shows it.
type Task struct {
	ID        string    `json:"id"`
	Release   int       `json:"release"`
	State     string    `json:"state"`
	Addr      string    `json:"addr,omitempty"`
	Restarts  int       `json:"restarts"`
	Exit      string    `json:"exit,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// CPUPercent and MemoryBytes are the task's usage as the engine last
	// reported it (sampled every few seconds); zero before the first sample.
	CPUPercent  float64 `json:"cpu_percent"`
	MemoryBytes uint64  `json:"memory_bytes"`
	// LogLinesDropped is how many lines of output the task's log writer
	// dropped rather than make it wait for a slow disk (process engine).
	LogLinesDropped uint64 `json:"log_lines_dropped,omitempty"`
}

// Service states: the "state" field of a service in status.
const (
	// ServiceHealthy: every desired task passes its health checks.
	ServiceHealthy = "healthy"
	// ServiceDegraded: fewer healthy tasks than desired, and no loop.
	ServiceDegraded = "degraded"
	// ServiceDeploying: a deployment is active.
	ServiceDeploying = "deploying"
	// ServiceCrashLooping: tasks keep exiting and being restarted.
	ServiceCrashLooping = "crash-looping"
	// ServiceStopped: nothing is deployed or the count is 0.
	ServiceStopped = "stopped"
	// ServiceScaling: an autoscaling decision changed the count and the
	// tasks it asked for are not all running (or stopped) yet.
	ServiceScaling = "scaling"
)

// Autoscale is an autoscaled service's scaling as status shows it.
type Autoscale struct {
	// Min and Max bound the count (Min is the one berth scale set, when
	// it did); Metric and Target are what is tracked: "rps_per_task" and
	// "200".
	Min    int    `json:"min"`
	Max    int    `json:"max"`
	Metric string `json:"metric"`
	Target string `json:"target"`
	// Desired is the count asked for; Running the tasks of the live
	// release that run (starting or healthy).
	Desired int `json:"desired"`
	Running int `json:"running"`
	// Last is the newest scaling decision since the control plane
	// started; nil before the first.
	Last *ScaleDecision `json:"last,omitempty"`
	// Holding says why the count does not change now.
	Holding string `json:"holding,omitempty"`
}

// ScaleDecision is one autoscaling decision.
type ScaleDecision struct {
	At time.Time `json:"at"`
	// Direction is "out" or "in".
	Direction string `json:"direction"`
	From      int    `json:"from"`
	To        int    `json:"to"`
	// Message carries the decision's inputs: "rps/task 412 > 200: 2 → 5".
	Message string `json:"message"`
}

// Exit is how a task ended on its own.
type Exit struct {
	// Code is the exit code; -1 when the task did not exit normally
	// (killed by a signal, failed to start, lost).
	Code   int       `json:"code"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// ReleaseShare is one release's part of a service: its tasks and the %
// of the service's traffic it is meant to take.
type ReleaseShare struct {
	Release int `json:"release"`
	Tasks   int `json:"tasks"`
	Healthy int `json:"healthy"`
	Weight  int `json:"weight"`
}

// Service is one service's live state.
type Service struct {
	Name    string `json:"name"`
	Release int    `json:"release"`
	// Commit is the live commit: the one the release was made from, or a
	// later one a deploy found it unchanged at (POST /v1/deploy of the
	// same artifact and config records the new commit without a new
	// release or a restart).
	Commit     string      `json:"commit,omitempty"`
	Desired    int         `json:"desired"`
	Healthy    int         `json:"healthy"`
	Route      string      `json:"route,omitempty"`
	Tasks      []Task      `json:"tasks"`
	Deployment *Deployment `json:"deployment,omitempty"` // the active one, if any
	// State is ServiceHealthy, ServiceDegraded, ServiceDeploying,
	// ServiceCrashLooping or ServiceStopped.
	State string `json:"state"`
	// Restarts is how many of the service's tasks exited on their own
	// (and were replaced) within RestartWindow, the last ten minutes.
	Restarts int `json:"restarts"`
	// LastExit is the newest such exit; nil when none was seen.
	LastExit *Exit `json:"last_exit,omitempty"`
	// Reason says why the service is degraded when self-healing stopped
	// restarting it (its budget is spent): the budget and the last
	// failure (exit code and last log lines, or the failing check).
	Reason string `json:"reason,omitempty"`
	// Heal is the self-healing budget as it stands; nil when nothing is
	// deployed.
	Heal *HealBudget `json:"heal,omitempty"`
	// Events are the service's recent healing and scaling decisions
	// (kinds heal.* and scale.*), newest first; berth status SERVICE
	// fills them in from the service's history (GET /v1/status does not).
	Events []Event `json:"events,omitempty"`
	// Releases are the releases with tasks (two during a canary or a
	// blue/green switch), oldest first, with their traffic shares.
	Releases []ReleaseShare `json:"releases,omitempty"`
	// Autoscale is set for a service whose live release has scale:.
	Autoscale *Autoscale `json:"autoscale,omitempty"`
}

// RestartWindow is how far back Service.Restarts counts.
const RestartWindow = 10 * time.Minute

// HealBudget is a service's self-healing budget in status: Used of
// MaxRestarts restarts made within Window; Held while it is spent.
type HealBudget struct {
	Used        int           `json:"used"`
	MaxRestarts int           `json:"max_restarts"`
	Window      time.Duration `json:"window"`
	Held        bool          `json:"held"`
}

// Status is the answer of GET /v1/status.
type Status struct {
	Project  string    `json:"project"`
	Router   string    `json:"router"` // the router's URL
	Services []Service `json:"services"`

	// Engine is the task driver the control plane runs: "process" or
	// "docker". The CLI builds images for docker and artifacts otherwise.
	Engine string `json:"engine,omitempty"`
	// RouterTLS is the router's HTTPS URL ("" without listen_tls), and
	// TLS the certificate it serves for each host.
	RouterTLS string    `json:"router_tls,omitempty"`
	TLS       []TLSCert `json:"tls,omitempty"`
}

// TLSCert is the certificate the router serves for one host.
type TLSCert struct {
	Host string `json:"host"`
	// Source is acme, local-ca or file.
	Source   string    `json:"source"`
	Issuer   string    `json:"issuer,omitempty"`
	NotAfter time.Time `json:"not_after,omitzero"`
	// Error is the last failure to obtain, renew or load it.
	Error string `json:"error,omitempty"`
}

// Release is one release as the API shows it.
type Release struct {
	Service   string         `json:"service"`
	Number    int            `json:"number"`
	Commit    string         `json:"commit"`
	Artifact  string         `json:"artifact,omitempty"`
	Image     string         `json:"image,omitempty"`
	SetID     string         `json:"set_id,omitempty"`
	Secrets   map[string]int `json:"secrets,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
	Live      bool           `json:"live"`
}

// History is the answer of GET /v1/services/{name}/history.
type History struct {
	Service     string       `json:"service"`
	Releases    []Release    `json:"releases"`
	Deployments []Deployment `json:"deployments"`
	// Decisions are the control plane's own decisions about the service
	// (events of the kinds under DecisionKindPrefixes: scaling, healing),
	// newest first.
	Decisions []Event `json:"decisions,omitempty"`
}

// DecisionKindPrefixes are the event kinds history lists as decisions
// beside deployments.
var DecisionKindPrefixes = []string{"scale.", "heal."}

// Event is one entry of the event stream.
type Event struct {
	// ID is opaque and increases with time: pass it back as ?after= to
	// resume a stream, never parse it.
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	Service string    `json:"service,omitempty"`
	// Deployment is the opaque ID of the deployment the event is about.
	Deployment string            `json:"deployment,omitempty"`
	Kind       string            `json:"kind"`
	Message    string            `json:"message"`
	Fields     map[string]string `json:"fields,omitempty"`
}

// Healing event kinds (self-healing's decisions, listed by history).
const (
	// EventHealRestarted: self-healing started a replacement for a task
	// that exited or failed its health checks.
	EventHealRestarted = "heal.restarted"
	// EventHealBudgetSpent: the service spent its restart budget; berth
	// stops restarting it and marks it degraded with the reason.
	EventHealBudgetSpent = "heal.budget_spent"
	// EventHealResumed: a held service may be restarted again (its
	// window passed, a deploy, or berth restart).
	EventHealResumed = "heal.resumed"
	// EventHealRolledBack: the live release crash-looped soon after its
	// deployment succeeded and was rolled back to the release before.
	EventHealRolledBack = "heal.rolled_back"
	// EventHealRestart: berth restart replaces a service's tasks one at a
	// time.
	EventHealRestart = "heal.rolling_restart"
)

// Event kinds: the stream's "kind" field.
const (
	EventDeployStarted  = "deploy.started"
	EventDeployProgress = "deploy.progress"
	EventDeployPromoted = "deploy.promoted"
	// EventDeployAnalysis: what a progressive deployment's analysis sees
	// on the new release while it has traffic (every few seconds); fields
	// release, weight, requests, errors_5xx, p99_ms, max_5xx_rate,
	// max_p99_ms, min_requests and verdict (ok, failing, waiting for
	// requests). Progress events carry pause_until, next and bake_until
	// when a canary pauses or a blue/green bakes.
	EventDeployAnalysis  = "deploy.analysis"
	EventDeploySucceeded = "deploy.succeeded"
	EventDeployRollback  = "deploy.rolled_back"
	EventDeployFailed    = "deploy.failed"
	EventTaskStarted     = "task.started"
	EventTaskHealthy     = "task.healthy"
	EventTaskUnhealthy   = "task.unhealthy"
	// EventTaskChecking: a starting task's health check answered
	// something new that is not healthy; fields task, release, check (the
	// answer), since (the task's start) and deadline (when the deployment
	// gives up on it, with health.deadline).
	EventTaskChecking  = "task.checking"
	EventTaskExited    = "task.exited"
	EventTaskStopped   = "task.stopped"
	EventTaskAdopted   = "task.adopted"
	EventTaskLost      = "task.lost"
	EventServiceScaled = "service.scaled"
	// EventServiceRecommitted: a deploy found the service's release
	// unchanged at a newer commit and recorded that commit as live.
	EventServiceRecommitted = "service.recommitted"
	// EventServicePanic records an internal error in one of a service's
	// control-loop passes; the active deployment is rolled back.
	EventServicePanic = "service.panic"
	// EventScaleOut and EventScaleIn are autoscaling decisions; the
	// message carries their inputs ("rps/task 412 > 200: 2 → 5").
	EventScaleOut = "scale.out"
	EventScaleIn  = "scale.in"
	// EventTLSExpiring: a route host's certificate expires within 14
	// days, or obtaining, renewing or loading it failed.
	EventTLSExpiring = "tls.expiring"
)

// Secret is one secret (or config value) as GET /v1/secrets lists it and
// GET /v1/secrets/{name} reads it. Value is set only when read by name.
type Secret struct {
	Name      string    `json:"name"`
	Version   int       `json:"version"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	Value     []byte    `json:"value,omitempty"`
}

// SecretValue is the body of PUT /v1/secrets/{name}: the next version.
type SecretValue struct {
	Value []byte `json:"value"`
}

// SignalSample is one sample of a release's traffic through the router,
// over the interval (Signals.IntervalSeconds) that ends at Time.
type SignalSample struct {
	Time      time.Time `json:"t"`
	Requests  int       `json:"requests"`
	RPS       float64   `json:"rps"`
	Errors5xx int       `json:"errors_5xx"`
	P50Ms     float64   `json:"p50_ms"`
	P99Ms     float64   `json:"p99_ms"`
}

// ReleaseSignals are the samples of one release of a service, oldest first.
type ReleaseSignals struct {
	Service string         `json:"service"`
	Release int            `json:"release"`
	Samples []SignalSample `json:"samples"`
}

// Signals is the answer of GET /v1/signals?window=15m: the router's
// per-release traffic sampled by the control plane (the dashboard's
// sparklines).
type Signals struct {
	IntervalSeconds float64          `json:"interval_seconds"`
	WindowSeconds   float64          `json:"window_seconds"`
	Releases        []ReleaseSignals `json:"releases"`
}
