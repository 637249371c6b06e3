package cli

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a plain TCP server that records what each client sends
// first, answers it with a plain HTTP 200 and hangs up.
type recorder struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns int
	got   []byte
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{ln: ln}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 64<<10)
				n, _ := c.Read(buf)
				r.mu.Lock()
				r.conns++
				r.got = append(r.got, buf[:n]...)
				r.mu.Unlock()
				_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"))
			}()
		}
	}()
	return r
}

// done stops the recorder once every connection it accepted is handled
// and returns what it saw.
func (r *recorder) done() (conns int, got []byte) {
	r.ln.Close()
	r.wg.Wait()
	return r.conns, r.got
}

// TestCLI_NeverSendsTokenOverPlainTCP: with BERTH_TOKEN set, the CLI
// refuses an http:// BERTH_API before connecting, and over https:// to a
// server that does not complete a TLS handshake nothing but the
// handshake leaves it.
func TestCLI_NeverSendsTokenOverPlainTCP(t *testing.T) {
	const token = "s3cret-token-value"
	t.Setenv("BERTH_TOKEN", token)
	t.Setenv("BERTH_API_CA", "")
	spec := specDir(t)

	t.Run("http", func(t *testing.T) {
		rec := newRecorder(t)
		t.Setenv("BERTH_API", "http://"+rec.ln.Addr().String())
		code, _, stderr := runCLI(t, "-f", spec, "status")
		conns, got := rec.done()
		if code != exitUsage || !strings.Contains(stderr, "HTTPS only") {
			t.Errorf("exit %d, stderr %q: want a usage error saying the API is HTTPS only", code, stderr)
		}
		if conns != 0 || bytes.Contains(got, []byte(token)) {
			t.Fatalf("the CLI connected %d times and sent %q", conns, got)
		}
	})
	t.Run("https to a plain server", func(t *testing.T) {
		rec := newRecorder(t)
		t.Setenv("BERTH_API", "https://"+rec.ln.Addr().String())
		code, _, stderr := runCLI(t, "-f", spec, "status")
		conns, got := rec.done()
		if code == 0 {
			t.Errorf("status succeeded against a plain-HTTP server; stderr %q", stderr)
		}
		if bytes.Contains(got, []byte(token)) || bytes.Contains(got, []byte("Bearer")) {
			t.Fatalf("the token crossed plain TCP: %q", got)
		}
		if conns > 0 && got[0] != 0x16 {
			t.Fatalf("the CLI sent %q, not a TLS handshake", got)
		}
	})
}
