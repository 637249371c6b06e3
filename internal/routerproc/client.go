package routerproc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/certs"
	"github.com/berth-dev/berth/internal/router"
)

// Client is the control plane's handle on a router process: it implements
// the router as internal/control consumes it (Publish, WaitDrained,
// ReleaseSignals) over the router's unix control socket.
//
// Publish never blocks the control plane for long: a table the router did
// not take (it is being restarted or handed over) is kept and pushed again
// in the background until it is, newest first; older tables are never sent
// after newer ones.
type Client struct {
	sock string
	hc   *http.Client
	log  *slog.Logger

	mu      sync.Mutex // serialises pushes
	base    uint64     // added to table versions: the router's version at adoption
	pending *router.Table
	last    *router.Table // the last table published
	retry   bool
	// keep holds, after adopting a router that already serves a table, the
	// routes of that table that the new control plane has not published
	// yet, by route name, so that recovering one service at a time never
	// publishes a table missing the others. Emptied once every name is
	// published again or keepUntil passes.
	keep      map[string][]router.Route
	keepUntil time.Time
	closed    bool

	// watches ends every health watch when the client is closed.
	watches    context.Context
	endWatches context.CancelFunc
}

// NewClient returns a client of the router process whose control socket is
// sock. It does not connect.
func NewClient(sock string, log *slog.Logger) *Client {
	if log == nil {
		log = slog.Default()
	}
	watches, endWatches := context.WithCancel(context.Background())
	return &Client{
		sock:       sock,
		log:        log,
		watches:    watches,
		endWatches: endWatches,
		hc: &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
			MaxIdleConnsPerHost: 4,
		}},
	}
}

// Socket returns the control socket's path.
func (c *Client) Socket() string { return c.sock }

// Info asks the router process who it is.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var in Info
	return in, c.call(ctx, http.MethodGet, "/v1/info", nil, &in)
}

// Table returns the routing table the router process serves.
func (c *Client) Table(ctx context.Context) (*router.Table, error) {
	var t router.Table
	if err := c.call(ctx, http.MethodGet, "/v1/table", nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Adopt prepares the client to take over a router process that is already
// serving: table versions continue from the router's, and for up to grace
// the routes of the router's current table that the control plane has not
// published again are kept in every table it publishes (a control plane
// recovering its services publishes them one by one).
func (c *Client) Adopt(ctx context.Context, grace time.Duration) error {
	t, err := c.Table(ctx)
	if err != nil {
		return fmt.Errorf("read the running router's table: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base = t.Version
	c.keep = map[string][]router.Route{}
	for _, r := range t.Routes {
		c.keep[r.Name] = append(c.keep[r.Name], r)
	}
	c.keepUntil = time.Now().Add(grace)
	return nil
}

// Publish sends the routing table to the router process. If the router
// does not take it, it is retried in the background until it does or a
// newer table replaces it.
func (c *Client) Publish(t *router.Table) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.merge(t)
	c.last = out
	if err := c.push(out); err != nil {
		c.log.Warn("publish routing table to the router process; retrying", "version", out.Version, "error", err)
		c.pending = out
		if !c.retry {
			c.retry = true
			go c.retryLoop()
		}
		return
	}
	c.pending = nil
}

// merge returns the table to send for t: versions offset by base, and the
// adopted routes not yet published again. Called with c.mu held.
func (c *Client) merge(t *router.Table) *router.Table {
	out := &router.Table{Version: c.base + t.Version, Routes: t.Routes}
	if len(c.keep) == 0 {
		return out
	}
	if time.Now().After(c.keepUntil) {
		c.keep = nil
		return out
	}
	for _, r := range t.Routes {
		delete(c.keep, r.Name)
	}
	if len(c.keep) == 0 {
		return out
	}
	out.Routes = append([]router.Route(nil), t.Routes...)
	for _, rs := range c.keep {
		out.Routes = append(out.Routes, rs...)
	}
	return out
}

func (c *Client) push(t *router.Table) error {
	ctx, cancel := context.WithTimeout(context.Background(), pushTimeout)
	defer cancel()
	err := c.call(ctx, http.MethodPut, "/v1/table", t, nil)
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusConflict {
		return nil // the router already serves a newer table
	}
	return err
}

// pushTimeout bounds one attempt to send a table.
const pushTimeout = 5 * time.Second

// retryEvery is how often a table the router did not take is sent again.
const retryEvery = 100 * time.Millisecond

func (c *Client) retryLoop() {
	tick := time.NewTicker(retryEvery)
	defer tick.Stop()
	for range tick.C {
		c.mu.Lock()
		if c.pending == nil || c.closed {
			c.retry = false
			c.mu.Unlock()
			return
		}
		if err := c.push(c.pending); err == nil {
			c.log.Info("routing table published after retry", "version", c.pending.Version)
			c.pending = nil
		}
		c.mu.Unlock()
	}
}

// Resend sends the last published table again, in the background until
// it is taken: to a new router process that replaced one that died.
func (c *Client) Resend() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil || c.closed {
		return
	}
	if c.pending == nil {
		c.pending = c.last
	}
	if !c.retry {
		c.retry = true
		go c.retryLoop()
	}
}

// Close stops background retries and ends every health watch.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.endWatches()
	c.hc.CloseIdleConnections()
	return nil
}

// WaitDrained blocks until the router has addr out of its table and no
// request in flight to it, or ctx ends.
func (c *Client) WaitDrained(ctx context.Context, addr string) error {
	for {
		err := c.call(ctx, http.MethodPost, "/v1/drained?addr="+url.QueryEscape(addr), nil, nil)
		if err == nil || ctx.Err() != nil {
			if err != nil {
				return fmt.Errorf("wait for target %s to drain: %w", addr, err)
			}
			return nil
		}
		// The router is being restarted or handed over: ask again.
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for target %s to drain: %w", addr, ctx.Err())
		case <-time.After(retryEvery):
		}
	}
}

// signalsTimeout bounds a signals read; analysis then sees no traffic.
const signalsTimeout = 2 * time.Second

// ReleaseSignals returns the router's traffic summary of one release of a
// route (router.Router.ReleaseSignals); the zero Signals when the router
// cannot be asked.
func (c *Client) ReleaseSignals(routeName string, release int, window time.Duration) router.Signals {
	q := url.Values{"route": {routeName}, "release": {strconv.Itoa(release)}, "window": {window.String()}}
	return c.signals(q)
}

// Signals returns the router's traffic summary of one target group.
func (c *Client) Signals(group string, window time.Duration) router.Signals {
	return c.signals(url.Values{"group": {group}, "window": {window.String()}})
}

func (c *Client) signals(q url.Values) router.Signals {
	ctx, cancel := context.WithTimeout(context.Background(), signalsTimeout)
	defer cancel()
	var s router.Signals
	if err := c.call(ctx, http.MethodGet, "/v1/signals?"+q.Encode(), nil, &s); err != nil {
		c.log.Warn("read signals from the router process", "query", q.Encode(), "error", err)
		return router.Signals{}
	}
	return s
}

// Stop asks the router process to stop gracefully.
func (c *Client) Stop(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "/v1/stop", nil, nil)
}

// Gather reads the router process's Prometheus metrics, so the control
// plane's /metrics can serve them (prometheus.Gatherer).
func (c *Client) Gather() ([]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(context.Background(), signalsTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://router/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read router metrics: %w", err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse router metrics: %w", err)
	}
	out := make([]*dto.MetricFamily, 0, len(fams))
	for _, f := range fams {
		out = append(out, f)
	}
	return out, nil
}

// Listener asks the router process for a duplicate of its client-facing
// listening socket (passed over the control socket with SCM_RIGHTS).
func (c *Client) Listener(ctx context.Context) (*os.File, error) {
	return c.listener(ctx, "/v1/listener")
}

// TLSListener is Listener for the router's TLS listening socket.
func (c *Client) TLSListener(ctx context.Context) (*os.File, error) {
	return c.listener(ctx, "/v1/listener?tls=1")
}

// TLS describes the certificate the router serves for each host.
func (c *Client) TLS(ctx context.Context) ([]certs.HostCert, error) {
	var out []certs.HostCert
	err := c.call(ctx, http.MethodGet, "/v1/tls", nil, &out)
	return out, err
}

// RenewTLS renews host's ACME certificate now.
func (c *Client) RenewTLS(ctx context.Context, host string) error {
	return c.call(ctx, http.MethodPost, "/v1/tls/renew?host="+url.QueryEscape(host), nil, nil)
}

func (c *Client) listener(ctx context.Context, path string) (*os.File, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.sock)
	if err != nil {
		return nil, fmt.Errorf("dial router control socket: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	uc := conn.(*net.UnixConn)
	if _, err := io.WriteString(uc, "POST "+path+" HTTP/1.1\r\nHost: router\r\nContent-Length: 0\r\n\r\n"); err != nil {
		return nil, fmt.Errorf("ask for the listening socket: %w", err)
	}
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("receive the listening socket: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive the listening socket: no descriptor in the answer %q", buf[:n])
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("receive the listening socket: %v", err)
	}
	return os.NewFile(uintptr(fds[0]), "router-listener"), nil
}

// statusError is a non-2xx answer of the control socket.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return fmt.Sprintf("router answered %d: %s", e.code, e.msg) }

func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://router"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("router control socket %s: %w", c.sock, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e apiError
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = string(b)
		}
		return &statusError{code: resp.StatusCode, msg: e.Error}
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode router answer to %s: %w", path, err)
	}
	return nil
}

// Load sends t as it is (same version) to a router that serves no table
// yet, retrying until ctx ends while the process starts. Used to hand a
// table over to a new router process.
func (c *Client) Load(ctx context.Context, t *router.Table) error {
	for {
		err := c.call(ctx, http.MethodPut, "/v1/table", t, nil)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("load routing table: %w (last: %v)", ctx.Err(), err)
		case <-time.After(retryEvery / 5):
		}
	}
}

// TargetHealth returns, for every target the router knows, whether it
// receives traffic (its active check passes and it is not ejected): the
// router's view of task health, for a control plane that reads health from
// the data plane instead of probing tasks itself.
func (c *Client) TargetHealth() (map[string]bool, error) {
	fams, err := c.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, f := range fams {
		if f.GetName() != "berth_router_target_healthy" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "target" {
					out[l.GetValue()] = m.GetGauge().GetValue() == 1
				}
			}
		}
	}
	return out, nil
}

// Watch has the router process check addr's health with hc until stop is
// called, and reports every check to report, in order, from one goroutine
// (control.HealthWatcher): the router process is the one prober, and the
// control plane reads its verdicts from it. The verdict starts at up.
//
// While the router process cannot be reached (it is being restarted or
// handed over), nothing is reported; the watch is made again, from the
// last verdict reported, as soon as it can be. stop does not wait for a
// report in progress.
func (c *Client) Watch(addr string, hc router.HealthCheck, up bool, report func(router.Check)) (stop func()) {
	ctx, cancel := context.WithCancel(c.watches)
	go func() {
		last := up
		for {
			err := c.watchOnce(ctx, WatchRequest{Addr: addr, Check: hc, Up: last}, func(wc WatchCheck) {
				last = wc.Up
				ch := router.Check{Up: wc.Up, Changed: wc.Changed, At: wc.At}
				if wc.Error != "" {
					ch.Err = errors.New(wc.Error)
				}
				report(ch)
			})
			if ctx.Err() != nil {
				return
			}
			c.log.Debug("health watch interrupted; watching again", "addr", addr, "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(retryEvery):
			}
		}
	}()
	return cancel
}

// watchOnce streams one watch's checks to report until the stream ends or
// ctx does.
func (c *Client) watchOnce(ctx context.Context, wr WatchRequest, report func(WatchCheck)) error {
	b, err := json.Marshal(wr)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://router/v1/watch", bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("router control socket %s: %w", c.sock, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return &statusError{code: resp.StatusCode, msg: string(bytes.TrimSpace(msg))}
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var wc WatchCheck
		if err := dec.Decode(&wc); err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the router ended the watch")
			}
			return fmt.Errorf("read health watch of %s: %w", wr.Addr, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		report(wc)
	}
}
