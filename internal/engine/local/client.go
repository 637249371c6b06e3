package local

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/engine"
)

// ErrUnreachable means no control plane answered at the address. It is an
// engine.ErrStreamLost: a control plane that restarts answers again.
var ErrUnreachable error = unreachable{}

type unreachable struct{}

func (unreachable) Error() string { return "control plane not reachable" }

// Is makes ErrUnreachable match engine.ErrStreamLost.
func (unreachable) Is(target error) bool { return target == engine.ErrStreamLost }

// Client implements engine.Engine over the control plane's HTTP API, on a
// unix socket or over HTTP(S) with a bearer token.
type Client struct {
	base  string
	where string
	token string
	hc    *http.Client
	state string // see WithState
	// refuse, when set, fails every request before it is sent.
	refuse error
}

// refusingTransport never connects: a client that must not send its
// token has it as its transport, so nothing reaches the network even by
// mistake.
type refusingTransport struct{}

func (refusingTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, ErrPlainToken }

var _ engine.Engine = (*Client)(nil)

// ErrPlainToken refuses to send a bearer token over plain HTTP: the TCP
// API speaks HTTPS only, and a token sent in the clear is readable by
// anyone on the path.
var ErrPlainToken = errors.New("refusing to send the bearer token over plain http://: the berth API over TCP is HTTPS only; use BERTH_API=https://HOST:PORT (and BERTH_API_CA=PATH of the server's CA, from `berth tls ca`)")

var _ engine.Timeliner = (*Client)(nil)

// New returns a client for addr: "unix:///path/berth.sock", a bare socket
// path, or an http(s):// URL. Over https, roots (when not nil) are the
// only CAs trusted (the control plane's local CA, pinned); without it the
// system's. With a token, an http:// address is refused before any
// connection is made (ErrPlainToken).
func New(addr, token string, roots ...*x509.CertPool) *Client {
	c := &Client{token: token, where: addr}
	switch {
	case strings.HasPrefix(addr, "http://") && token != "":
		c.base = strings.TrimRight(addr, "/")
		c.refuse = ErrPlainToken
		c.hc = &http.Client{Transport: refusingTransport{}}
	case strings.HasPrefix(addr, "http://"), strings.HasPrefix(addr, "https://"):
		c.base = strings.TrimRight(addr, "/")
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if len(roots) > 0 && roots[0] != nil {
			tr.TLSClientConfig.RootCAs = roots[0]
		}
		c.hc = &http.Client{Transport: tr}
	default:
		path := strings.TrimPrefix(addr, "unix://")
		c.base = "http://berth"
		c.hc = &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
		}}
	}
	return c
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

// send performs a request and returns a 2xx response, or the API's error.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	if c.refuse != nil {
		return nil, c.refuse
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w at %s: %v", ErrUnreachable, c.where, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var ae api.Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &ae) != nil || ae.Error == "" {
			ae.Error = strings.TrimSpace(string(b))
		}
		return nil, &APIError{Status: resp.StatusCode, Message: ae.Error, Hint: ae.Hint}
	}
	return resp, nil
}

// APIError is an error answer of the control plane.
type APIError struct {
	Status  int
	Message string
	Hint    string
}

func (e *APIError) Error() string {
	if e.Hint != "" {
		return e.Message + " (" + e.Hint + ")"
	}
	return e.Message
}

// Target implements engine.Engine: a control plane running containers
// takes images from the local Docker engine's store; one running processes
// takes artifacts.
func (c *Client) Target(ctx context.Context) (engine.BuildTarget, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return engine.BuildTarget{}, err
	}
	if st.Engine == "docker" {
		return engine.BuildTarget{Kind: engine.TargetImage}, nil
	}
	return engine.BuildTarget{Kind: engine.TargetArtifact}, nil
}

// Status implements engine.Engine.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var s api.Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
	return s, err
}

// Deploy implements engine.Engine.
func (c *Client) Deploy(ctx context.Context, r api.DeployRequest) (api.DeployResponse, error) {
	var out api.DeployResponse
	err := c.do(ctx, http.MethodPost, "/v1/deploy", r, &out)
	return out, err
}

// Deployment implements engine.Engine.
func (c *Client) Deployment(ctx context.Context, id string) (api.Deployment, error) {
	var out api.Deployment
	err := c.do(ctx, http.MethodGet, "/v1/deployments/"+url.PathEscape(id), nil, &out)
	return out, err
}

// Timeline implements engine.Timeliner: the phases of a deployment, or of
// a release set's deployments.
func (c *Client) Timeline(ctx context.Context, id string) (api.Timeline, error) {
	var out api.Timeline
	err := c.do(ctx, http.MethodGet, "/v1/deployments/"+url.PathEscape(id)+"/timeline", nil, &out)
	return out, err
}

// Rollback implements engine.Engine.
func (c *Client) Rollback(ctx context.Context, r api.RollbackRequest) (api.DeployResponse, error) {
	var out api.DeployResponse
	err := c.do(ctx, http.MethodPost, "/v1/rollback", r, &out)
	return out, err
}

// Scale implements engine.Engine.
func (c *Client) Scale(ctx context.Context, counts map[string]int) error {
	return c.do(ctx, http.MethodPost, "/v1/scale", api.ScaleRequest{Counts: counts}, nil)
}

// RolloutSecrets implements engine.Engine.
func (c *Client) RolloutSecrets(ctx context.Context, r api.SecretsRolloutRequest) (api.DeployResponse, error) {
	var out api.DeployResponse
	err := c.do(ctx, http.MethodPost, "/v1/secrets/rollout", r, &out)
	return out, err
}

// History implements engine.Engine.
func (c *Client) History(ctx context.Context, service string) (api.History, error) {
	var out api.History
	err := c.do(ctx, http.MethodGet, "/v1/services/"+url.PathEscape(service)+"/history", nil, &out)
	return out, err
}

// Down implements engine.Engine.
func (c *Client) Down(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/down", struct{}{}, nil)
}

// Promote implements engine.Engine.
func (c *Client) Promote(ctx context.Context, service string) error {
	return c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(service)+"/promote", struct{}{}, nil)
}

// Restart resets a service's restart budget and replaces its tasks one at
// a time (berth restart).
func (c *Client) Restart(ctx context.Context, service string) error {
	return c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(service)+"/restart", struct{}{}, nil)
}

// Abort implements engine.Engine.
func (c *Client) Abort(ctx context.Context, service string) error {
	return c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(service)+"/abort", struct{}{}, nil)
}

// Logs implements engine.Engine.
func (c *Client) Logs(ctx context.Context, service string, o engine.LogOptions) (io.ReadCloser, error) {
	q := url.Values{}
	if o.Follow {
		q.Set("follow", "1")
	}
	if o.Tail > 0 {
		q.Set("tail", strconv.Itoa(o.Tail))
	}
	if o.Trace != "" {
		q.Set("trace", o.Trace)
	}
	path := "/v1/services/" + url.PathEscape(service) + "/logs?"
	if service == "" {
		path = "/v1/logs?" // every service
	}
	resp, err := c.send(ctx, http.MethodGet, path+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Events implements engine.Engine; fn's error ends the stream and is returned.
func (c *Client) Events(ctx context.Context, q engine.EventQuery, fn func(api.Event) error) error {
	v := url.Values{}
	if q.After != "" {
		v.Set("after", q.After)
	}
	if q.Service != "" {
		v.Set("service", q.Service)
	}
	if q.Deployment != "" {
		v.Set("deployment", q.Deployment)
	}
	if q.Follow {
		v.Set("follow", "1")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := c.send(ctx, http.MethodGet, "/v1/events?"+v.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		var ev api.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("decode event: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		// The control plane went away mid-stream (unexpected EOF).
		return fmt.Errorf("event stream: %w: %w", engine.ErrStreamLost, err)
	}
	if q.Follow && ctx.Err() == nil {
		return fmt.Errorf("%w: event stream ended (control plane stopped?)", ErrUnreachable)
	}
	return ctx.Err()
}
