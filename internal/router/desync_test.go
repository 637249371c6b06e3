package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// misbehaviours are what the scripted backend does for a request, chosen
// by its id. Every response it means for request n carries "X-Id: n" and
// (when it has a body) "id=n"; every stray one carries a different id.
var misbehaviours = []struct {
	name   string
	method string
	write  func(n int) string // the bytes written, in one write
	stall  bool               // write, then hold the connection until the router closes it
	close  bool               // close after writing
}{
	{name: "normal", write: func(n int) string { return ok(n, "") }},
	{name: "length shorter than body", write: func(n int) string {
		b := fmt.Sprintf("id=%d", n)
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Id: %d\r\nContent-Length: %d\r\n\r\n%s", n, len(b), b) + stray(n)
	}},
	{name: "unsolicited second response", write: func(n int) string { return ok(n, "") + stray(n) }},
	{name: "body on 204", write: func(n int) string {
		return fmt.Sprintf("HTTP/1.1 204 No Content\r\nX-Id: %d\r\n\r\n", n) + stray(n)
	}},
	{name: "body on 304", write: func(n int) string {
		return fmt.Sprintf("HTTP/1.1 304 Not Modified\r\nX-Id: %d\r\n\r\n", n) + stray(n)
	}},
	{name: "body on HEAD", method: http.MethodHead, write: func(n int) string { return ok(n, "") }},
	{name: "both framing headers", write: func(n int) string {
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Id: %d\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", n) + stray(n)
	}},
	{name: "signed length", write: func(n int) string {
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Id: %d\r\nContent-Length: +2\r\n\r\nab", n) + stray(n)
	}},
	{name: "408 after the response", write: func(n int) string {
		return ok(n, "") + "HTTP/1.1 408 Request Timeout\r\nX-Id: stray408\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
	}, close: true},
	{name: "bytes after last chunk", write: func(n int) string {
		b := fmt.Sprintf("id=%d", n)
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Id: %d\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", n, len(b), b) + stray(n)
	}},
	{name: "204 announcing a length", write: func(n int) string {
		return fmt.Sprintf("HTTP/1.1 204 No Content\r\nX-Id: %d\r\nContent-Length: 40\r\n\r\n", n) + stray(n)
	}},
	{name: "closes mid-body", write: func(n int) string {
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Id: %d\r\nContent-Length: 100\r\n\r\nid=%d", n, n)
	}, close: true},
	{name: "stalls mid-body (client aborts)", write: func(n int) string {
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Id: %d\r\nContent-Length: 100000\r\n\r\nid=%d", n, n)
	}, stall: true},
}

func ok(n int, extra string) string {
	b := fmt.Sprintf("id=%d", n)
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Id: %d\r\n%sContent-Length: %d\r\n\r\n%s", n, extra, len(b), b)
}

// stray is a complete response for no request.
func stray(n int) string {
	b := fmt.Sprintf("id=stray%d", n)
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Id: stray%d\r\nContent-Length: %d\r\n\r\n%s", n, len(b), b)
}

// scriptedBackend serves misbehaviours over raw TCP, keeping connections
// alive unless the script closes them.
func scriptedBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					n, err := strconv.Atoi(strings.TrimPrefix(req.URL.Path, "/r/"))
					if err != nil {
						return
					}
					m := misbehaviours[n%len(misbehaviours)]
					if _, err := io.WriteString(c, m.write(n)); err != nil {
						return
					}
					if m.stall {
						_, _ = io.Copy(io.Discard, br) // until the router closes it
						return
					}
					if m.close {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestDesyncNeverCrossesResponses sends thousands of requests with unique
// ids from concurrent clients through a backend that misbehaves in every
// way a buggy backend does, some aborted by their client mid-body, and
// checks that no client ever receives a response meant for another
// request (or for none).
func TestDesyncNeverCrossesResponses(t *testing.T) {
	for _, upstream := range []string{UpstreamBerth, UpstreamStd} {
		t.Run(upstream, func(t *testing.T) { testDesync(t, upstream) })
	}
}

func testDesync(t *testing.T, upstream string) {
	const clients, perClient = 16, 200
	b := scriptedBackend(t)
	r, base := startRouter(t, Config{Upstream: upstream, MaxIdleConnsPerTarget: 8})
	r.Publish(&Table{Routes: []Route{one("web", "", b)}})
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 20 * time.Second}

	var crossed, served, failed, normalFailed atomic.Int64
	var mu sync.Mutex
	var examples []string
	report := func(format string, args ...any) {
		crossed.Add(1)
		mu.Lock()
		if len(examples) < 10 {
			examples = append(examples, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				n := c*perClient + i
				m := misbehaviours[n%len(misbehaviours)]
				method := m.method
				if method == "" {
					method = http.MethodGet
				}
				ctx, cancel := context.WithCancel(context.Background())
				req, _ := http.NewRequestWithContext(ctx, method, fmt.Sprintf("%s/r/%d", base, n), nil)
				resp, err := hc.Do(req)
				if err != nil {
					cancel()
					failed.Add(1)
					if m.name == "normal" {
						normalFailed.Add(1)
					}
					continue
				}
				id := resp.Header.Get("X-Id")
				var body []byte
				if m.stall {
					// The client gives up mid-body.
					buf := make([]byte, len(fmt.Sprintf("id=%d", n)))
					_, _ = io.ReadFull(resp.Body, buf)
					body = buf
					cancel()
				} else {
					body, err = io.ReadAll(resp.Body)
				}
				_ = resp.Body.Close()
				cancel()
				if id != "" && id != strconv.Itoa(n) {
					report("request %d (%s) got the response of %q", n, m.name, id)
					continue
				}
				if len(body) > 0 && id != "" && !strings.HasPrefix(string(body), fmt.Sprintf("id=%d", n)) {
					report("request %d (%s) got body %q", n, m.name, body)
					continue
				}
				if id != "" {
					served.Add(1)
				} else {
					failed.Add(1) // a router error (502): never someone else's
				}
				if m.name == "normal" && (resp.StatusCode != http.StatusOK || err != nil) {
					normalFailed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%s: %d requests, %d answered by the backend, %d failed by the router, %d crossed", upstream, clients*perClient, served.Load(), failed.Load(), crossed.Load())
	if crossed.Load() != 0 {
		t.Fatalf("%d responses delivered to the wrong request, e.g.:\n%s", crossed.Load(), strings.Join(examples, "\n"))
	}
	if normalFailed.Load() != 0 {
		t.Errorf("%d well-behaved requests failed", normalFailed.Load())
	}
	if served.Load() < clients*perClient/2 {
		t.Errorf("only %d of %d requests answered: the test proves little", served.Load(), clients*perClient)
	}
}
