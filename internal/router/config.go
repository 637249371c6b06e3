package router

import (
	"crypto/tls"
	"io"
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

	// UpstreamReadTimeout bounds each wait for a target's response body
	// bytes (between two reads, like nginx's proxy_read_timeout); a stalled
	// body is cut and the client sees a truncated response. Default 60s.
	UpstreamReadTimeout time.Duration
	// UpstreamWriteTimeout bounds each wait to write the request to a
	// target (between two writes, like proxy_send_timeout): a target that
	// never reads an upload. Default 60s.
	UpstreamWriteTimeout time.Duration
	// MaxResponseHeaderBytes bounds a target's response head (interim
	// responses included) and, separately, a chunked body's trailers; a
	// larger one is answered 502. Default 64 KiB.
	MaxResponseHeaderBytes int
	// MaxRequestBodyBytes bounds a request body; a larger one is answered
	// 413 (like nginx's client_max_body_size). Default 1 MiB; negative
	// means unlimited.
	MaxRequestBodyBytes int64
	// Upstream selects the HTTP/1.1 client used for targets: "berth" (the
	// default, upstream.go) or "std" (net/http's Transport, the portable
	// fallback). Both enforce the same framing rules and limits.
	Upstream string

	// ReadHeaderTimeout, IdleTimeout and MaxHeaderBytes configure the
	// client-facing http.Server started by Serve. Defaults 10s, 120s, 64 KiB.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// ClientBodyTimeout bounds each wait for the client's request body
	// bytes (between two reads, like nginx's client_body_timeout); the
	// request is answered 408. Default 60s.
	ClientBodyTimeout time.Duration
	// ClientWriteTimeout bounds each wait to write to a client (between two
	// writes, like nginx's send_timeout): a client that stops reading is
	// disconnected. Default 60s.
	ClientWriteTimeout time.Duration
	// MaxConns bounds concurrent client connections; Serve stops accepting
	// at the limit until one closes (like worker_connections). Default 4096.
	MaxConns int
	// AllowUnderscoreHeaders forwards request header names containing
	// "_" (nginx's underscores_in_headers). By default they are dropped:
	// backends that read "_" as "-" would see Transfer_Encoding as
	// Transfer-Encoding.
	AllowUnderscoreHeaders bool
	// EncodedSlashes says what path normalisation does with "%2F" in a
	// request path: "decode" (default; it is a "/", as nginx reads it, so
	// "/a%2F..%2Fb" cannot slip past a route), "keep" (left encoded, part
	// of its segment) or "reject" (400).
	EncodedSlashes string
	// AccessLog, when set, receives one JSON line per request (method,
	// host, path, status, duration, route, release, target, request_id,
	// trace_id and traceparent), so a request can be followed into the
	// services' logs. Default: none.
	AccessLog io.Writer
	// AccessLogSample is the fraction of traces the access log keeps, 0 to
	// 1, decided by trace id so a trace is kept whole; 0 with AccessLog set
	// keeps every request.
	AccessLogSample float64
	// ShutdownTimeout bounds the graceful shutdown in Serve. Default 30s.
	ShutdownTimeout time.Duration
	// TLSConfig, when set, makes Serve terminate TLS (HTTP/2 via ALPN and
	// HTTP/1.1). It must carry certificates. Without it Serve speaks
	// HTTP/1.1 and h2c.
	TLSConfig *tls.Config
}

// Values of Config.Upstream.
const (
	UpstreamBerth = "berth"
	UpstreamStd   = "std"
)

// Values of Config.EncodedSlashes.
const (
	SlashesDecode = "decode"
	SlashesKeep   = "keep"
	SlashesReject = "reject"
)

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
	def(&c.UpstreamReadTimeout, 60*time.Second)
	def(&c.UpstreamWriteTimeout, 60*time.Second)
	def(&c.ClientBodyTimeout, 60*time.Second)
	def(&c.ClientWriteTimeout, 60*time.Second)
	if c.MaxResponseHeaderBytes <= 0 {
		c.MaxResponseHeaderBytes = 64 << 10
	}
	if c.MaxRequestBodyBytes == 0 {
		c.MaxRequestBodyBytes = 1 << 20
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 4096
	}
	if c.Upstream == "" {
		c.Upstream = UpstreamBerth
	}
	if c.EncodedSlashes == "" {
		c.EncodedSlashes = SlashesDecode
	}
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
