package daemon

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// memConn is a net.Conn that reads from in and records what is written.
type memConn struct {
	net.Conn
	in     *bytes.Reader
	out    bytes.Buffer
	closed bool
}

func (c *memConn) Read(b []byte) (int, error)       { return c.in.Read(b) }
func (c *memConn) Write(b []byte) (int, error)      { return c.out.Write(b) }
func (c *memConn) Close() error                     { c.closed = true; return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetDeadline(time.Time) error      { return nil }

// FuzzSniffConn: whatever a client sends first, the TLS-only API passes a
// TLS handshake record through untouched and refuses anything else,
// answering plain HTTP with the refusal, without panicking.
func FuzzSniffConn(f *testing.F) {
	for _, s := range []string{"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n", "\x16\x03\x01\x02\x00\x01", "PO", "", "\x00", "PRI * HTTP/2.0\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mc := &memConn{in: bytes.NewReader(data)}
		c := &sniffConn{Conn: mc}
		buf := make([]byte, len(data)+16)
		n, err := c.Read(buf)
		switch {
		case len(data) == 0:
			if n != 0 {
				t.Fatalf("read %d bytes of nothing", n)
			}
		case data[0] == 0x16:
			if err != nil || !bytes.Equal(buf[:n], data[:n]) {
				t.Fatalf("a TLS record was not passed through: %v", err)
			}
		default:
			if !errors.Is(err, errPlainHTTP) || !mc.closed {
				t.Fatalf("non-TLS bytes %q were not refused: n=%d err=%v", data, n, err)
			}
			if looksLikeHTTP(data) != strings.Contains(mc.out.String(), "HTTPS only") {
				t.Fatalf("refusal text for %q: %q", data, mc.out.String())
			}
			if _, err := c.Read(buf); !errors.Is(err, errPlainHTTP) {
				t.Fatalf("a refused connection read again: %v", err)
			}
		}
	})
}
