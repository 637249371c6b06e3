package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/spec"
)

// sink is a loopback webhook receiver that keeps every body it gets.
type sink struct {
	*httptest.Server
	bodies chan []byte
}

func newSink(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) *sink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &sink{bodies: make(chan []byte, 16)}
	s.Server = &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want POST JSON", http.StatusBadRequest)
			return
		}
		s.bodies <- b
		if h != nil {
			h(w, r)
		}
	})}}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// logs is a concurrency-safe buffer for a JSON slog handler.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLogger() (*slog.Logger, *logs) {
	l := &logs{}
	return slog.New(slog.NewJSONHandler(l, nil)), l
}

var rolledBack = Event{Kind: KindRolledBack, Service: "catalog", Release: 7, FromRelease: 6,
	Message: "5xx 31% > 5% over 10s on catalog release 7; rolled back to release 6",
	Time:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}

func TestSend_JSONAndSlack(t *testing.T) {
	plain := newSink(t, nil)
	slack := newSink(t, nil)
	n := New([]spec.Notify{{URL: plain.URL + "/hook", Format: "json"}, {URL: slack.URL, Format: "slack"}}, Options{})
	defer n.Close()
	n.Send(context.Background(), rolledBack)
	n.Wait()

	var got Event
	if err := json.Unmarshal(<-plain.bodies, &got); err != nil || got != rolledBack {
		t.Fatalf("json body = %+v (%v), want %+v", got, err, rolledBack)
	}
	var msg map[string]string
	if err := json.Unmarshal(<-slack.bodies, &msg); err != nil {
		t.Fatalf("slack body: %v", err)
	}
	want := "[berth] catalog release 7 rolled back to release 6: 5xx 31% > 5% over 10s on catalog release 7; rolled back to release 6"
	if len(msg) != 1 || msg["text"] != want {
		t.Fatalf("slack body = %v, want text %q", msg, want)
	}
}

func TestSend_EventsFilter(t *testing.T) {
	all := newSink(t, nil)
	failures := newSink(t, nil)
	n := New([]spec.Notify{{URL: all.URL}, {URL: failures.URL, Events: []string{"deploy.rolled_back", "failed"}}}, Options{})
	defer n.Close()
	for _, kind := range []string{KindStarted, KindPromoted, KindSucceeded, KindRolledBack, KindFailed} {
		ev := rolledBack
		ev.Kind = kind
		n.Send(context.Background(), ev)
	}
	n.Wait()
	kinds := func(s *sink) []string {
		var out []string
		for len(s.bodies) > 0 {
			var ev Event
			if err := json.Unmarshal(<-s.bodies, &ev); err != nil {
				t.Fatal(err)
			}
			out = append(out, ev.Kind)
		}
		return out
	}
	if got := strings.Join(kinds(all), ","); got != "deploy.started,deploy.promoted,deploy.succeeded,deploy.rolled_back,deploy.failed" {
		t.Fatalf("unfiltered target got %s (in order)", got)
	}
	if got := strings.Join(kinds(failures), ","); got != "deploy.rolled_back,deploy.failed" {
		t.Fatalf("filtered target got %s", got)
	}
}

func TestSend_FailuresAreLoggedNotReturned(t *testing.T) {
	release := make(chan struct{})
	hanging := newSink(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	broken := newSink(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "slack is down", http.StatusInternalServerError)
	})
	healthy := newSink(t, nil)
	log, out := newLogger()
	n := New([]spec.Notify{{URL: hanging.URL + "/hook?token=s3cret"}, {URL: broken.URL}, {URL: healthy.URL}},
		Options{Timeout: 200 * time.Millisecond, Logger: log})
	defer n.Close()

	// The deployment's caller: Send returns while the hanging target
	// still holds its request, and a cancelled caller context does not
	// cancel delivery.
	ctx, cancel := context.WithCancel(context.Background())
	n.Send(ctx, rolledBack)
	cancel()
	select {
	case <-healthy.bodies:
	case <-time.After(5 * time.Second):
		t.Fatal("healthy target got nothing while another target hangs")
	}
	<-hanging.bodies // the hanging request is in flight now, and Send has long returned
	n.Wait()

	logged := out.String()
	for _, want := range []string{"500 Internal Server Error: slack is down", "context deadline exceeded", "deploy.rolled_back"} {
		if !strings.Contains(logged, want) {
			t.Errorf("log lacks %q:\n%s", want, logged)
		}
	}
	if strings.Contains(logged, "s3cret") {
		t.Errorf("log leaks the webhook token:\n%s", logged)
	}
}

func TestClose_IsBoundedAndDropsLaterEvents(t *testing.T) {
	hanging := newSink(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	log, out := newLogger()
	timeout := 300 * time.Millisecond
	n := New([]spec.Notify{{URL: hanging.URL}}, Options{Timeout: timeout, Logger: log})
	for range 10 {
		n.Send(context.Background(), rolledBack)
	}
	<-hanging.bodies
	start := time.Now()
	n.Close()
	// Ten queued posts of 300ms each would take 3s; Close gives them one
	// timeout in all.
	if took := time.Since(start); took > 3*timeout {
		t.Fatalf("Close took %v with a hanging target", took)
	}
	n.Send(context.Background(), rolledBack) // after Close: dropped, no panic
	n.Wait()
	n.Close()
	if !strings.Contains(out.String(), "dropped event after close") {
		t.Fatalf("log:\n%s", out.String())
	}
}

func TestSend_FullQueueDrops(t *testing.T) {
	release := make(chan struct{})
	slow := newSink(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	log, out := newLogger()
	n := New([]spec.Notify{{URL: slow.URL}}, Options{Queue: 1, Logger: log})
	defer n.Close()
	n.Send(context.Background(), rolledBack)
	<-slow.bodies // the worker holds the first event; the queue is empty
	n.Send(context.Background(), rolledBack)
	n.Send(context.Background(), rolledBack) // queue of 1 is full
	close(release)
	n.Wait()
	if !strings.Contains(out.String(), "queue full") {
		t.Fatalf("log:\n%s", out.String())
	}
	if got := len(slow.bodies); got != 1 {
		t.Fatalf("%d more events delivered, want 1", got)
	}
}

func TestSlackText(t *testing.T) {
	cases := []struct {
		ev   Event
		want string
	}{
		{Event{Kind: KindStarted, Service: "web", Release: 3, FromRelease: 2}, "[berth] Deploying web release 3 (from release 2)"},
		{Event{Kind: KindStarted, Service: "web", Release: 1}, "[berth] Deploying web release 1"},
		{Event{Kind: KindPromoted, Service: "web", Release: 3, Message: "50% of traffic"}, "[berth] web release 3 promoted: 50% of traffic"},
		{Event{Kind: KindSucceeded, Service: "web", Release: 3}, "[berth] web release 3 is live"},
		{Event{Kind: KindFailed, Service: "web", Release: 3, Message: "exit code 1"}, "[berth] web release 3 failed: exit code 1"},
	}
	for _, tc := range cases {
		if got := SlackText(tc.ev); got != tc.want {
			t.Errorf("SlackText(%+v) = %q, want %q", tc.ev, got, tc.want)
		}
	}
}
