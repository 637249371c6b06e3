package router

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		head   bool
		status int
		length int64
		close  bool
		hdr    http.Header
		body   string
		bad    bool
	}{
		{name: "content length", raw: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
			status: 200, length: 5, hdr: http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"5"}}, body: "hello"},
		{name: "names canonicalised, values trimmed, repeats kept", raw: "HTTP/1.1 200 OK\r\nx-thing:  a \r\nSET-COOKIE: a=1\r\nset-cookie: b=2\r\ncontent-length: 0\r\n\r\n",
			status: 200, length: 0, hdr: http.Header{"X-Thing": {"a"}, "Set-Cookie": {"a=1", "b=2"}, "Content-Length": {"0"}}},
		{name: "chunked with trailer", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n",
			status: 200, length: -1, hdr: http.Header{"Trailer:X-Sum": {"5"}}, body: "abcde"},
		{name: "forbidden trailers dropped", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nContent-Length: 5\r\nSet-Cookie: x=1\r\nX-Ok: 1\r\n\r\n",
			status: 200, length: -1, hdr: http.Header{"Trailer:X-Ok": {"1"}}, body: "a"},
		{name: "both framing headers", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n3\r\nabc\r\n0\r\n\r\n", bad: true},
		{name: "signed length", raw: "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nab", bad: true},
		{name: "hex length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nab", bad: true},
		{name: "length list", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nab", bad: true},
		{name: "length with inner space", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\nab", bad: true},
		{name: "huge length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\nab", bad: true},
		{name: "chunked in http/1.0", raw: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", bad: true},
		{name: "204 announcing a body closes", raw: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", status: 204, length: 5, close: true, hdr: http.Header{"Content-Length": {"5"}}},
		{name: "head too large", raw: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Pad: 0123456789abcdef0123456789abcdef\r\n", 2000) + "\r\n", bad: true},
		{name: "until close", raw: "HTTP/1.1 200 OK\r\n\r\nall of it", status: 200, length: -1, close: true, hdr: http.Header{}, body: "all of it"},
		{name: "interim responses skipped", raw: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
			status: 201, length: 2, hdr: http.Header{"Content-Length": {"2"}}, body: "ok"},
		{name: "head keeps length, no body", raw: "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", head: true,
			status: 200, length: 42, hdr: http.Header{"Content-Length": {"42"}}},
		{name: "204 no body", raw: "HTTP/1.1 204 No Content\r\n\r\n", status: 204, length: 0, hdr: http.Header{}},
		{name: "304 no body", raw: "HTTP/1.1 304 Not Modified\r\nEtag: \"v\"\r\n\r\n", status: 304, length: 0, hdr: http.Header{"Etag": {`"v"`}}},
		{name: "connection close and named headers dropped", raw: "HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n",
			status: 200, length: 0, close: true, hdr: http.Header{"Content-Length": {"0"}}},
		{name: "http/1.0 closes", raw: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", status: 200, length: 0, close: true, hdr: http.Header{"Content-Length": {"0"}}},
		{name: "http/1.0 keep-alive", raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", status: 200, length: 0, hdr: http.Header{"Content-Length": {"0"}}},
		{name: "duplicate equal lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", status: 200, length: 1, hdr: http.Header{"Content-Length": {"1"}}, body: "x"},
		{name: "bare LF head, CRLFCRLF in body", raw: "HTTP/1.1 200 OK\nContent-Length: 13\n\nX-Evil: 1\r\n\r\n", status: 200, length: 13,
			hdr: http.Header{"Content-Length": {"13"}}, body: "X-Evil: 1\r\n\r\n"},
		{name: "no fields", raw: "HTTP/1.1 200 OK\r\n\r\nrest", status: 200, length: -1, close: true, hdr: http.Header{}, body: "rest"},
		{name: "conflicting lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", bad: true},
		{name: "negative length", raw: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", bad: true},
		{name: "unsupported transfer encoding", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", bad: true},
		{name: "not http", raw: "this is not http\r\n\r\n", bad: true},
		{name: "bad status", raw: "HTTP/1.1 2x0 OK\r\n\r\n", bad: true},
		{name: "http/2 status line", raw: "HTTP/2.0 200 OK\r\n\r\n", bad: true},
		{name: "101 without upgrade", raw: "HTTP/1.1 101 Switching Protocols\r\n\r\n", bad: true},
		{name: "obs-fold", raw: "HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\n\r\n", bad: true},
		{name: "space in name", raw: "HTTP/1.1 200 OK\r\nX A: 1\r\n\r\n", bad: true},
		{name: "control byte in value", raw: "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", bad: true},
	}
	for _, tt := range tests {
		for _, split := range []bool{false, true} { // head buffered whole; head arriving a byte at a time
			t.Run(fmt.Sprintf("%s/split=%v", tt.name, split), func(t *testing.T) {
				h := http.Header{}
				var src io.Reader = strings.NewReader(tt.raw)
				if split {
					src = iotest.OneByteReader(src)
				}
				var resp upResponse
				err := readResponse(&resp, bufio.NewReader(src), h, tt.head, 64<<10)
				if tt.bad {
					if !errors.Is(err, errBadResponse) {
						t.Fatalf("err = %v, want errBadResponse", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(&resp.body)
				if err != nil {
					t.Fatalf("read body: %v", err)
				}
				if resp.status != tt.status || resp.length != tt.length || resp.close != tt.close || string(body) != tt.body || !resp.body.eof {
					t.Errorf("got status %d length %d close %v body %q eof %v; want %d %d %v %q true",
						resp.status, resp.length, resp.close, body, resp.body.eof, tt.status, tt.length, tt.close, tt.body)
				}
				if !reflect.DeepEqual(h, tt.hdr) {
					t.Errorf("headers %v, want %v", h, tt.hdr)
				}
			})
		}
	}
}

func TestReadResponseTruncatedBody(t *testing.T) {
	var resp upResponse
	err := readResponse(&resp, bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")), http.Header{}, false, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(&resp.body); !errors.Is(err, io.ErrUnexpectedEOF) || resp.body.eof {
		t.Fatalf("err %v eof %v, want unexpected EOF and a body not done", err, resp.body.eof)
	}
}
