package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/spec"
)

// Execer is implemented by drivers that can run a command inside a task
// (in its environment and directory, or its container), for
// `health: {command: [...]}`.
type Execer interface {
	Exec(ctx context.Context, h driver.Handle, argv []string) error
}

// errNoExec is the health result of a command check on a driver that
// cannot run one.
var errNoExec = errors.New("this engine cannot run health commands in a task")

// healthCheck returns the check of one task for the service's health
// spec, or nil when the task is healthy once started: health: none, or no
// HTTP path. An HTTP check GETs the path (cfg.Probe); a tcp check connects
// to the task's address; a command check runs the command in the task and
// passes on exit 0.
func (s *Server) healthCheck(hc *spec.Health, h driver.Handle) func(context.Context, time.Duration) error {
	if hc == nil {
		return nil
	}
	switch hc.Kind() {
	case spec.HealthTCP:
		return func(ctx context.Context, timeout time.Duration) error { return tcpProbe(ctx, h.Addr, timeout) }
	case spec.HealthCommand:
		argv := hc.Command
		ex, ok := s.cfg.Driver.(Execer)
		return func(ctx context.Context, timeout time.Duration) error {
			if !ok {
				return errNoExec
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return ex.Exec(ctx, h, argv)
		}
	case spec.HealthHTTP:
		if hc.Path == "" {
			return nil
		}
		return func(ctx context.Context, timeout time.Duration) error {
			return s.cfg.Probe(ctx, h.Addr, hc.Path, timeout)
		}
	}
	return nil
}

// tcpProbe passes when addr accepts a TCP connection within timeout.
func tcpProbe(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", addr, err)
	}
	return c.Close()
}
