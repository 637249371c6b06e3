package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/berth-dev/berth/internal/certs"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/engine/local"
	"github.com/berth-dev/berth/internal/routerproc"
	"github.com/berth-dev/berth/internal/spec"
)

// globals holds the flags every command shares and the ways to reach the
// spec, the state directory and the control plane.
type globals struct {
	file  string
	state string
	env   string
	// dryRun makes mutating commands print the changes they would make
	// (ecs environments).
	dryRun bool
	// ecs is the ECS engine once built (one per command).
	ecs    engine.Engine
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
	if e, ok := g.ecsEngine(); ok {
		return e
	}
	if g.dryRun {
		return failingEngine{usageErr("--dry-run works with an ecs environment (--env NAME whose engine is ecs); locally, berth plan shows what a deploy would do")}
	}
	if api := os.Getenv("BERTH_API"); api != "" {
		token := os.Getenv("BERTH_TOKEN")
		if strings.HasPrefix(api, "http://") && token != "" {
			return failingEngine{usageErr("%v", local.ErrPlainToken)}
		}
		roots, err := g.apiRoots()
		if err != nil {
			return failingEngine{err}
		}
		return local.New(api, token, roots)
	}
	return local.New("unix://"+g.socketPath(), "")
}

func isUnreachable(err error) bool { return errors.Is(err, local.ErrUnreachable) }

// explain turns an engine error into what the user should read and the
// exit code it means: no control plane (3) — or no spec at -f, which is
// why there is none (2); an answer refusing the input (4xx: 2), in plain
// words, with a did-you-mean for an unknown service.
func (g *globals) explain(err error) error {
	var ee *exitError
	if err == nil || errors.As(err, &ee) {
		return err
	}
	if isUnreachable(err) {
		if os.Getenv("BERTH_API") == "" && !fileExists(g.specPath()) {
			return usageErr("no spec at %s: pass -f PATH of your berth.yaml (or set BERTH_FILE), or run `berth init` to write one", g.specPath())
		}
		return &exitError{code: exitUnreach, err: fmt.Errorf("%v\n  no control plane is running for %s: start one with `berth up` (foreground) or `berth serve`, or set BERTH_API", err, g.specPath())}
	}
	var ae *local.APIError
	if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 {
		if m := unknownServiceRE.FindStringSubmatch(ae.Message); m != nil {
			return usageErr("no service %q%s", m[1], didYouMean(m[1], g.serviceNames(context.Background())))
		}
		// The error as wrapped by the command (it names the operation),
		// with the API's hint, without HTTP jargon.
		msg := plainAPIMessage(err.Error())
		if ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden {
			msg += "\n  check BERTH_TOKEN"
		}
		return usageErr("%s", msg)
	}
	return err
}

// unknownServiceRE finds the service in the control plane's unknown-service
// answer.
var unknownServiceRE = regexp.MustCompile(`unknown service "([^"]+)"`)

// plainAPIMessage drops the HTTP jargon the control plane's errors carry
// ("bad request: count must not be negative").
func plainAPIMessage(m string) string {
	return strings.ReplaceAll(m, "bad request: ", "")
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// serviceNames are the services of the spec, or (without a readable spec)
// those the control plane knows; nil when neither answers. For hints and
// completion, so it never fails.
func (g *globals) serviceNames(ctx context.Context) []string {
	if s, err := spec.Load(g.specPath()); err == nil {
		if g.env != "" {
			if e, err := s.ForEnvironment(g.env); err == nil {
				s = e
			}
		}
		return s.Order
	}
	if os.Getenv("BERTH_API") == "" && !fileExists(g.specPath()) {
		return nil // no spec, so no socket beside it either
	}
	st, err := g.engine().Status(ctx)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(st.Services))
	for _, s := range st.Services {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return names
}

// checkCounts refuses, before anything is asked of the engine, a count for
// a service the spec does not have or above the service's max_count. It
// checks nothing when the spec cannot be read: the control plane checks
// counts too.
func (g *globals) checkCounts(counts map[string]int) error {
	s, err := spec.Load(g.specPath())
	if err != nil {
		return nil
	}
	if g.env != "" {
		if s, err = s.ForEnvironment(g.env); err != nil {
			return nil
		}
	}
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		svc := s.Services[name]
		if svc == nil {
			return usageErr("no service %q in %s%s", name, s.Path, didYouMean(name, s.Order))
		}
		if n := counts[name]; n > svc.MaxCount {
			return usageErr("%s=%d: %s may run at most %d tasks (max_count, %s:%d); raise max_count there to run more", name, n, name, svc.MaxCount, s.Path, svc.Line)
		}
	}
	return nil
}

// environmentNames are the environments the spec defines, sorted.
func (g *globals) environmentNames() []string {
	s, err := spec.Load(g.specPath())
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(s.Environments))
	for n := range s.Environments {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// apiRoots are the CAs the CLI trusts for BERTH_API over https: the PEM
// file BERTH_API_CA names, else the control plane's local CA in the state
// directory when there is one (pinned: no other CA is trusted), else nil
// (the system's roots, for an API with a certificate of a public CA).
func (g *globals) apiRoots() (*x509.CertPool, error) {
	path := os.Getenv("BERTH_API_CA")
	if path == "" {
		p := filepath.Join(g.stateDir(), routerproc.CertsDir, "ca", certs.CAFile)
		if !fileExists(p) {
			return nil, nil
		}
		path = p
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErr("BERTH_API_CA: %v (print the server's CA with `berth tls ca` there and save it)", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, usageErr("BERTH_API_CA %s holds no PEM certificate (print the server's CA with `berth tls ca` there and save it)", path)
	}
	return pool, nil
}
