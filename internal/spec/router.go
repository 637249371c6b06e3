package spec

import (
	"fmt"
	"strconv"
	"strings"
)

// Router tunes berth's router: the `router:` section of berth.yaml. Every
// key is optional; a zero value takes the default the router documents
// (docs/spec.md, "router"), chosen like nginx's.
type Router struct {
	// Upstream selects the HTTP/1.1 client to targets: berth (default) or
	// std (net/http's Transport; portable, a connection per request).
	Upstream string `yaml:"upstream,omitempty" json:"upstream,omitempty"`

	ClientHeaderTimeout Duration `yaml:"client_header_timeout,omitempty" json:"client_header_timeout,omitempty"`
	ClientBodyTimeout   Duration `yaml:"client_body_timeout,omitempty" json:"client_body_timeout,omitempty"`
	ClientSendTimeout   Duration `yaml:"client_send_timeout,omitempty" json:"client_send_timeout,omitempty"`
	ClientIdleTimeout   Duration `yaml:"client_idle_timeout,omitempty" json:"client_idle_timeout,omitempty"`

	UpstreamConnectTimeout Duration `yaml:"upstream_connect_timeout,omitempty" json:"upstream_connect_timeout,omitempty"`
	UpstreamHeaderTimeout  Duration `yaml:"upstream_header_timeout,omitempty" json:"upstream_header_timeout,omitempty"`
	UpstreamReadTimeout    Duration `yaml:"upstream_read_timeout,omitempty" json:"upstream_read_timeout,omitempty"`
	UpstreamSendTimeout    Duration `yaml:"upstream_send_timeout,omitempty" json:"upstream_send_timeout,omitempty"`

	MaxRequestHeader  Size `yaml:"max_request_header,omitempty" json:"max_request_header,omitempty"`
	MaxResponseHeader Size `yaml:"max_response_header,omitempty" json:"max_response_header,omitempty"`
	// MaxRequestBody is the largest request body; "unlimited" (stored as
	// -1) lifts the limit.
	MaxRequestBody Size `yaml:"max_request_body,omitempty" json:"max_request_body,omitempty"`
	MaxConnections int  `yaml:"max_connections,omitempty" json:"max_connections,omitempty"`

	// UnderscoresInHeaders forwards request header names containing "_".
	UnderscoresInHeaders bool `yaml:"underscores_in_headers,omitempty" json:"underscores_in_headers,omitempty"`
	// EncodedSlashes is what path normalisation does with %2F: decode
	// (default), keep or reject.
	EncodedSlashes string `yaml:"encoded_slashes,omitempty" json:"encoded_slashes,omitempty"`
	// AccessLog is the router's per-request access log: off (default),
	// on, or the share of traces to keep ("10%").
	AccessLog string `yaml:"access_log,omitempty" json:"access_log,omitempty"`
}

// AccessLogRate reads access_log as the share of traces the router's
// access log keeps: 0 (off, the default), 1 (on) or a percentage.
func (r *Router) AccessLogRate() (float64, error) {
	if r == nil {
		return 0, nil
	}
	switch v := strings.TrimSpace(r.AccessLog); v {
	case "", "off", "false":
		return 0, nil
	case "on", "true":
		return 1, nil
	default:
		n, ok := strings.CutSuffix(v, "%")
		f, err := strconv.ParseFloat(n, 64)
		if !ok || err != nil || !(f > 0 && f <= 100) { // NaN is neither
			return 0, fmt.Errorf("access_log %q is not off, on or a percentage of requests above 0%% (10%%)", r.AccessLog)
		}
		return f / 100, nil
	}
}

// Sticky keeps a client on one release during a canary or blue/green
// switch: by a cookie the router sets (Cookie) or by a request header the
// client already sends (Header, e.g. X-User-Id). Set one of them.
type Sticky struct {
	Cookie string `yaml:"cookie,omitempty" json:"cookie,omitempty"`
	Header string `yaml:"header,omitempty" json:"header,omitempty"`
}

// checkSticky reports a deploy.sticky that names no key, both keys, or a
// name that is not an HTTP token.
func (l *loader) checkSticky(svc *Service) {
	st := svc.Deploy.Sticky
	if st == nil {
		return
	}
	switch {
	case st.Cookie == "" && st.Header == "":
		l.at(svc, "deploy.sticky", "sticky names neither a cookie nor a header", "write sticky: {cookie: berth_sticky} or sticky: {header: X-User-Id}")
	case st.Cookie != "" && st.Header != "":
		l.at(svc, "deploy.sticky", "sticky names both a cookie and a header", "keep one of cookie and header")
	case st.Cookie != "" && !isHTTPToken(st.Cookie):
		l.at(svc, "deploy.sticky.cookie", fmt.Sprintf("%q is not a valid cookie name", st.Cookie), "use letters, digits and - _ .")
	case st.Header != "" && !isHTTPToken(st.Header):
		l.at(svc, "deploy.sticky.header", fmt.Sprintf("%q is not a valid header name", st.Header), "use letters, digits and -")
	}
}

// isHTTPToken reports whether s is an RFC 9110 token.
func isHTTPToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// Size is a byte count written "512", "64k", "1m" or "2g" (powers of
// 1024; "kb"/"KiB" spellings too), or "unlimited" (stored as -1).
type Size int64

// ParseSize reads a Size.
func ParseSize(s string) (Size, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "unlimited" {
		return -1, nil
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q (write e.g. 64k, 1m or unlimited)", s)
	}
	return Size(n * mult), nil
}

// String formats s as berth.yaml accepts it.
func (s Size) String() string {
	switch {
	case s < 0:
		return "unlimited"
	case s != 0 && s%(1<<30) == 0:
		return strconv.FormatInt(int64(s>>30), 10) + "g"
	case s != 0 && s%(1<<20) == 0:
		return strconv.FormatInt(int64(s>>20), 10) + "m"
	case s != 0 && s%(1<<10) == 0:
		return strconv.FormatInt(int64(s>>10), 10) + "k"
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalYAML writes s as a string such as "1m".
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }

// UnmarshalJSON reads a size as a string ("1m") or a number of bytes.
func (s *Size) UnmarshalJSON(b []byte) error {
	t := strings.Trim(string(b), `"`)
	v, err := ParseSize(t)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalJSON writes s as a string such as "1m".
func (s Size) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }
