package control

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/notify"
	"github.com/berth-dev/berth/internal/store"
)

// TLSReporter reports the certificate the router serves for each host
// (the router process, over its control socket).
type TLSReporter interface {
	TLSCerts(ctx context.Context) ([]api.TLSCert, error)
}

// TLSExpiryWarning is how close to its expiry a certificate is reported.
const TLSExpiryWarning = 14 * 24 * time.Hour

// tlsTimeout bounds asking the router for its certificates.
const tlsTimeout = 2 * time.Second

// tlsCerts is what the router serves, or nil without TLS or an answer.
func (s *Server) tlsCerts(ctx context.Context) []api.TLSCert {
	if s.cfg.TLS == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, tlsTimeout)
	defer cancel()
	certs, err := s.cfg.TLS.TLSCerts(ctx)
	if err != nil {
		s.log.Warn("read the router's certificates", "error", err)
		return nil
	}
	return certs
}

// tlsAlert is one certificate that needs attention.
type tlsAlert struct {
	host, message string
	// key identifies the certificate's state, so one state is reported
	// once: a renewal (new expiry) or a new error reports again.
	key string
}

// tlsAlerts decides which certificates to report at now: those expiring
// within TLSExpiryWarning and those whose obtain, renewal or load failed,
// except states already reported (seen, by host). It returns the alerts
// and the reported states to remember.
func tlsAlerts(now time.Time, certs []api.TLSCert, seen map[string]string) ([]tlsAlert, map[string]string) {
	next := map[string]string{}
	var out []tlsAlert
	for _, c := range certs {
		var a *tlsAlert
		switch {
		case c.Error != "" && c.Error != "not obtained yet":
			a = &tlsAlert{host: c.Host, key: "error:" + c.Error,
				message: fmt.Sprintf("certificate of %s (%s): %s", c.Host, c.Source, c.Error)}
		case !c.NotAfter.IsZero() && c.NotAfter.Sub(now) < TLSExpiryWarning:
			left := c.NotAfter.Sub(now).Round(time.Hour)
			what := fmt.Sprintf("expires in %s, on %s", left, c.NotAfter.UTC().Format(time.DateOnly))
			if left <= 0 {
				what = "expired on " + c.NotAfter.UTC().Format(time.DateOnly)
			}
			a = &tlsAlert{host: c.Host, key: "expiry:" + c.NotAfter.UTC().Format(time.RFC3339),
				message: fmt.Sprintf("certificate of %s (%s, issuer %s) %s", c.Host, c.Source, c.Issuer, what)}
		}
		if a == nil {
			continue
		}
		next[c.Host] = a.key
		if seen[c.Host] != a.key {
			out = append(out, *a)
		}
	}
	slices.SortFunc(out, func(a, b tlsAlert) int { return strings.Compare(a.host, b.host) })
	return out, next
}

// WatchTLS checks the router's certificates every interval until ctx
// ends: each one expiring within 14 days, or failing to renew, is an
// event (tls.expiring) of the services routed on its host and a
// notification to their webhooks, once per state.
func (s *Server) WatchTLS(ctx context.Context, every time.Duration) {
	if s.cfg.TLS == nil {
		return
	}
	seen := map[string]string{}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var alerts []tlsAlert
		alerts, seen = tlsAlerts(s.cfg.Clock.Now(), s.tlsCerts(ctx), seen)
		for _, a := range alerts {
			s.reportTLS(ctx, a)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// reportTLS records an alert as an event of every service routed on its
// host (or of none) and notifies their webhooks.
func (s *Server) reportTLS(ctx context.Context, a tlsAlert) {
	s.log.Warn("certificate needs attention", "host", a.host, "message", a.message)
	found := false
	for _, v := range s.allServices() {
		v.mu.Lock()
		ri, err := v.release(ctx, v.state.Release)
		if err != nil || v.state.Release == 0 || !routesHost(ri, a.host) {
			v.mu.Unlock()
			continue
		}
		found = true
		s.emit(store.Event{Service: v.name, Kind: api.EventTLSExpiring, Message: a.message})
		if n := v.notifierFor(ri); n != nil {
			n.Send(context.Background(), notify.Event{Kind: api.EventTLSExpiring, Service: v.name, Release: v.state.Release, Message: a.message, Time: s.cfg.Clock.Now()})
		}
		v.mu.Unlock()
	}
	if !found {
		s.emit(store.Event{Kind: api.EventTLSExpiring, Message: a.message})
	}
}

func routesHost(ri *relInfo, host string) bool {
	r := ri.cfg.Service.Route
	if r == nil {
		return false
	}
	if strings.EqualFold(r.Host, host) {
		return true
	}
	return slices.ContainsFunc(r.Hosts, func(h string) bool { return strings.EqualFold(h, host) })
}
