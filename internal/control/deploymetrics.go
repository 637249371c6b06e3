package control

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-dev/berth/internal/store"
)

// deployMetrics counts deployments by how they start and end, and times
// builds and deployments, for /metrics.
type deployMetrics struct {
	started  *prometheus.CounterVec
	finished *prometheus.CounterVec
	build    *prometheus.HistogramVec
	deploy   *prometheus.HistogramVec
}

// durationBuckets cover a quick restart to a long canary, in seconds.
var durationBuckets = []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600}

func newDeployMetrics() *deployMetrics {
	return &deployMetrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_deployments_started_total",
			Help: "Deployments started, by service and strategy (rolling, canary, bluegreen).",
		}, []string{"service", "strategy"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_deployments_finished_total",
			Help: "Deployments finished, by service, outcome (succeeded, rolled_back, failed) and reason (none, health, breaker, deadline, analysis, smoke, gate, manual, superseded, error).",
		}, []string{"service", "outcome", "reason"}),
		build: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "berth_build_duration_seconds",
			Help:    "How long the build of a service's release took, as the deploying client measured it.",
			Buckets: durationBuckets,
		}, []string{"service"}),
		deploy: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "berth_deploy_duration_seconds",
			Help:    "How long deployments took from start to their end, by service, strategy and outcome.",
			Buckets: durationBuckets,
		}, []string{"service", "strategy", "outcome"}),
	}
}

// Describe implements prometheus.Collector.
func (m *deployMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.started.Describe(ch)
	m.finished.Describe(ch)
	m.build.Describe(ch)
	m.deploy.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *deployMetrics) Collect(ch chan<- prometheus.Metric) {
	m.started.Collect(ch)
	m.finished.Collect(ch)
	m.build.Collect(ch)
	m.deploy.Collect(ch)
}

// DeployMetrics is the collector of the deployment metrics
// (berth_deployments_started_total, berth_deployments_finished_total,
// berth_build_duration_seconds, berth_deploy_duration_seconds); the
// daemon registers it on /metrics.
func (s *Server) DeployMetrics() prometheus.Collector { return s.metrics }

func (m *deployMetrics) deployStarted(service, strategy string) {
	m.started.WithLabelValues(service, strategy).Inc()
}

func (m *deployMetrics) deployFinished(d store.Deployment, state, reason string) {
	m.finished.WithLabelValues(d.Service, state, reasonClass(state, reason)).Inc()
	if !d.StartedAt.IsZero() && !d.FinishedAt.Before(d.StartedAt) {
		m.deploy.WithLabelValues(d.Service, d.Strategy, state).Observe(d.FinishedAt.Sub(d.StartedAt).Seconds())
	}
}

func (m *deployMetrics) built(service string, took time.Duration) {
	m.build.WithLabelValues(service).Observe(took.Seconds())
}

// reasonClass maps a deployment's end to a bounded label, from the
// reasons internal/deploy and the control plane write (a metric label
// must not carry task ids or numbers).
func reasonClass(state, reason string) string {
	if state == store.DeploySucceeded {
		return "none"
	}
	r := strings.ToLower(reason)
	switch {
	case strings.Contains(r, "aborted by user"):
		return "manual"
	case strings.Contains(r, "superseded"):
		return "superseded"
	case strings.Contains(r, "times in a row"):
		return "breaker"
	case strings.Contains(r, "not healthy after"):
		return "deadline"
	case strings.HasPrefix(r, "5xx ") || strings.HasPrefix(r, "p99 "):
		return "analysis"
	case strings.HasPrefix(r, "smoke check"):
		return "smoke"
	case strings.Contains(r, "failed (") || strings.Contains(r, "webhook") || strings.Contains(r, "gate"):
		return "gate"
	case strings.Contains(r, "health") || strings.Contains(r, "crash"):
		return "health"
	default:
		return "error"
	}
}
