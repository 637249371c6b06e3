package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/spec"
)

// Event kinds sent to notify targets.
const (
	KindStarted    = "deploy.started"
	KindPromoted   = "deploy.promoted"
	KindSucceeded  = "deploy.succeeded"
	KindRolledBack = "deploy.rolled_back"
	KindFailed     = "deploy.failed"
)

// Defaults of Options.
const (
	DefaultTimeout = 5 * time.Second
	DefaultQueue   = 64
)

// Event is one deployment event, and the JSON body of the "json" format.
type Event struct {
	Kind        string    `json:"kind"`
	Service     string    `json:"service"`
	Release     int       `json:"release"`
	FromRelease int       `json:"from_release,omitempty"`
	Message     string    `json:"message"`
	Time        time.Time `json:"time"`
}

// Options tune a Notifier; zero values take the defaults.
type Options struct {
	// Client posts the events; its own Timeout, if any, also applies.
	Client *http.Client
	// Timeout bounds each post (default 5s), and Close as a whole.
	Timeout time.Duration
	// Queue is how many events may wait per target before new ones are
	// dropped (default 64).
	Queue  int
	Logger *slog.Logger
}

// Notifier delivers events to notify targets. Send never blocks; each
// target has its own queue and worker, so events reach one target in the
// order they were sent and a slow target does not delay the others.
type Notifier struct {
	targets []*target
	client  *http.Client
	timeout time.Duration
	log     *slog.Logger

	stop   context.Context // cancelled when Close gives up on posts
	cancel context.CancelFunc

	mu      sync.Mutex
	idle    *sync.Cond // signalled when pending drops to 0
	pending int
	closed  bool
	workers sync.WaitGroup
}

type target struct {
	cfg   spec.Notify
	queue chan job
}

type job struct {
	ctx context.Context
	ev  Event
}

// New starts a Notifier for targets. Close it to stop its workers.
func New(targets []spec.Notify, o Options) *Notifier {
	n := &Notifier{client: o.Client, timeout: o.Timeout, log: o.Logger}
	if n.client == nil {
		n.client = &http.Client{}
	}
	if n.timeout <= 0 {
		n.timeout = DefaultTimeout
	}
	if n.log == nil {
		n.log = slog.Default()
	}
	queue := o.Queue
	if queue <= 0 {
		queue = DefaultQueue
	}
	n.idle = sync.NewCond(&n.mu)
	n.stop, n.cancel = context.WithCancel(context.Background())
	for _, cfg := range targets {
		t := &target{cfg: cfg, queue: make(chan job, queue)}
		n.targets = append(n.targets, t)
		n.workers.Add(1)
		go n.work(t)
	}
	return n
}

// Send queues ev for every target whose Events filter matches its kind
// (an empty filter matches all; "rolled_back" matches
// "deploy.rolled_back") and returns at once. Values of ctx are kept for
// the post but its cancellation is not: the event outlives the caller.
// After Close, or when a target's queue is full, the event is dropped
// and logged.
func (n *Notifier) Send(ctx context.Context, ev Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		n.log.Warn("notify: dropped event after close", "kind", ev.Kind, "service", ev.Service)
		return
	}
	for _, t := range n.targets {
		if !wants(t.cfg.Events, ev.Kind) {
			continue
		}
		select {
		case t.queue <- job{ctx: context.WithoutCancel(ctx), ev: ev}:
			n.pending++
		default:
			n.log.Warn("notify: queue full, dropped event", "url", redact(t.cfg.URL), "kind", ev.Kind, "service", ev.Service)
		}
	}
}

// Wait returns once every event sent before it has been delivered or
// has failed.
func (n *Notifier) Wait() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for n.pending > 0 {
		n.idle.Wait()
	}
}

// Close stops accepting events and waits for the queued ones, giving
// them one Timeout in all; posts still running then are cancelled.
func (n *Notifier) Close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	for _, t := range n.targets {
		close(t.queue)
	}
	n.mu.Unlock()
	giveUp := time.AfterFunc(n.timeout, n.cancel)
	n.workers.Wait()
	giveUp.Stop()
	n.cancel()
}

func (n *Notifier) work(t *target) {
	defer n.workers.Done()
	for j := range t.queue {
		if err := n.post(j.ctx, t.cfg, j.ev); err != nil {
			n.log.Warn("notify: post failed", "url", redact(t.cfg.URL), "kind", j.ev.Kind,
				"service", j.ev.Service, "release", j.ev.Release, "err", err)
		}
		n.mu.Lock()
		n.pending--
		if n.pending == 0 {
			n.idle.Broadcast()
		}
		n.mu.Unlock()
	}
}

// post is the one place this package does I/O.
func (n *Notifier) post(ctx context.Context, cfg spec.Notify, ev Event) error {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	stopOnClose := context.AfterFunc(n.stop, cancel)
	defer stopOnClose()

	var body any = ev
	if cfg.Format == "slack" {
		body = struct {
			Text string `json:"text"`
		}{Text: SlackText(ev)}
	}
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", ev.Kind, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		// A *url.Error repeats the URL, and webhook URLs carry secrets.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post %s event: %w", ev.Kind, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post %s event: %s: %s", ev.Kind, resp.Status, strings.TrimSpace(string(answer)))
	}
	return nil
}

// SlackText is the one-line message of ev in the slack format, e.g.
// "catalog release 7 rolled back to release 6: 5xx 31% > 5% over 10s …".
func SlackText(ev Event) string {
	var head string
	switch ev.Kind {
	case KindStarted:
		head = fmt.Sprintf("Deploying %s release %d", ev.Service, ev.Release)
		if ev.FromRelease > 0 {
			head += fmt.Sprintf(" (from release %d)", ev.FromRelease)
		}
	case KindPromoted:
		head = fmt.Sprintf("%s release %d promoted", ev.Service, ev.Release)
	case KindSucceeded:
		head = fmt.Sprintf("%s release %d is live", ev.Service, ev.Release)
	case KindRolledBack:
		head = fmt.Sprintf("%s release %d rolled back", ev.Service, ev.Release)
		if ev.FromRelease > 0 {
			head += fmt.Sprintf(" to release %d", ev.FromRelease)
		}
	case KindFailed:
		head = fmt.Sprintf("%s release %d failed", ev.Service, ev.Release)
	default:
		head = fmt.Sprintf("%s %s release %d", ev.Kind, ev.Service, ev.Release)
	}
	if ev.Message == "" {
		return "[berth] " + head
	}
	return "[berth] " + head + ": " + ev.Message
}

// wants reports whether a target's Events filter lets kind through.
func wants(filter []string, kind string) bool {
	return len(filter) == 0 || slices.Contains(filter, kind) ||
		slices.Contains(filter, strings.TrimPrefix(kind, "deploy."))
}

// redact keeps only a URL's scheme and host, for logs: webhook URLs
// carry tokens in their path or query.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}
