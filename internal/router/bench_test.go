package router

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// BenchmarkProxy sends keep-alive GETs through the router to a loopback
// backend over one raw client connection. Allocations include the
// backend's and the router's http.Server.
func BenchmarkProxy(b *testing.B) {
	body := []byte("hello from the berth bench backend\n")
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
		_, _ = w.Write(body)
	}))
	defer be.Close()
	r := New(Config{Logger: slog.New(slog.DiscardHandler)})
	defer r.Close()
	r.Publish(&Table{Routes: []Route{one("bench", "", be.Listener.Addr().String())}})
	front := httptest.NewServer(r)
	defer front.Close()

	c, err := net.Dial("tcp", front.Listener.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkGuardScan is the framing guard's cost on a typical request
// head (it sees every byte a client sends).
func BenchmarkGuardScan(b *testing.B) {
	req := []byte("GET /api/items?page=2 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\nAccept-Encoding: gzip\r\nCookie: session=0123456789abcdef\r\n\r\n")
	g := &framingGuard{maxHead: 64 << 10}
	g.firstBad.Store(-1)
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		g.scan(req)
	}
}

// BenchmarkCheckRequest is request validation and path normalisation on
// an already normal path (the common case) and on one to clean.
func BenchmarkCheckRequest(b *testing.B) {
	r := New(Config{Logger: slog.New(slog.DiscardHandler)})
	defer r.Close()
	for _, path := range []string{"/api/items/42?page=2", "/api//items/./x/../42?page=2"} {
		b.Run(path, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			uri := req.RequestURI
			for b.Loop() {
				req.RequestURI = uri
				if err := r.checkRequest(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
