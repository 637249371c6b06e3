package docker

import (
	"errors"
	"fmt"
	"strings"

	"github.com/docker/docker/client"
)

var (
	// ErrEngineUnreachable is returned when the Docker engine does not answer.
	ErrEngineUnreachable = errors.New("cannot reach the Docker engine")
	// ErrImageMissing is returned by Start when the task's image is not in the
	// local engine.
	ErrImageMissing = errors.New("not found locally")
	// ErrPortTaken is returned by Start when no free loopback port could be
	// published for the task.
	ErrPortTaken = errors.New("host port taken")
)

// engineError turns a connection failure into berth's words with the next
// step; other errors are returned unchanged.
func engineError(host string, err error) error {
	if err == nil || !client.IsErrConnectionFailed(err) {
		return err
	}
	return fmt.Errorf("%w at %s: is dockerd running? try `docker info` (%v)", ErrEngineUnreachable, host, err)
}

// isPortConflict reports whether a start failure is about the host port.
func isPortConflict(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "port is already allocated") ||
		strings.Contains(msg, "address already in use")
}
