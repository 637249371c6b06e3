package router

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds the router's Prometheus instruments. Per-group children
// are resolved once per table so the request path only does atomic adds.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	router   *Router
	inflight *prometheus.Desc
	healthy  *prometheus.Desc
	version  *prometheus.Desc
}

var codeClasses = [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func newMetrics(r *Router) *metrics {
	return &metrics{
		router: r,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "berth", Subsystem: "router", Name: "requests_total",
			Help: "Requests answered by the router, by route, target group and status class.",
		}, []string{"route", "group", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "berth", Subsystem: "router", Name: "request_duration_seconds",
			Help:    "Time from request start to the end of the response body, by route and target group.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "group"}),
		inflight: prometheus.NewDesc("berth_router_target_inflight",
			"Requests in flight to a target.", []string{"target"}, nil),
		healthy: prometheus.NewDesc("berth_router_target_healthy",
			"1 when a target receives traffic (active check passing, not ejected), else 0.", []string{"target"}, nil),
		version: prometheus.NewDesc("berth_router_table_version",
			"Version of the routing table in use.", nil, nil),
	}
}

// groupStats is what the request path records into for one group.
type groupStats struct {
	codes   [len(codeClasses)]prometheus.Counter
	latency prometheus.Observer
	sig     *series // by group name
	rel     *series // by route and release
}

func (m *metrics) statsFor(routeName, groupName string) groupStats {
	var s groupStats
	for i, c := range codeClasses {
		s.codes[i] = m.requests.WithLabelValues(routeName, groupName, c)
	}
	s.latency = m.latency.WithLabelValues(routeName, groupName)
	return s
}

// forget deletes a group's metric children.
func (m *metrics) forget(routeName, groupName string) {
	for _, c := range codeClasses {
		m.requests.DeleteLabelValues(routeName, groupName, c)
	}
	m.latency.DeleteLabelValues(routeName, groupName)
}

func (s *groupStats) observe(now time.Time, status int, d time.Duration) {
	class := status / 100
	if class < 1 || class > 5 {
		class = 0
	}
	s.codes[class].Inc()
	s.latency.Observe(d.Seconds())
	is5xx := class == 5
	if s.sig != nil {
		s.sig.record(now, d, is5xx)
	}
	if s.rel != nil {
		s.rel.record(now, d, is5xx)
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.requests.Describe(ch)
	m.latency.Describe(ch)
	ch <- m.inflight
	ch <- m.healthy
	ch <- m.version
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.requests.Collect(ch)
	m.latency.Collect(ch)
	r := m.router
	now := r.cfg.Now().UnixNano()
	r.mu.Lock()
	for addr, t := range r.targets {
		ch <- prometheus.MustNewConstMetric(m.inflight, prometheus.GaugeValue, float64(t.inflight.Load()), addr)
		h := 0.0
		if t.healthy(now) {
			h = 1
		}
		ch <- prometheus.MustNewConstMetric(m.healthy, prometheus.GaugeValue, h, addr)
	}
	r.mu.Unlock()
	if x := r.table.Load(); x != nil {
		ch <- prometheus.MustNewConstMetric(m.version, prometheus.GaugeValue, float64(x.version))
	}
}

// releaseKey names a route's release series; the NUL prefix keeps it apart
// from group names such as "web@2".
func releaseKey(routeName string, release int) string {
	return "\x00release\x00" + routeName + "\x00" + strconv.Itoa(release)
}
