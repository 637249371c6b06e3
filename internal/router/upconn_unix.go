//go:build unix

package router

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
)

// On Unix an upConn reads and writes through the socket's syscall.RawConn
// so that an exchange is put on its upstream's watch list (see
// checkCancelled) only when it is about to block.

func newUpConn(u *upstream, nc net.Conn) (*upConn, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("connection to %s has no file descriptor", nc.RemoteAddr())
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("raw connection to %s: %w", nc.RemoteAddr(), err)
	}
	c := &upConn{nc: nc, raw: raw, up: u}
	c.readFn = c.rawRead
	c.writeFn = c.rawWrite
	c.br = newUpReader(c)
	c.bw = newUpWriter(c)
	return c, nil
}

func (c *upConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := c.refreshRead(); err != nil {
		return 0, err
	}
	c.io, c.ioN, c.ioErr = p, 0, nil
	if err := c.raw.Read(c.readFn); err != nil {
		return 0, err // deadline passed (timeout or abort) or closed
	}
	n, err := c.ioN, c.ioErr
	c.io = nil
	if n == 0 && err == nil {
		err = io.EOF
	}
	c.nread += int64(n)
	return n, err
}

func (c *upConn) rawRead(fd uintptr) bool {
	for {
		n, err := syscall.Read(int(fd), c.io)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			c.watch()
			return false // wait until readable
		}
		c.ioN, c.ioErr = max(n, 0), wrapErrno(err)
		return true
	}
}

func (c *upConn) Write(p []byte) (int, error) {
	if err := c.refreshWrite(); err != nil {
		return 0, err
	}
	written := 0
	for written < len(p) {
		c.io, c.ioN, c.ioErr = p[written:], 0, nil
		if err := c.raw.Write(c.writeFn); err != nil {
			c.io = nil
			return written, err
		}
		written += c.ioN
		c.nwritten += int64(c.ioN)
		if c.ioErr != nil {
			c.io = nil
			return written, c.ioErr
		}
	}
	c.io = nil
	return written, nil
}

func (c *upConn) rawWrite(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), c.io)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			c.watch()
			return false // wait until writable
		}
		c.ioN, c.ioErr = max(n, 0), wrapErrno(err)
		return true
	}
}

// peerOpen reports, without blocking, whether a connection between
// exchanges is still usable: the target has neither closed it nor sent
// anything (a stray response, a 408) that no request asked for.
func peerOpen(c *upConn) bool {
	open := false
	err := c.raw.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		open = errors.Is(rerr, syscall.EAGAIN)
		return true
	})
	return err == nil && open
}
