package ecs

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/deploy"
	"github.com/berth-dev/berth/internal/spec"
)

// This file runs a native rollout's smoke checks and webhook: from berth,
// through the ALB's test listener rule, while ECS holds the deployment at
// a PAUSE hook after test traffic moved to green.

// checkTimeout bounds one smoke request or webhook call.
const checkTimeout = 10 * time.Second

// listenerURL is a listener's address through its balancer's DNS name;
// the port is left out when it is the protocol's default.
func listenerURL(dns string, proto elbtypes.ProtocolEnum, port int32) string {
	scheme := "http"
	if proto == elbtypes.ProtocolEnumHttps {
		scheme = "https"
	}
	host := dns
	if (scheme == "http" && port != 80) || (scheme == "https" && port != 443) {
		host = net.JoinHostPort(dns, strconv.Itoa(int(port)))
	}
	return scheme + "://" + host
}

// previewTransport sends every request as test traffic of one service:
// with the preview header, or to the preview host (and the route's host
// otherwise, so the rule's host condition matches).
type previewTransport struct {
	base         http.RoundTripper
	header, host string
}

func (t previewTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	if t.host != "" {
		r.Host = t.host
	}
	if t.header != "" {
		r.Header.Set(t.header, "1")
	}
	return t.base.RoundTrip(r)
}

// previewClient is an HTTP client whose requests reach svc's test
// listener rule.
func previewClient(svc *spec.Service) *http.Client {
	d := svc.Deploy
	if d == nil {
		d = spec.BuiltinDeploy()
	}
	header, host := previewOf(d)
	t := previewTransport{header: header, host: host}
	if host != "" {
		t.header = "" // the host alone selects the test rule
	} else if r := svc.Route; r != nil {
		t.host = r.Host
		if t.host == "" && len(r.Hosts) > 0 {
			t.host = r.Hosts[0]
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if t.host != "" {
		// The certificate is the route's, not the balancer's DNS name's.
		tr.TLSClientConfig = &tls.Config{ServerName: t.host, MinVersion: tls.VersionTLS12}
	}
	t.base = tr
	return &http.Client{Timeout: checkTimeout, Transport: t}
}

// smokePath is where a smoke path is reached through the balancer: under
// the route's path when the rule strips that prefix on the way in.
func smokePath(r *spec.Route, path string) string {
	p := strings.TrimSuffix(r.Path, "/")
	if r.StripPrefix && p != "" {
		return p + path
	}
	return path
}

// runChecks runs the service's smoke checks through the test listener
// rule and calls its webhook, reporting each result. It returns "" when
// all passed, else why the release fails (as the local engine words it).
func (e *Engine) runChecks(ctx context.Context, d *deployment, fn func(api.Event) error) (string, error) {
	svc, err := e.serviceSpec(d.d.Service)
	if err != nil {
		return "", err
	}
	a := &spec.Analysis{}
	if svc.Deploy != nil && svc.Deploy.Analysis != nil {
		a = svc.Deploy.Analysis
	}
	var results []deploy.CheckResult
	if len(a.Smoke) > 0 {
		if _, err := e.checkListener(ctx); err != nil {
			return "", err
		}
		e.mu.Lock()
		base := e.listenerURL
		e.mu.Unlock()
		paths := make([]string, len(a.Smoke))
		for i, p := range a.Smoke {
			paths[i] = smokePath(svc.Route, p)
		}
		for _, r := range deploy.RunSmoke(ctx, previewClient(svc), base, paths) {
			r.Name = "smoke check " + r.Name
			results = append(results, r)
		}
	}
	if a.Webhook != "" {
		payload := deploy.WebhookPayload{Service: d.d.Service, Release: d.d.ToRelease, FromRelease: d.d.FromRelease, Strategy: d.d.Strategy, Phase: deploy.PhasePreview}
		results = append(results, deploy.CallWebhook(ctx, &http.Client{Timeout: checkTimeout}, a.Webhook, payload))
	}
	for _, r := range results {
		verdict := "passed"
		if !r.OK {
			verdict = "failed"
		}
		if err := fn(e.event(d, api.EventDeployProgress, fmt.Sprintf("%s %s (%s)", r.Name, verdict, r.Detail))); err != nil {
			return "", err
		}
	}
	for _, r := range results {
		if !r.OK {
			return fmt.Sprintf("%s failed (%s) on %s release %d", r.Name, r.Detail, d.d.Service, d.d.ToRelease), nil
		}
	}
	return "", nil
}
