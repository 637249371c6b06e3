package control

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/store"
)

// Handler returns the HTTP API (/v1/...). When token is not empty every
// request must carry "Authorization: Bearer <token>". onDown is called
// after POST /v1/down stopped every task.
func (s *Server) Handler(token string, onDown func()) http.Handler {
	mux := http.NewServeMux()
	s.secretRoutes(mux)
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Status(r.Context()))
	})
	mux.HandleFunc("POST /v1/deploy", func(w http.ResponseWriter, r *http.Request) {
		var req api.DeployRequest
		if !readJSON(w, r, &req) {
			return
		}
		if err := checkPhases(req.Phases); err != nil {
			writeErr(w, fmt.Errorf("%w: %w", ErrBadRequest, err))
			return
		}
		resp, err := s.Deploy(r.Context(), req)
		if err != nil {
			writeErr(w, err)
			return
		}
		s.recordPhases(r.Context(), req.Phases, resp.Deployments)
		writeJSON(w, http.StatusAccepted, resp)
	})
	mux.HandleFunc("POST /v1/rollback", func(w http.ResponseWriter, r *http.Request) {
		var req api.RollbackRequest
		if !readJSON(w, r, &req) {
			return
		}
		resp, err := s.Rollback(r.Context(), req)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, resp)
	})
	mux.HandleFunc("POST /v1/scale", func(w http.ResponseWriter, r *http.Request) {
		var req api.ScaleRequest
		if !readJSON(w, r, &req) {
			return
		}
		if err := s.Scale(r.Context(), req); err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, s.Status(r.Context()))
	})
	mux.HandleFunc("GET /v1/services/{name}/history", func(w http.ResponseWriter, r *http.Request) {
		h, err := s.History(r.Context(), r.PathValue("name"))
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, h)
	})
	mux.HandleFunc("GET /v1/deployments/{id}", func(w http.ResponseWriter, r *http.Request) {
		d, err := s.Deployment(r.Context(), r.PathValue("id"))
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, d)
	})
	mux.HandleFunc("GET /v1/deployments/{id}/timeline", func(w http.ResponseWriter, r *http.Request) {
		t, err := s.Timeline(r.Context(), r.PathValue("id"))
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, t)
	})
	mux.HandleFunc("POST /v1/secrets/rollout", s.handleSecretsRollout)
	mux.HandleFunc("POST /v1/services/{name}/promote", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Promote(r.Context(), r.PathValue("name")); err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, s.Status(r.Context()))
	})
	mux.HandleFunc("POST /v1/services/{name}/abort", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Abort(r.Context(), r.PathValue("name")); err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, s.Status(r.Context()))
	})
	mux.HandleFunc("POST /v1/services/{name}/restart", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Restart(r.Context(), r.PathValue("name")); err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, s.Status(r.Context()))
	})
	mux.HandleFunc("GET /v1/events", s.handleEvents)
	mux.HandleFunc("GET /v1/signals", s.handleSignals)
	mux.HandleFunc("GET /v1/services/{name}/logs", s.handleLogs)
	mux.HandleFunc("GET /v1/logs", s.handleLogs)
	mux.HandleFunc("POST /v1/down", func(w http.ResponseWriter, r *http.Request) {
		for _, v := range s.allServices() {
			v.stopAll(r.Context())
		}
		s.wg.Wait()
		writeJSON(w, http.StatusOK, map[string]string{"status": "stopped"})
		if onDown != nil {
			go onDown()
		}
	})
	return RequireToken(token, mux)
}

// RequireToken returns h guarded by a bearer token: every request must
// carry "Authorization: Bearer <token>". An empty token guards nothing (the
// unix socket, protected by file permissions).
func RequireToken(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			writeJSON(w, http.StatusUnauthorized, api.Error{Error: "missing or wrong API token", Hint: "set BERTH_TOKEN to the token berth serve was started with"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// handleEvents streams events as newline-delimited JSON: ?after=ID,
// &service=, &deployment=, &follow=1 keeps the stream open; &tail=N
// (without after) starts at the newest N events instead of the first.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after, dep int64
	var err error
	if a := q.Get("after"); a != "" {
		if after, err = parseEventID(a); err != nil {
			writeErr(w, err)
			return
		}
	}
	tail := 0
	if ts := q.Get("tail"); ts != "" {
		if tail, err = strconv.Atoi(ts); err != nil || tail < 1 || tail > maxEventTail {
			writeErr(w, fmt.Errorf("%w: tail: %q is not a number from 1 to %d", ErrBadRequest, ts, maxEventTail))
			return
		}
	}
	if d := q.Get("deployment"); d != "" {
		if dep, err = parseDeploymentID(d); err != nil {
			writeErr(w, err)
			return
		}
	}
	if name := q.Get("service"); name != "" && !validName(name) {
		writeErr(w, fmt.Errorf("%w: service: %q is not a service name", ErrBadRequest, name))
		return
	}
	follow := q.Get("follow") == "1" || q.Get("follow") == "true"
	sse := strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	wake, unsub := s.events.subscribe()
	defer unsub()
	if sse {
		w.Header().Set("Content-Type", "text/event-stream")
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	for {
		eq := store.EventQuery{AfterID: after, Service: q.Get("service"), Deployment: dep, Limit: 500}
		if tail > 0 && after == 0 {
			eq.Limit, eq.Newest = tail, true
		}
		evs, err := s.cfg.Store.Events(r.Context(), eq)
		if err != nil {
			return
		}
		for _, e := range evs {
			after = e.ID
			ae := api.Event{ID: eventID(e.ID), Time: e.Time, Service: e.Service, Deployment: deploymentID(e.Deployment), Kind: e.Kind, Message: e.Message, Fields: e.Fields}
			if sse {
				fmt.Fprintf(w, "id: %s\nevent: %s\ndata: ", ae.ID, e.Kind)
			}
			if err := enc.Encode(ae); err != nil {
				return
			}
			if sse {
				fmt.Fprint(w, "\n")
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
		if eq.Newest && len(evs) == 0 {
			tail = 0 // nothing yet: follow from the first event
		}
		if len(evs) == 500 && !eq.Newest {
			continue
		}
		if !follow {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		case <-wake:
		}
	}
}

// handleLogs streams the logs of a service's tasks (GET
// /v1/services/{name}/logs), or of every service's (GET /v1/logs), each
// line prefixed with its task id (which starts with its service's name):
// ?tail=N&follow=1. With follow it follows the services, not the tasks:
// tasks started later (a deploy, a restart, a scale) are streamed as they
// start, from their first line, until the client goes away.
func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name != "" {
		if _, ok := s.service(name); !ok {
			writeErr(w, fmt.Errorf("%w %q", ErrUnknownService, name))
			return
		}
	}
	q := r.URL.Query()
	tail, _ := strconv.Atoi(q.Get("tail"))
	follow := q.Get("follow") == "1" || q.Get("follow") == "true"
	opts := driver.LogOptions{Follow: follow, Tail: tail}
	trace := q.Get("trace")
	if trace != "" {
		if !validTraceQuery(trace) {
			writeErr(w, fmt.Errorf("%w: trace %q is not a trace id (32 hex digits) or request id", ErrBadRequest, trace))
			return
		}
		if name != "" {
			writeErr(w, fmt.Errorf("%w: trace follows a request across every service; name no service", ErrBadRequest))
			return
		}
	}
	keep := func(line string) bool { return trace == "" || strings.Contains(line, trace) }
	wake, unsub := s.events.subscribe()
	defer unsub()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	var mu sync.Mutex
	if trace != "" {
		s.writeRouterTrace(w, trace)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	streamed := map[string]bool{}
	for {
		for _, sr := range s.logSources(name) {
			if streamed[sr.id] {
				continue
			}
			streamed[sr.id] = true
			rc, err := s.cfg.Driver.Logs(r.Context(), sr.h, opts)
			if err != nil {
				mu.Lock()
				fmt.Fprintf(w, "%s | (logs unavailable: %v)\n", sr.id, err)
				mu.Unlock()
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer rc.Close()
				sc := bufio.NewScanner(rc)
				sc.Buffer(make([]byte, 64*1024), 1024*1024)
				for sc.Scan() {
					if !keep(sc.Text()) {
						continue
					}
					mu.Lock()
					fmt.Fprintf(w, "%s | %s\n", sr.id, sc.Text())
					if flusher != nil {
						flusher.Flush()
					}
					mu.Unlock()
				}
			}()
		}
		if !follow {
			return
		}
		// Tasks that start from now on are shown from their first line.
		opts.Tail = 0
		select {
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		case <-wake:
		}
	}
}

// logSource is one started task whose logs can be read.
type logSource struct {
	id string
	h  driver.Handle
}

// logSources lists the started tasks of service name (every service when
// name is ""), by task id.
func (s *Server) logSources(name string) []logSource {
	var svcs []*svc
	s.mu.Lock()
	for n, v := range s.services {
		if name == "" || n == name {
			svcs = append(svcs, v)
		}
	}
	s.mu.Unlock()
	var out []logSource
	for _, v := range svcs {
		v.mu.Lock()
		for id, t := range v.tasks {
			if !t.pending {
				out = append(out, logSource{id, t.handle})
			}
		}
		v.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b logSource) int { return strings.Compare(a.id, b.id) })
	return out
}

// maxEventTail bounds ?tail= of the event stream.
const maxEventTail = 10000

// maxBody bounds a request body: a deploy of every service of a large
// project is well under it.
const maxBody = 8 << 20

// readJSON decodes a request body strictly: unknown keys, wrong types,
// trailing data and bodies over maxBody are a 4xx naming the problem.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON object")
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		writeJSON(w, http.StatusRequestEntityTooLarge, api.Error{Error: fmt.Sprintf("request body is larger than %d bytes", maxBody),
			Hint: "deploy fewer services per request"})
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		writeJSON(w, http.StatusBadRequest, api.Error{Error: fmt.Sprintf("invalid request body: %s: must be a %s, not %s", field, typeErr.Type, typeErr.Value)})
	case errors.Is(err, io.EOF):
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "invalid request body: empty"})
	default:
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "invalid request body: " + strings.TrimPrefix(err.Error(), "json: ")})
	}
	return false
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeErr decides the HTTP status of an error at the API edge.
func writeErr(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	hint := ""
	switch {
	case errors.Is(err, ErrBadRequest):
		code = http.StatusBadRequest
	case errors.Is(err, ErrUnknownService):
		code = http.StatusNotFound
		hint = "run `berth status` to see the services berth knows"
	case isNotFound(err):
		code = http.StatusNotFound
		hint = "run `berth history SERVICE` to see releases"
	case errors.Is(err, context.Canceled):
		code = 499
	}
	writeJSON(w, code, api.Error{Error: err.Error(), Hint: hint})
}

// validTraceQuery reports whether s can be a trace id or a request id:
// 8 to 64 letters, digits or dashes.
func validTraceQuery(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// writeRouterTrace writes the router log's lines that carry trace (its
// access log's), prefixed "router | ".
func (s *Server) writeRouterTrace(w io.Writer, trace string) {
	if s.cfg.RouterLog == "" {
		return
	}
	f, err := os.Open(s.cfg.RouterLog)
	if err != nil {
		return // no router log yet: nothing to show
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if strings.Contains(sc.Text(), trace) {
			fmt.Fprintf(w, "router | %s\n", sc.Text())
		}
	}
}
