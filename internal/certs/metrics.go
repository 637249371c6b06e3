package certs

import "github.com/prometheus/client_golang/prometheus"

var expiryDesc = prometheus.NewDesc("berth_tls_cert_expiry_seconds",
	"When the certificate served for a host expires (Unix time, seconds); alert on berth_tls_cert_expiry_seconds - time() < 14*86400.",
	[]string{"host", "source"}, nil)

// Collector exports berth_tls_cert_expiry_seconds{host,source} for every
// host with a certificate.
func (m *Manager) Collector() prometheus.Collector { return collector{m} }

type collector struct{ m *Manager }

func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- expiryDesc }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, hc := range c.m.Status() {
		if hc.NotAfter.IsZero() {
			continue
		}
		ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, float64(hc.NotAfter.Unix()), hc.Host, hc.Source)
	}
}
