package routerproc

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/berth-dev/berth/internal/certs"

	"github.com/berth-dev/berth/internal/router"
)

// Settings are the router limits and timeouts the spec's router: section
// sets (see router.Config for each one's meaning and default; zero keeps
// the default). The control plane passes them to the router process as
// JSON (`berth router --settings`), and a running router reports them in
// Info, so a control plane started with other settings hands the
// listening socket over to a router process that has them.
type Settings struct {
	Upstream               string        `json:"upstream,omitempty"`
	ReadHeaderTimeout      time.Duration `json:"read_header_timeout,omitempty"`
	ClientBodyTimeout      time.Duration `json:"client_body_timeout,omitempty"`
	ClientWriteTimeout     time.Duration `json:"client_write_timeout,omitempty"`
	IdleTimeout            time.Duration `json:"idle_timeout,omitempty"`
	DialTimeout            time.Duration `json:"dial_timeout,omitempty"`
	ResponseHeaderTimeout  time.Duration `json:"response_header_timeout,omitempty"`
	UpstreamReadTimeout    time.Duration `json:"upstream_read_timeout,omitempty"`
	UpstreamWriteTimeout   time.Duration `json:"upstream_write_timeout,omitempty"`
	MaxHeaderBytes         int           `json:"max_header_bytes,omitempty"`
	MaxResponseHeaderBytes int           `json:"max_response_header_bytes,omitempty"`
	MaxRequestBodyBytes    int64         `json:"max_request_body_bytes,omitempty"`
	MaxConns               int           `json:"max_conns,omitempty"`
	AllowUnderscoreHeaders bool          `json:"allow_underscore_headers,omitempty"`
	EncodedSlashes         string        `json:"encoded_slashes,omitempty"`
	// TLS configures the TLS listener (listen_tls) and its certificates;
	// nil without one.
	TLS *TLSSettings `json:"tls,omitempty"`
	// AccessLog is the share of traces the access log keeps (0: off); the
	// lines go to the router process's standard output, its log file.
	AccessLog float64 `json:"access_log,omitempty"`
}

// TLSSettings are the spec's tls: section as the router process needs it.
type TLSSettings struct {
	// ACME configures automatic certificates.
	ACME certs.ACME `json:"acme,omitzero"`
	// Default is the certificate for hosts without one of their own in
	// Hosts (instead of ACME or the local CA).
	Default *certs.FilePair `json:"default,omitempty"`
	// Hosts are the user's own certificates, by host.
	Hosts map[string]certs.FilePair `json:"hosts,omitempty"`
	// HSTS, when positive, is the max-age of the Strict-Transport-Security
	// header sent on HTTPS responses.
	HSTS time.Duration `json:"hsts,omitempty"`
}

// Equal reports whether s and o set the same values.
func (s Settings) Equal(o Settings) bool { return reflect.DeepEqual(s, o) }

// Apply returns c with the settings s sets.
func (s Settings) Apply(c router.Config) router.Config {
	c.Upstream = s.Upstream
	c.ReadHeaderTimeout = s.ReadHeaderTimeout
	c.ClientBodyTimeout = s.ClientBodyTimeout
	c.ClientWriteTimeout = s.ClientWriteTimeout
	c.IdleTimeout = s.IdleTimeout
	c.DialTimeout = s.DialTimeout
	c.ResponseHeaderTimeout = s.ResponseHeaderTimeout
	c.UpstreamReadTimeout = s.UpstreamReadTimeout
	c.UpstreamWriteTimeout = s.UpstreamWriteTimeout
	c.MaxHeaderBytes = s.MaxHeaderBytes
	c.MaxResponseHeaderBytes = s.MaxResponseHeaderBytes
	c.MaxRequestBodyBytes = s.MaxRequestBodyBytes
	c.MaxConns = s.MaxConns
	c.AllowUnderscoreHeaders = s.AllowUnderscoreHeaders
	c.EncodedSlashes = s.EncodedSlashes
	if s.AccessLog > 0 {
		c.AccessLog, c.AccessLogSample = os.Stdout, s.AccessLog
	}
	return c
}

// Args are the `berth router` arguments that pass s.
func (s Settings) Args() []string {
	if s.Equal(Settings{}) {
		return nil
	}
	b, _ := json.Marshal(s) // plain fields: cannot fail
	return []string{"--settings", string(b)}
}

// ParseSettings reads the JSON of `berth router --settings`; "" is the
// defaults.
func ParseSettings(js string) (Settings, error) {
	var s Settings
	if js == "" {
		return s, nil
	}
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		return s, fmt.Errorf("router settings %q: %w", js, err)
	}
	return s, nil
}
