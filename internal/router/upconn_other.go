//go:build !unix

package router

import (
	"errors"
	"net"
	"os"
	"time"
)

// Without Unix raw sockets an upConn reads and writes through net.Conn
// and is watched for cancellation for the whole exchange.

func newUpConn(u *upstream, nc net.Conn) (*upConn, error) {
	c := &upConn{nc: nc, up: u}
	c.br = newUpReader(c)
	c.bw = newUpWriter(c)
	return c, nil
}

func (c *upConn) Read(p []byte) (int, error) {
	if err := c.refreshRead(); err != nil {
		return 0, err
	}
	c.watch()
	n, err := c.nc.Read(p)
	c.nread += int64(n)
	return n, err
}

func (c *upConn) Write(p []byte) (int, error) {
	if err := c.refreshWrite(); err != nil {
		return 0, err
	}
	c.watch()
	n, err := c.nc.Write(p)
	c.nwritten += int64(n)
	return n, err
}

// peerOpen reports whether a connection between exchanges is still
// usable, by a read that must time out at once: any byte (a stray
// response, a 408) or EOF means it is not.
func peerOpen(c *upConn) bool {
	if err := c.nc.SetReadDeadline(aLongTimeAgo); err != nil {
		return false
	}
	var b [1]byte
	_, err := c.nc.Read(b[:])
	c.deadline = time.Time{}
	if derr := c.nc.SetReadDeadline(time.Time{}); derr != nil {
		return false
	}
	return errors.Is(err, os.ErrDeadlineExceeded)
}
