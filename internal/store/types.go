package store

import (
	"encoding/json"
	"time"
)

// Deployment states.
const (
	DeployRunning    = "running"
	DeploySucceeded  = "succeeded"
	DeployRolledBack = "rolled_back"
	DeployFailed     = "failed"
)

// Task states.
const (
	TaskStarting = "starting" // started, not yet healthy
	TaskHealthy  = "healthy"  // passing health checks
	TaskDraining = "draining" // removed from routing, finishing in-flight requests
	TaskStopped  = "stopped"  // stopped by berth
	TaskExited   = "exited"   // exited on its own (crash)
)

// ServiceState is the desired state of one service.
type ServiceState struct {
	Name    string `json:"name"`
	Release int    `json:"release"` // the release that should run; 0 = none yet
	Count   int    `json:"count"`
	// Spec is the service's resolved spec as JSON (what the last deploy
	// asked for), so a control plane restart knows routes and health checks.
	Spec json.RawMessage `json:"spec,omitempty"`
	// Commit is a later commit from which release CommitRelease was
	// deployed again unchanged (same artifact, same config): it is the
	// service's live commit while Release is CommitRelease.
	Commit        string    `json:"commit,omitempty"`
	CommitRelease int       `json:"commit_release,omitempty"`
	UpdatedAt     time.Time `json:"updated_at"`
	// ScaleMin is the autoscaling minimum berth scale set on an autoscaled
	// service; nil: the minimum of the release's scale:.
	ScaleMin *int `json:"scale_min,omitempty"`
}

// Release is an immutable snapshot of what runs: artifact or image, the
// resolved service config, and the secret versions it was made with.
type Release struct {
	Service   string          `json:"service"`
	Number    int             `json:"number"` // per service, from 1
	Commit    string          `json:"commit"`
	Artifact  string          `json:"artifact,omitempty"` // process engine: path kept for rollback
	Image     string          `json:"image,omitempty"`    // docker engine: reference (by digest when known)
	Config    json.RawMessage `json:"config"`             // resolved service spec
	Secrets   map[string]int  `json:"secrets,omitempty"`  // secret name -> version
	SetID     string          `json:"set_id,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
}

// Deployment is the move of a service from one release to another.
type Deployment struct {
	ID          int64           `json:"id"`
	Service     string          `json:"service"`
	FromRelease int             `json:"from_release"`
	ToRelease   int             `json:"to_release"`
	Strategy    string          `json:"strategy"`
	State       string          `json:"state"`
	Reason      string          `json:"reason,omitempty"`
	SetID       string          `json:"set_id,omitempty"`
	Progress    json.RawMessage `json:"progress,omitempty"` // strategy state, for resume after a restart
	StartedAt   time.Time       `json:"started_at"`
	FinishedAt  time.Time       `json:"finished_at,omitempty"`
}

// Task is one running (or recently running) instance of a release.
type Task struct {
	ID        string          `json:"id"`
	Service   string          `json:"service"`
	Release   int             `json:"release"`
	State     string          `json:"state"`
	Handle    json.RawMessage `json:"handle,omitempty"` // driver.Handle
	Addr      string          `json:"addr,omitempty"`
	Restarts  int             `json:"restarts"`
	Exit      string          `json:"exit,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Event is one entry of the append-only event log.
type Event struct {
	ID         int64             `json:"id"`
	Time       time.Time         `json:"time"`
	Service    string            `json:"service,omitempty"`
	Deployment int64             `json:"deployment,omitempty"`
	Kind       string            `json:"kind"`
	Message    string            `json:"message"`
	Fields     map[string]string `json:"fields,omitempty"`
}

// ReleaseSet groups the releases one `berth deploy` made, so a single
// rollback can return every service of it to what ran before.
type ReleaseSet struct {
	ID        string      `json:"id"`
	Commit    string      `json:"commit"`
	CreatedAt time.Time   `json:"created_at"`
	Members   []SetMember `json:"members"`
}

// SetMember is one service of a release set.
type SetMember struct {
	Service     string `json:"service"`
	Release     int    `json:"release"`
	PrevRelease int    `json:"prev_release"` // 0 when the service did not run before
}

// SecretVersion is one encrypted version of a secret.
type SecretVersion struct {
	Name       string    `json:"name"`
	Version    int       `json:"version"`
	Ciphertext []byte    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	Deleted    bool      `json:"deleted,omitempty"`
}
