package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/engine/local"
	"github.com/berth-dev/berth/internal/spec"
)

// globals holds the flags every command shares and the ways to reach the
// spec, the state directory and the control plane.
type globals struct {
	file   string
	state  string
	env    string
	stdout io.Writer
	stderr io.Writer
}

func (g *globals) specPath() string {
	p, err := filepath.Abs(g.file)
	if err != nil {
		return g.file
	}
	return p
}

// loadSpec loads and validates the spec (and applies --env).
func (g *globals) loadSpec() (*spec.Spec, error) {
	s, err := spec.Load(g.specPath())
	if err != nil {
		if os.IsNotExist(errors.Unwrap(err)) || errors.Is(err, os.ErrNotExist) {
			return nil, usageErr("no spec at %s: create a berth.yaml or pass -f PATH", g.specPath())
		}
		return nil, err
	}
	for _, w := range s.Warnings {
		fmt.Fprintln(g.stderr, "warning:", w)
	}
	if g.env != "" {
		s, err = s.ForEnvironment(g.env)
		if err != nil {
			return nil, usageErr("%v", err)
		}
	}
	return s, nil
}

// stateDir is --state, or .berth beside the spec.
func (g *globals) stateDir() string {
	if g.state != "" {
		p, err := filepath.Abs(g.state)
		if err == nil {
			return p
		}
		return g.state
	}
	return filepath.Join(filepath.Dir(g.specPath()), ".berth")
}

func (g *globals) socketPath() string { return filepath.Join(g.stateDir(), "berth.sock") }

// engine returns the client of the running control plane: BERTH_API (with
// BERTH_TOKEN) when set, else the unix socket in the state directory.
func (g *globals) engine() engine.Engine {
	if api := os.Getenv("BERTH_API"); api != "" {
		return local.New(api, os.Getenv("BERTH_TOKEN"))
	}
	return local.New("unix://"+g.socketPath(), "")
}

func isUnreachable(err error) bool { return errors.Is(err, local.ErrUnreachable) }

// unreachableHint rewrites an unreachable-control-plane error with the next step.
func (g *globals) explain(err error) error {
	if isUnreachable(err) {
		return &exitError{code: exitUnreach, err: fmt.Errorf("%v\n  no control plane is running for %s: start one with `berth up` (foreground) or `berth serve`, or set BERTH_API", err, g.specPath())}
	}
	return err
}
