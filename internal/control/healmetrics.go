package control

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-dev/berth/internal/deploy"
)

// HealMetrics is the control plane's self-healing collector: per service, its
// restarts, healing actions and desired and running task counts.
// Register it on the /metrics registry.
func (s *Server) HealMetrics() prometheus.Collector { return healCollector{s} }

var (
	descRestarts = prometheus.NewDesc("berth_task_restarts_total",
		"Tasks self-healing started to replace tasks that exited or failed their health checks.", []string{"service"}, nil)
	descActions = prometheus.NewDesc("berth_healing_actions_total",
		"Self-healing actions by kind: restart, replace_unhealthy, hold (budget spent), resume, rollback, rolling_restart.", []string{"service", "action"}, nil)
	descDesired = prometheus.NewDesc("berth_tasks_desired",
		"Tasks the service should run.", []string{"service"}, nil)
	descRunning = prometheus.NewDesc("berth_tasks_running",
		"Tasks of the service that are started and not stopping (any health).", []string{"service"}, nil)
)

type healCollector struct{ s *Server }

// Describe implements prometheus.Collector.
func (m healCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRestarts, descActions, descDesired, descRunning} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m healCollector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range m.s.allServices() {
		v.mu.Lock()
		desired := v.state.Count
		if v.state.Release == 0 {
			desired = 0
		}
		running := 0
		for _, t := range v.tasks {
			if !t.draining && !t.pending && t.phase != deploy.Unhealthy {
				running++
			}
		}
		restarts := v.heal.restarts
		actions := make([]string, 0, len(v.heal.actions))
		for a := range v.heal.actions {
			actions = append(actions, a)
		}
		sort.Strings(actions)
		counts := make([]uint64, len(actions))
		for i, a := range actions {
			counts[i] = v.heal.actions[a]
		}
		v.mu.Unlock()
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(restarts), v.name)
		for i, a := range actions {
			ch <- prometheus.MustNewConstMetric(descActions, prometheus.CounterValue, float64(counts[i]), v.name, a)
		}
		ch <- prometheus.MustNewConstMetric(descDesired, prometheus.GaugeValue, float64(desired), v.name)
		ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, float64(running), v.name)
	}
}
