package control

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/spec"
)

// execDriver is a fakeDriver that runs health commands by table.
type execDriver struct {
	*fakeDriver
	results map[string]error
}

func (d execDriver) Exec(_ context.Context, _ driver.Handle, argv []string) error {
	return d.results[argv[0]]
}

// TestHealthCheckKinds: health: none and an empty HTTP path need no
// check; tcp connects to the task's address; command runs in the task
// through the driver, and fails plainly on a driver that cannot.
func TestHealthCheckKinds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := ln.Addr().String()
	closedLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := closedLn.Addr().String()
	closedLn.Close()
	defer ln.Close()

	failing := errors.New("not ready")
	withExec := &Server{cfg: Config{Driver: execDriver{newFakeDriver(), map[string]error{"pg_isready": nil, "redis-cli": failing}}}}
	withoutExec := &Server{cfg: Config{Driver: newFakeDriver()}}
	ctx := context.Background()

	for _, hc := range []*spec.Health{nil, {None: true}, {}} {
		if withExec.healthCheck(hc, driver.Handle{Addr: open}) != nil {
			t.Errorf("health %+v has a check; want healthy once started", hc)
		}
	}
	tcp := &spec.Health{TCP: true}
	if err := withExec.healthCheck(tcp, driver.Handle{Addr: open})(ctx, time.Second); err != nil {
		t.Errorf("tcp check of a listening port: %v", err)
	}
	if err := withExec.healthCheck(tcp, driver.Handle{Addr: closed})(ctx, time.Second); err == nil {
		t.Errorf("tcp check of a closed port passed")
	}
	if err := withExec.healthCheck(&spec.Health{Command: []string{"pg_isready"}}, driver.Handle{})(ctx, time.Second); err != nil {
		t.Errorf("command check exiting 0: %v", err)
	}
	if err := withExec.healthCheck(&spec.Health{Command: []string{"redis-cli", "ping"}}, driver.Handle{})(ctx, time.Second); !errors.Is(err, failing) {
		t.Errorf("failing command check = %v, want its error", err)
	}
	if err := withoutExec.healthCheck(&spec.Health{Command: []string{"pg_isready"}}, driver.Handle{})(ctx, time.Second); !errors.Is(err, errNoExec) {
		t.Errorf("command check on a driver without Exec = %v, want errNoExec", err)
	}
}
