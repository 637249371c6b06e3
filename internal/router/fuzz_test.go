package router

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// responseSeeds are response bytes a buggy or hostile target sends.
var responseSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nab",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabcHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\nabc",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n",
	"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\nContent-Length: 1\n\nx",
	"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\n\r\nuntil close",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nabcde\r\n0\r\n\r\nstray",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
}

// FuzzReadResponse checks the router's response parser against
// net/http's ReadResponse on the same bytes: whatever the router accepts,
// net/http accepts with the same status, the same body and the same bytes
// left after it. The router may refuse more (it is stricter), never less.
func FuzzReadResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, raw []byte, head bool) {
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		br := bufio.NewReader(bytes.NewReader(raw))
		var resp upResponse
		h := http.Header{}
		if err := readResponse(&resp, br, h, head, 64<<10); err != nil {
			return
		}
		body, err := io.ReadAll(&resp.body)
		if err != nil {
			return
		}
		rest, _ := io.ReadAll(br)

		// The router skips interim responses; so does this loop.
		sbr := bufio.NewReader(bytes.NewReader(raw))
		var sresp *http.Response
		for {
			sresp, err = http.ReadResponse(sbr, &http.Request{Method: method})
			if err != nil {
				t.Fatalf("router accepted what net/http refuses (%v): %q", err, raw)
			}
			if sresp.StatusCode >= 200 {
				break
			}
		}
		sbody, serr := io.ReadAll(sresp.Body)
		if serr != nil {
			t.Fatalf("router read a body net/http cannot (%v): %q", serr, raw)
		}
		srest, _ := io.ReadAll(sbr)
		if sresp.StatusCode != resp.status || !bytes.Equal(body, sbody) || !bytes.Equal(rest, srest) {
			t.Fatalf("router: %d body %q rest %q; net/http: %d body %q rest %q; input %q",
				resp.status, body, rest, sresp.StatusCode, sbody, srest, raw)
		}
	})
}

// FuzzUpstreamExchange sends a request to a target answering with the
// fuzzed bytes, then a second request through the same upstream: the
// second must get its own response or an error, never bytes of the
// first exchange — whatever the first one was.
func FuzzUpstreamExchange(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s), false)
	}
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), true)
	addr := fuzzBackend(f)
	f.Fuzz(func(t *testing.T, raw []byte, head bool) {
		fuzzReply.Store("", string(raw))
		u := newUpstream(addr, Config{DialTimeout: time.Second, ResponseHeaderTimeout: 300 * time.Millisecond,
			UpstreamReadTimeout: 300 * time.Millisecond, UpstreamWriteTimeout: time.Second,
			MaxResponseHeaderBytes: 64 << 10, MaxRequestBodyBytes: -1, MaxIdleConnsPerTarget: 4, UpstreamIdleTimeout: time.Minute}.withDefaults())
		defer u.closeIdle(true)
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		exchange := func(path string) (*upResponse, http.Header, []byte, error) {
			req, _ := http.NewRequestWithContext(context.Background(), method, "http://x"+path, nil)
			req.Host, req.RemoteAddr = "x", "127.0.0.1:1"
			f := forwardReq{req: req, uri: path}
			h := http.Header{}
			resp, c, err := u.roundTrip(&f, h)
			if err != nil {
				return nil, nil, nil, err
			}
			body, err := io.ReadAll(&resp.body)
			u.finish(c, resp)
			return resp, h, body, err
		}
		_, _, _, _ = exchange("/fuzz")
		resp, h, body, err := exchange("/ok")
		if err != nil {
			return
		}
		if h.Get("X-Id") != "ok" || resp.status != 200 || (!head && string(body) != "ok") {
			t.Fatalf("second request got %d %v %q after %q", resp.status, h, body, raw)
		}
	})
}

var fuzzReply sync.Map // "" -> the bytes answered to /fuzz

// fuzzBackend answers "/fuzz" with the current fuzz input (in one write)
// and "/ok" with a response marked "ok", keeping connections open.
func fuzzBackend(f *testing.F) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					reply := "HTTP/1.1 200 OK\r\nX-Id: ok\r\nContent-Length: 2\r\n\r\nok"
					if req.Method == http.MethodHead {
						reply = "HTTP/1.1 200 OK\r\nX-Id: ok\r\nContent-Length: 2\r\n\r\n"
					}
					if strings.HasSuffix(req.URL.Path, "/fuzz") {
						v, _ := fuzzReply.Load("")
						reply, _ = v.(string)
					}
					if _, err := io.WriteString(c, reply); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// FuzzFramingGuard feeds a client byte stream, split at an arbitrary
// point, to the framing guard and to net/http's request reader: while the
// guard follows the stream (and found nothing ambiguous) it has counted
// at least every request net/http read, so its request numbers stay in
// step with the server's.
func FuzzFramingGuard(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n0\r\nT: 1\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nab",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	} {
		f.Add([]byte(s), uint16(7))
	}
	f.Fuzz(func(t *testing.T, raw []byte, split uint16) {
		g := &framingGuard{maxHead: 64 << 10}
		g.firstBad.Store(-1)
		k := int(split) % (len(raw) + 1)
		g.scan(raw[:k])
		g.scan(raw[k:])

		n := int64(0)
		br := bufio.NewReader(bytes.NewReader(raw))
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				break
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				break
			}
			n++
		}
		if g.state != gDead && g.firstBad.Load() < 0 && g.heads < n {
			t.Fatalf("guard counted %d requests, net/http read %d: %q", g.heads, n, raw)
		}
	})
}
