package router

import (
	"crypto/tls"
	"log/slog"
	"time"
)

// Config tunes a Router. The zero value is usable: every zero field takes
// the default documented next to it.
type Config struct {
	// Logger receives proxy failures, health changes and drain events.
	// Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock used for signals buckets and passive ejection, so
	// tests can drive time. Default: time.Now.
	Now func() time.Time

	// DialTimeout bounds connecting to a target. Default 2s.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for a target's response headers
	// once the request is written (to within 1/64 of it: a connection's
	// read deadline is only moved when it would otherwise cut the wait
	// shorter than that); exceeding it answers 504. Default 60s.
	ResponseHeaderTimeout time.Duration
	// UpstreamIdleTimeout closes idle keep-alive connections to targets.
	// Default 90s.
	UpstreamIdleTimeout time.Duration
	// MaxIdleConnsPerTarget is the keep-alive pool size per target. Default 1024.
	MaxIdleConnsPerTarget int
	// EjectFor is how long a target that refused a connection is skipped
	// (passive ejection). Default 5s.
	EjectFor time.Duration
	// MaxRetries is how many other targets a request that never reached a
	// target (dial failure) is retried on. Default 2.
	MaxRetries int

	// ReadHeaderTimeout, IdleTimeout and MaxHeaderBytes configure the
	// client-facing http.Server started by Serve. Defaults 10s, 120s, 64 KiB.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// ShutdownTimeout bounds the graceful shutdown in Serve. Default 30s.
	ShutdownTimeout time.Duration
	// TLSConfig, when set, makes Serve terminate TLS (HTTP/2 via ALPN and
	// HTTP/1.1). It must carry certificates. Without it Serve speaks
	// HTTP/1.1 and h2c.
	TLSConfig *tls.Config
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DialTimeout, 2*time.Second)
	def(&c.ResponseHeaderTimeout, 60*time.Second)
	def(&c.UpstreamIdleTimeout, 90*time.Second)
	def(&c.EjectFor, 5*time.Second)
	def(&c.ReadHeaderTimeout, 10*time.Second)
	def(&c.IdleTimeout, 120*time.Second)
	def(&c.ShutdownTimeout, 30*time.Second)
	if c.MaxIdleConnsPerTarget <= 0 {
		c.MaxIdleConnsPerTarget = 1024
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = 2
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 64 << 10
	}
	return c
}
