package router

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// rawExchange writes raw to the router and returns every response read
// until the router closes the connection or within is over.
func rawExchange(t *testing.T, base, raw string, within time.Duration) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(within))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []*http.Response
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return out
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, resp)
	}
}

func echoURI(t *testing.T, name string) string {
	return backend(t, name, func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		fmt.Fprintf(w, "%s %s %s", name, req.RequestURI, strings.Join(req.Header.Values("Transfer_encoding"), ","))
	})
}

func TestAmbiguousClientFramingRejected(t *testing.T) {
	r, base := startRouter(t, Config{})
	r.Publish(&Table{Routes: []Route{one("web", "", echoURI(t, "web"))}})
	for _, tt := range []struct {
		name, raw string
		status    []int
	}{
		{"chunked is fine", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", []int{200}},
		{"both framing headers", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", []int{400}},
		{"transfer-encoding in HTTP/1.0", "POST /a HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []int{400}},
		{"pipelined: good, good, ambiguous", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n" +
			"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nbb" +
			"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n0\r\n\r\n", []int{200, 200, 400}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resps := rawExchange(t, base, tt.raw, 5*time.Second)
			var got []int
			for _, r := range resps {
				got = append(got, r.StatusCode)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.status) {
				t.Fatalf("statuses %v, want %v (and the connection closed)", got, tt.status)
			}
		})
	}
}

func TestPathNormalisedBeforeMatching(t *testing.T) {
	auth, internal := echoURI(t, "auth"), echoURI(t, "internal")
	for _, tt := range []struct {
		slashes, path, want string
		status              int
	}{
		{"", "/auth/login", "auth /auth/login", 200},
		{"", "/auth/../internal/x", "internal /internal/x", 200},
		{"", "//internal//x/", "internal /internal/x/", 200},
		{"", "/auth/%2e%2E/internal", "internal /internal", 200},
		{"", "/auth/./x/..", "auth /auth/", 200},
		{"", "/auth%2F..%2Finternal", "internal /internal", 200},
		{"", "/auth/x?q=/../y", "auth /auth/x?q=/../y", 200},
		{SlashesKeep, "/auth/a%2Fb", "auth /auth/a%2Fb", 200},
		{SlashesReject, "/auth/a%2Fb", "", 400},
	} {
		t.Run(tt.slashes+tt.path, func(t *testing.T) {
			r, base := startRouter(t, Config{EncodedSlashes: tt.slashes})
			r.Publish(&Table{Routes: []Route{one("auth", "/auth", auth), one("internal", "/internal", internal)}})
			resps := rawExchange(t, base, "GET "+tt.path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5*time.Second)
			if len(resps) != 1 {
				t.Fatalf("%d responses", len(resps))
			}
			body, _ := io.ReadAll(resps[0].Body)
			if resps[0].StatusCode != tt.status || (tt.status == 200 && strings.TrimSpace(string(body)) != tt.want) {
				t.Fatalf("got %d %q, want %d %q", resps[0].StatusCode, body, tt.status, tt.want)
			}
		})
	}
}

func TestRequestLineAndHeaderNamesValidated(t *testing.T) {
	b := echoURI(t, "web")
	for _, allow := range []bool{false, true} {
		r, base := startRouter(t, Config{AllowUnderscoreHeaders: allow})
		r.Publish(&Table{Routes: []Route{one("web", "", b)}})
		resps := rawExchange(t, base, "GET /x HTTP/1.1\r\nHost: x\r\nTransfer_Encoding: chunked\r\nConnection: close\r\n\r\n", 5*time.Second)
		if len(resps) != 1 {
			t.Fatalf("%d responses", len(resps))
		}
		body, _ := io.ReadAll(resps[0].Body)
		want := "web /x "
		if allow {
			want = "web /x chunked"
		}
		if string(body) != want {
			t.Errorf("allow=%v: backend saw %q, want %q", allow, body, want)
		}
	}
	// What HTTP/2 pseudo-headers can carry that no HTTP/1.1 request line can.
	r := New(Config{Logger: quietLogger(t)})
	defer r.Close()
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	for _, mod := range []func(*http.Request){
		func(req *http.Request) { req.Method = "GET /internal HTTP/1.1\tX" },
		func(req *http.Request) { req.Method = "GET\r\nX: 1" },
		func(req *http.Request) { req.Host = "x\r\nX-Evil: 1" },
		func(req *http.Request) { req.Host = "a b" },
		func(req *http.Request) { req.RequestURI = "/a b"; req.URL.Path = "/a b" },
		func(req *http.Request) { req.RequestURI = "/a#b" },
	} {
		req := httptest.NewRequest(http.MethodGet, "/echo", nil)
		mod(req)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != http.StatusBadRequest {
			t.Errorf("method %q host %q uri %q: status %d, want 400", req.Method, req.Host, req.RequestURI, w.Code)
		}
	}
}

func TestUpgradeH2CIsNotTunnelled(t *testing.T) {
	b := backend(t, "", func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprintf(w, "upgrade=%q", req.Header.Get("Upgrade"))
	})
	r, base := startRouter(t, Config{})
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	resps := rawExchange(t, base, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n", 5*time.Second)
	if len(resps) != 1 {
		t.Fatalf("%d responses", len(resps))
	}
	body, _ := io.ReadAll(resps[0].Body)
	if resps[0].StatusCode != 200 || string(body) != `upgrade=""` {
		t.Fatalf("got %d %q, want a plain 200 without Upgrade", resps[0].StatusCode, body)
	}
}

func TestLimits(t *testing.T) {
	t.Run("oversized upstream head is 502", func(t *testing.T) {
		b := rawBackend(t, "HTTP/1.1 200 OK\r\n"+strings.Repeat("X-Big: "+strings.Repeat("a", 1000)+"\r\n", 200)+"Content-Length: 0\r\n\r\n")
		for _, up := range []string{UpstreamBerth, UpstreamStd} {
			r, base := startRouter(t, Config{Upstream: up, MaxResponseHeaderBytes: 64 << 10})
			r.Publish(&Table{Routes: []Route{one("web", "", b)}})
			if code, _, _ := get(t, base+"/"); code != http.StatusBadGateway {
				t.Errorf("%s: status %d, want 502", up, code)
			}
		}
	})
	t.Run("request body over the limit is 413", func(t *testing.T) {
		b := echoURI(t, "web")
		for _, up := range []string{UpstreamBerth, UpstreamStd} {
			r, base := startRouter(t, Config{Upstream: up, MaxRequestBodyBytes: 1000})
			r.Publish(&Table{Routes: []Route{one("web", "", b)}})
			code, _, _ := do(t, client, http.MethodPost, base+"/", strings.NewReader(strings.Repeat("x", 1001)))
			if code != http.StatusRequestEntityTooLarge {
				t.Errorf("%s: length over the limit: status %d, want 413", up, code)
			}
			resps := rawExchange(t, base, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n"+strings.Repeat("x", 2000)+"\r\n0\r\n\r\n", 5*time.Second)
			if len(resps) == 0 || resps[0].StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("%s: chunked over the limit: %v, want 413", up, resps)
			}
			if code, _, _ := do(t, client, http.MethodPost, base+"/", strings.NewReader(strings.Repeat("x", 1000))); code != 200 {
				t.Errorf("%s: body at the limit: status %d, want 200", up, code)
			}
		}
	})
	t.Run("client that stalls mid-body gets 408", func(t *testing.T) {
		b := echoURI(t, "web")
		for _, up := range []string{UpstreamBerth, UpstreamStd} {
			r, base := startRouter(t, Config{Upstream: up, ClientBodyTimeout: 200 * time.Millisecond})
			r.Publish(&Table{Routes: []Route{one("web", "", b)}})
			start := time.Now()
			resps := rawExchange(t, base, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part", 10*time.Second)
			if len(resps) == 0 || resps[0].StatusCode != http.StatusRequestTimeout {
				for _, r := range resps {
					t.Logf("%s: %d", up, r.StatusCode)
				}
				t.Errorf("%s: want 408", up)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s: took %v", up, d)
			}
		}
	})
	t.Run("target that stalls mid-body is cut", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					br := bufio.NewReader(c)
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
					_, _ = io.Copy(io.Discard, br) // until the router closes
				}()
			}
		}()
		for _, up := range []string{UpstreamBerth, UpstreamStd} {
			r, base := startRouter(t, Config{Upstream: up, UpstreamReadTimeout: 200 * time.Millisecond})
			r.Publish(&Table{Routes: []Route{one("web", "", ln.Addr().String())}})
			start := time.Now()
			resps := rawExchange(t, base, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 10*time.Second)
			t.Logf("%s: %v", up, time.Since(start))
			if len(resps) != 0 {
				if body, _ := io.ReadAll(resps[0].Body); len(body) == 100 {
					t.Errorf("%s: got a complete response %q", up, body)
				}
			}
			eventually(t, 5*time.Second, "no request in flight", func() bool { return r.InFlight(ln.Addr().String()) == 0 })
		}
	})
	t.Run("target that never reads an upload is cut", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		hold := make(chan struct{})
		defer close(hold)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { <-hold; c.Close() }()
			}
		}()
		r, base := startRouter(t, Config{UpstreamWriteTimeout: 200 * time.Millisecond, ResponseHeaderTimeout: 30 * time.Second, MaxRequestBodyBytes: -1})
		r.Publish(&Table{Routes: []Route{one("web", "", ln.Addr().String())}})
		start := time.Now()
		code, _, _ := do(t, client, http.MethodPost, base+"/", bytes.NewReader(make([]byte, 32<<20)))
		if code != http.StatusGatewayTimeout && code != http.StatusBadGateway {
			t.Errorf("status %d, want 504 or 502", code)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("client that never reads is cut", func(t *testing.T) {
		big := strings.Repeat("x", 64<<20)
		b := backend(t, "", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, big) })
		r, base := startRouter(t, Config{ClientWriteTimeout: 200 * time.Millisecond})
		r.Publish(&Table{Routes: []Route{one("web", "", b)}})
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 3*time.Second, "the request in flight", func() bool { return r.InFlight(b) == 1 })
		eventually(t, 10*time.Second, "the stalled client cut", func() bool { return r.InFlight(b) == 0 })
	})
	t.Run("connections over the limit wait", func(t *testing.T) {
		b := echoURI(t, "web")
		r, base := startRouter(t, Config{MaxConns: 1})
		r.Publish(&Table{Routes: []Route{one("web", "", b)}})
		addr := strings.TrimPrefix(base, "http://")
		first, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		second, err := net.Dial("tcp", addr) // queued in the kernel's backlog
		if err != nil {
			t.Fatal(err)
		}
		defer second.Close()
		if _, err := io.WriteString(second, "GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = second.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, err := second.Read(make([]byte, 1)); n != 0 || !isTimeout(err) {
			t.Fatalf("second connection served while the first holds the only slot: %d %v", n, err)
		}
		_ = first.Close()
		_ = second.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(second), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("after the first closed: %v %v", resp, err)
		}
	})
}

// A target that times out an idle keep-alive connection writes a 408 on
// it and closes; the next request must not take that 408 for its answer.
func TestIdle408IsNotHandedToTheNextRequest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	wrote408, send408 := make(chan struct{}), make(chan struct{})
	go func() {
		n := 0
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n++
			first := n == 1
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
				if first {
					// The connection goes idle; the target times it out.
					<-send408
					_, _ = io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
					close(wrote408)
					_, _ = io.Copy(io.Discard, br)
				}
			}()
		}
	}()
	for _, up := range []string{UpstreamBerth, UpstreamStd} {
		r, base := startRouter(t, Config{Upstream: up})
		r.Publish(&Table{Routes: []Route{one("web", "", ln.Addr().String())}})
		if code, body, _ := get(t, base+"/"); code != 200 || body != "first" {
			t.Fatalf("%s: first: %d %q", up, code, body)
		}
		if up == UpstreamBerth {
			eventually(t, 5*time.Second, "the connection pooled", func() bool { return idleConns(r, ln.Addr().String()) == 1 })
			close(send408)
			<-wrote408
		}
		if code, body, _ := get(t, base+"/"); code != 200 || body != "first" {
			t.Fatalf("%s: after an idle 408: %d %q, want a fresh 200", up, code, body)
		}
	}
}
