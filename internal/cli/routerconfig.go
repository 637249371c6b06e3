package cli

import (
	"time"

	"github.com/berth-dev/berth/internal/routerproc"
	"github.com/berth-dev/berth/internal/spec"
)

// routerConfig turns the spec's router: section into the router
// process's settings; keys left out keep the router's defaults.
func routerConfig(s *spec.Router) routerproc.Settings {
	if s == nil {
		return routerproc.Settings{}
	}
	rate, _ := s.AccessLogRate() // validated with the spec
	return routerproc.Settings{
		AccessLog:              rate,
		Upstream:               s.Upstream,
		ReadHeaderTimeout:      time.Duration(s.ClientHeaderTimeout),
		ClientBodyTimeout:      time.Duration(s.ClientBodyTimeout),
		ClientWriteTimeout:     time.Duration(s.ClientSendTimeout),
		IdleTimeout:            time.Duration(s.ClientIdleTimeout),
		DialTimeout:            time.Duration(s.UpstreamConnectTimeout),
		ResponseHeaderTimeout:  time.Duration(s.UpstreamHeaderTimeout),
		UpstreamReadTimeout:    time.Duration(s.UpstreamReadTimeout),
		UpstreamWriteTimeout:   time.Duration(s.UpstreamSendTimeout),
		MaxHeaderBytes:         int(s.MaxRequestHeader),
		MaxResponseHeaderBytes: int(s.MaxResponseHeader),
		MaxRequestBodyBytes:    int64(s.MaxRequestBody),
		MaxConns:               s.MaxConnections,
		AllowUnderscoreHeaders: s.UnderscoresInHeaders,
		EncodedSlashes:         s.EncodedSlashes,
	}
}
