package router

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingBackend is backend with a count of the connections it accepted
// and of those that closed.
func countingBackend(t *testing.T, h http.HandlerFunc) (addr string, opened, closed *atomic.Int64) {
	t.Helper()
	opened, closed = new(atomic.Int64), new(atomic.Int64)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			closed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), opened, closed
}

// idleConns is the number of pooled connections to addr.
func idleConns(r *Router, addr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.targets[addr]; t != nil {
		return t.client.idleCount()
	}
	return 0
}

// do sends one request through the router and returns status and body.
func do(t *testing.T, c *http.Client, method, url string, body io.Reader, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s %s: %v", method, url, err)
	}
	return resp.StatusCode, string(b), resp.Trailer
}

func TestUpstreamKeepAliveReuse(t *testing.T) {
	b, opened, _ := countingBackend(t, func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.WriteString(w, req.Method+" "+req.URL.RequestURI())
	})
	r, base := startRouter(t, Config{})
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	for i := range 20 {
		method := http.MethodGet
		var body io.Reader
		if i%2 == 1 {
			method, body = http.MethodPost, strings.NewReader("payload")
		}
		code, got, _ := do(t, client, method, base+fmt.Sprintf("/x?i=%d", i), body)
		if want := fmt.Sprintf("%s /x?i=%d", method, i); code != 200 || got != want {
			t.Fatalf("request %d: %d %q, want 200 %q", i, code, got, want)
		}
	}
	if n := opened.Load(); n != 1 {
		t.Errorf("backend saw %d connections for 20 sequential requests, want 1", n)
	}
	if n := idleConns(r, b); n != 1 {
		t.Errorf("idle pool holds %d connections, want 1", n)
	}
}

// closingBackend answers one request per connection with a keep-alive
// response, then closes the connection without saying so, as a target
// does when its idle timeout hits just as the router reuses the
// connection. Each close is reported on the returned channel.
func closingBackend(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	closed := make(chan struct{}, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err == nil {
					_, _ = io.Copy(io.Discard, req.Body)
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
				_ = c.Close()
				closed <- struct{}{}
			}()
		}
	}()
	return ln.Addr().String(), closed
}

func TestUpstreamClosedIdleConnIsRetried(t *testing.T) {
	b, closed := closingBackend(t)
	r, base := startRouter(t, Config{})
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	for i := range 10 {
		method := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete}[i%4]
		var body io.Reader
		if method == http.MethodPost {
			body = strings.NewReader("payload")
		}
		code, got, _ := do(t, client, method, base+"/", body)
		want := "ok"
		if method == http.MethodHead {
			want = ""
		}
		if code != 200 || got != want {
			t.Fatalf("request %d (%s): %d %q, want 200 %q", i, method, code, got, want)
		}
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("backend did not close the connection")
		}
	}
	if s := r.Signals("web@1", time.Minute); s.Requests != 10 || s.Errors5xx != 0 {
		t.Errorf("signals = %+v, want 10 requests and no error", s)
	}
}

func TestUpstreamKeepAliveRaceUnderLoad(t *testing.T) {
	// Every backend connection serves one request and closes: under
	// concurrent load many requests meet a connection the target is
	// closing. None may fail.
	b, closed := closingBackend(t)
	go func() {
		for range closed {
		}
	}()
	r, base := startRouter(t, Config{})
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				resp, err := client.Get(base + "/")
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of 400 requests failed", n)
	}
}

func TestUpstreamReadUntilCloseIsNotReused(t *testing.T) {
	b := rawBackend(t, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nno length, ends at close")
	r, base := startRouter(t, Config{})
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	for range 3 {
		code, got, _ := do(t, client, http.MethodGet, base+"/", nil)
		if code != 200 || got != "no length, ends at close" {
			t.Fatalf("got %d %q", code, got)
		}
	}
	if n := idleConns(r, b); n != 0 {
		t.Errorf("idle pool holds %d connections after read-until-close responses, want 0", n)
	}
}

func TestUpstreamChunkedBodiesAndTrailers(t *testing.T) {
	b, opened, _ := countingBackend(t, func(w http.ResponseWriter, req *http.Request) {
		if len(req.TransferEncoding) == 0 || req.TransferEncoding[0] != "chunked" {
			http.Error(w, fmt.Sprintf("request not chunked: %v, length %d", req.TransferEncoding, req.ContentLength), 400)
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.Header().Set("Trailer", "X-Sum")
		for _, part := range strings.SplitAfter(string(body), " ") {
			_, _ = io.WriteString(w, part)
			http.NewResponseController(w).Flush()
		}
		w.Header().Set("X-Sum", fmt.Sprintf("%d;%s", len(body), req.Trailer.Get("X-Client")))
	})
	r, base := startRouter(t, Config{})
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	for i := range 3 {
		pr, pw := io.Pipe()
		req, _ := http.NewRequest(http.MethodPut, base+"/", pr)
		req.Trailer = http.Header{"X-Client": nil}
		go func() {
			for _, s := range []string{"one ", "two ", "three"} {
				_, _ = io.WriteString(pw, s)
			}
			req.Trailer.Set("X-Client", "yes") // before EOF, as the client reads it after
			_ = pw.Close()
		}()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(got) != "one two three" {
			t.Fatalf("request %d: %d %q %v", i, resp.StatusCode, got, err)
		}
		if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
			t.Errorf("response transfer encoding %v, want chunked", resp.TransferEncoding)
		}
		if s := resp.Trailer.Get("X-Sum"); s != "13;yes" {
			t.Errorf("response trailer X-Sum = %q, want 13;yes (body length; request trailer)", s)
		}
	}
	if n := opened.Load(); n != 1 {
		t.Errorf("backend saw %d connections, want 1 (chunked exchanges keep the connection)", n)
	}
}

func TestUpstreamBodilessResponses(t *testing.T) {
	b, opened, _ := countingBackend(t, func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Content-Length", "11")
			if req.Method != http.MethodHead {
				_, _ = io.WriteString(w, "hello world")
			}
		}
	})
	r, base := startRouter(t, Config{})
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	tests := []struct {
		method, path string
		code         int
		body         string
	}{
		{http.MethodHead, "/", 200, ""},
		{http.MethodGet, "/", 200, "hello world"},
		{http.MethodGet, "/204", 204, ""},
		{http.MethodGet, "/", 200, "hello world"},
		{http.MethodGet, "/304", 304, ""},
		{http.MethodHead, "/", 200, ""},
		{http.MethodGet, "/", 200, "hello world"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, base+tt.path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || string(got) != tt.body {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, got, tt.code, tt.body)
		}
		if tt.method == http.MethodHead && resp.ContentLength != 11 {
			t.Errorf("HEAD Content-Length = %d, want 11", resp.ContentLength)
		}
	}
	if n := opened.Load(); n != 1 {
		t.Errorf("backend saw %d connections, want 1", n)
	}
}

func TestUpstreamClientGoneMidResponseDoesNotPoisonPool(t *testing.T) {
	more := make(chan struct{})
	b, opened, closed := countingBackend(t, func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/stream" {
			_, _ = io.WriteString(w, "fine")
			return
		}
		_, _ = io.WriteString(w, strings.Repeat("x", 1000))
		http.NewResponseController(w).Flush()
		select {
		case <-more:
		case <-req.Context().Done():
		}
	})
	r, base := startRouter(t, Config{})
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	defer close(more)

	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()

	// The router closes the upstream connection of the abandoned
	// response instead of pooling it; later requests are served cleanly.
	eventually(t, 5*time.Second, "abandoned upstream connection closed", func() bool { return closed.Load() == 1 })
	eventually(t, 5*time.Second, "in-flight count back to zero", func() bool { return r.InFlight(b) == 0 })
	for range 5 {
		if code, got, _ := do(t, client, http.MethodGet, base+"/", nil); code != 200 || got != "fine" {
			t.Fatalf("after abandoned response: %d %q", code, got)
		}
	}
	if n := opened.Load(); n != 2 {
		t.Errorf("backend saw %d connections, want 2 (the abandoned one and one for the rest)", n)
	}
	if s := r.Signals("web@1", time.Minute); s.Errors5xx != 0 {
		t.Errorf("signals = %+v, want no 5xx for a client that left", s)
	}
}

func TestUpstreamConnectionCloseHonoured(t *testing.T) {
	b, opened, closed := countingBackend(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "bye")
	})
	r, base := startRouter(t, Config{})
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	for range 4 {
		req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != "bye" || resp.Close {
			t.Fatalf("got %d %q close=%v; want 200 bye, client connection kept", resp.StatusCode, got, resp.Close)
		}
	}
	if n := opened.Load(); n != 4 {
		t.Errorf("backend saw %d connections for 4 requests, want 4", n)
	}
	eventually(t, 5*time.Second, "backend connections closed", func() bool { return closed.Load() == 4 })
	if n := idleConns(r, b); n != 0 {
		t.Errorf("idle pool holds %d connections, want 0", n)
	}
}

func TestUpstreamExpectContinue(t *testing.T) {
	b := backend(t, "", func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		_, _ = io.WriteString(w, req.Header.Get("Expect")+" "+string(body))
	})
	r, base := startRouter(t, Config{})
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	c := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}, Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	for range 2 {
		code, got, _ := do(t, c, http.MethodPost, base+"/", strings.NewReader("big upload"), "Expect", "100-continue")
		if code != 200 || got != "100-continue big upload" {
			t.Fatalf("got %d %q", code, got)
		}
	}
}

func TestUpstreamTimeoutOnReusedConn(t *testing.T) {
	hang := make(chan struct{})
	b, _, _ := countingBackend(t, func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/slow" {
			select {
			case <-hang:
			case <-req.Context().Done():
			}
		}
		_, _ = io.WriteString(w, "ok")
	})
	defer close(hang)
	r, base := startRouter(t, Config{ResponseHeaderTimeout: 100 * time.Millisecond})
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	for _, tt := range []struct {
		path string
		code int
	}{{"/", 200}, {"/slow", 504}, {"/", 200}, {"/", 200}, {"/slow", 504}} {
		start := time.Now()
		code, body, _ := do(t, client, http.MethodGet, base+tt.path, nil)
		if code != tt.code {
			t.Fatalf("GET %s = %d %q, want %d", tt.path, code, body, tt.code)
		}
		if tt.code == 504 && time.Since(start) < 90*time.Millisecond {
			t.Errorf("504 after %v, want about the 100ms header timeout", time.Since(start))
		}
	}
}

func TestUpstreamClientCancelAbortsExchange(t *testing.T) {
	started := make(chan struct{}, 1)
	aborted := make(chan struct{}, 1)
	b, _, _ := countingBackend(t, func(w http.ResponseWriter, req *http.Request) {
		started <- struct{}{}
		<-req.Context().Done() // the router closed the upstream connection
		aborted <- struct{}{}
	})
	r, base := startRouter(t, Config{})
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client error %v, want canceled", err)
	}
	select {
	case <-aborted:
	case <-time.After(5 * time.Second):
		t.Fatal("upstream exchange not aborted after the client left")
	}
	eventually(t, 5*time.Second, "in-flight count back to zero", func() bool { return r.InFlight(b) == 0 })
}

func TestUpstreamIdlePoolBoundedAndExpires(t *testing.T) {
	release := make(chan struct{})
	var arrived sync.WaitGroup
	b, _, closed := countingBackend(t, func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/wait" {
			arrived.Done()
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	})
	r, base := startRouter(t, Config{MaxIdleConnsPerTarget: 2, UpstreamIdleTimeout: 50 * time.Millisecond})
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	const n = 5
	arrived.Add(n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _, _ := do(t, client, http.MethodGet, base+"/wait", nil); code != 200 {
				t.Errorf("status %d", code)
			}
		}()
	}
	arrived.Wait()
	close(release)
	wg.Wait()
	if got := idleConns(r, b); got > 2 {
		t.Errorf("idle pool holds %d connections, want at most 2", got)
	}
	eventually(t, 5*time.Second, "idle connections expired", func() bool {
		return idleConns(r, b) == 0 && closed.Load() == n
	})
}

func TestUpstreamDrainClosesPool(t *testing.T) {
	old, _, oldClosed := countingBackend(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "old") })
	fresh := backend(t, "fresh", nil)
	r, base := startRouter(t, Config{})
	r.Publish(&Table{Version: 1, Routes: []Route{one("web", "", old)}})
	if code, _, _ := do(t, client, http.MethodGet, base+"/", nil); code != 200 {
		t.Fatalf("status %d", code)
	}
	r.Publish(&Table{Version: 2, Routes: []Route{one("web", "", fresh)}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.WaitDrained(ctx, old); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "drained target's pooled connection closed", func() bool { return oldClosed.Load() == 1 })
}

func TestUpstreamTargetDiesWithPooledConns(t *testing.T) {
	// A target crashes while the router holds keep-alive connections to
	// it: the reused connection fails before any response byte, the fresh
	// dial is refused, and the request moves to the other target.
	dying := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "a") }))
	other := backend(t, "b", nil)
	r, base := startRouter(t, Config{EjectFor: time.Hour})
	r.Publish(&Table{Routes: []Route{one("web", "", dying.Listener.Addr().String(), other)}})
	for range 4 {
		if code, _, _ := do(t, client, http.MethodGet, base+"/", nil); code != 200 {
			t.Fatalf("warm-up status %d", code)
		}
	}
	if n := idleConns(r, dying.Listener.Addr().String()); n == 0 {
		t.Fatal("no pooled connection to the target before it died")
	}
	dying.Close()
	for i := range 6 {
		if code, body, _ := do(t, client, http.MethodGet, base+"/", nil); code != 200 || body != "b" {
			t.Fatalf("request %d after the crash: %d %q, want 200 b", i, code, body)
		}
	}
}
