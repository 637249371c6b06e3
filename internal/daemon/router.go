package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/routerproc"
)

// adoptGrace is how long, after adopting a running router, the routes of
// its table that the recovering control plane has not published again are
// kept (see routerproc.Client.Adopt).
const adoptGrace = 30 * time.Second

// infoTimeout bounds asking a router process who it is.
const infoTimeout = 2 * time.Second

// attached is the router process a control plane runs with.
type attached struct {
	client *routerproc.Client
	listen string
	// listenTLS is the router's TLS address ("" for none).
	listenTLS string
	pid       int
	started   bool // spawned by this Start (not adopted)
	exe       string
	log       *slog.Logger
}

// stop stops the router process and waits for it to exit.
func (a *attached) stop(ctx context.Context) error { return stopRouter(ctx, a.client, a.log) }

// attachRouter adopts the router process serving the state directory, or
// starts one. A running router of another build (berth was upgraded)
// hands its listening socket over to a new router process of this build.
func attachRouter(ctx context.Context, o Options, log *slog.Logger) (*attached, error) {
	sock := routerproc.SocketPath(o.State)
	exe := o.RouterExe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find the berth binary to run the router: %w", err)
		}
	}
	c := routerproc.NewClient(sock, log)
	ictx, cancel := context.WithTimeout(ctx, infoTimeout)
	info, err := c.Info(ictx)
	cancel()
	if err == nil {
		if !sameAddr(info.Listen, o.Listen) {
			c.Close()
			return nil, usageErr("the router of %s already serves %s (pid %d), not %s: run `berth down` first to move it, or start with --listen %s", o.State, info.Listen, info.PID, o.Listen, info.Listen)
		}
		if info.ListenTLS != "" && o.ListenTLS != "" && !sameAddr(info.ListenTLS, o.ListenTLS) {
			c.Close()
			return nil, usageErr("the router of %s already serves TLS on %s (pid %d), not %s: run `berth down` first to move it, or set listen_tls: %s", o.State, info.ListenTLS, info.PID, o.ListenTLS, info.ListenTLS)
		}
		if (info.ListenTLS == "") != (o.ListenTLS == "") {
			c.Close()
			log.Info("listen_tls changed; handing the router over to a router process with the spec's", "pid", info.PID)
			return handOver(ctx, o, exe, info, log)
		}
		if build := routerproc.BuildID(); build != "" && info.Build != build {
			c.Close()
			return handOver(ctx, o, exe, info, log)
		}
		if !info.Settings.Equal(o.Router) {
			c.Close()
			log.Info("the running router has other router: settings; handing it over to a router process with the spec's", "pid", info.PID)
			return handOver(ctx, o, exe, info, log)
		}
		if err := c.Adopt(ctx, adoptGrace); err != nil {
			c.Close()
			return nil, err
		}
		log.Info("adopted running router process", "pid", info.PID, "listen", info.Listen, "table", info.Version)
		return &attached{client: c, listen: info.Listen, listenTLS: info.ListenTLS, pid: info.PID, exe: exe, log: log}, nil
	}
	// No router answers: start one.
	listen, listenTLS, pid, err := spawnRouter(o, exe, o.Listen, o.ListenTLS, log)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &attached{client: c, listen: listen, listenTLS: listenTLS, pid: pid, started: true, exe: exe, log: log}, nil
}

// listenTCP binds a router address, with the next step in its error.
func listenTCP(addr, flag string) (*net.TCPListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, usageErr("router address %s is already in use: stop what listens there or pass %s 127.0.0.1:PORT", addr, flag)
		}
		return nil, usageErr("router cannot listen on %s: %v (pass %s HOST:PORT)", addr, err, flag)
	}
	return ln.(*net.TCPListener), nil
}

// spawnRouter binds addr (and tlsAddr, when set) and the control socket
// and starts a router process on them.
func spawnRouter(o Options, exe, addr, tlsAddr string, log *slog.Logger) (listen, listenTLS string, pid int, err error) {
	sock := routerproc.SocketPath(o.State)
	var tlsFile *os.File
	if tlsAddr != "" {
		tln, err := listenTCP(tlsAddr, "--listen-tls")
		if err != nil {
			return "", "", 0, err
		}
		listenTLS = tln.Addr().String()
		tlsFile, err = tln.File()
		tln.Close()
		if err != nil {
			return "", "", 0, fmt.Errorf("pass the router TLS listener: %w", err)
		}
		defer tlsFile.Close()
	}
	tcp, err := listenTCP(addr, "--listen")
	if err != nil {
		return "", "", 0, err
	}
	var ln net.Listener = tcp
	listen = ln.Addr().String()
	// The address was free, so no router runs: a socket file left is stale.
	_ = os.Remove(sock)
	ctl, err := net.Listen("unix", sock)
	if err != nil {
		ln.Close()
		return "", "", 0, fmt.Errorf("listen on router control socket %s: %w", sock, err)
	}
	_ = os.Chmod(sock, 0o600)
	lnFile, ctlFile, err := routerproc.Files(ln.(*net.TCPListener), ctl.(*net.UnixListener))
	if err != nil {
		_ = os.Remove(sock)
		return "", "", 0, err
	}
	defer lnFile.Close()
	defer ctlFile.Close()
	pid, _, err = routerproc.Spawn(exe, o.State, lnFile, ctlFile, tlsFile, filepath.Join(o.State, routerproc.LogName), o.Router.Args()...)
	if err != nil {
		_ = os.Remove(sock)
		return "", "", 0, err
	}
	log.Info("started router process", "pid", pid, "listen", listen, "listen_tls", listenTLS)
	return listen, listenTLS, pid, nil
}

// superviseEvery is how often the control plane checks that its router
// process answers; after superviseMisses missed checks in a row it starts
// a new one on the same address and gives it the current table.
const (
	superviseEvery  = time.Second
	superviseMisses = 2
)

// supervise restarts the router process if it dies while the control
// plane runs, until ctx ends.
func (a *attached) supervise(ctx context.Context, o Options) {
	tick := time.NewTicker(superviseEvery)
	defer tick.Stop()
	misses := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ictx, cancel := context.WithTimeout(ctx, infoTimeout)
		_, err := a.client.Info(ictx)
		cancel()
		if err == nil || ctx.Err() != nil {
			misses = 0
			continue
		}
		if misses++; misses < superviseMisses {
			continue
		}
		_, _, pid, serr := spawnRouter(o, a.exe, a.listen, a.listenTLS, a.log)
		if serr != nil {
			a.log.Error("the router process does not answer and cannot be replaced", "error", err, "replace", serr)
			continue
		}
		a.log.Warn("the router process stopped answering; started a new one", "error", err, "pid", pid)
		a.client.Resend()
		misses = 0
	}
}

// handOver replaces the running router process old by one of this build,
// without refusing or failing a request: the new process receives the very
// listening socket (SCM_RIGHTS) and the current table, and serves once it
// has the table; then the old one stops accepting and finishes its
// requests in flight; finally the new control socket takes the old one's
// path.
func handOver(ctx context.Context, o Options, exe string, old routerproc.Info, log *slog.Logger) (*attached, error) {
	sock := routerproc.SocketPath(o.State)
	oc := routerproc.NewClient(sock, log)
	defer oc.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	lnFile, err := oc.Listener(ctx)
	if err != nil {
		return nil, fmt.Errorf("hand the router over to the new build: %w", err)
	}
	defer lnFile.Close()
	var tlsFile *os.File
	listenTLS := ""
	switch {
	case o.ListenTLS != "" && old.ListenTLS != "":
		// The TLS socket is handed over like the plain one.
		if tlsFile, err = oc.TLSListener(ctx); err != nil {
			return nil, fmt.Errorf("hand the router's TLS listener over to the new build: %w", err)
		}
		listenTLS = old.ListenTLS
	case o.ListenTLS != "":
		// TLS is new: bind it.
		tln, err := listenTCP(o.ListenTLS, "--listen-tls")
		if err != nil {
			return nil, err
		}
		listenTLS = tln.Addr().String()
		tlsFile, err = tln.File()
		tln.Close()
		if err != nil {
			return nil, fmt.Errorf("pass the router TLS listener: %w", err)
		}
	}
	if tlsFile != nil {
		defer tlsFile.Close()
	}
	table, err := oc.Table(ctx)
	if err != nil {
		return nil, fmt.Errorf("hand the router over to the new build: %w", err)
	}
	tmp := sock + ".new"
	_ = os.Remove(tmp)
	ctl, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("listen on router control socket %s: %w", tmp, err)
	}
	_ = os.Chmod(tmp, 0o600)
	ul := ctl.(*net.UnixListener)
	ctlFile, err := ul.File()
	ul.SetUnlinkOnClose(false)
	ul.Close()
	if err != nil {
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("pass the router control socket: %w", err)
	}
	defer ctlFile.Close()
	pid, exited, err := routerproc.Spawn(exe, o.State, lnFile, ctlFile, tlsFile, filepath.Join(o.State, routerproc.LogName), append([]string{"--await-table"}, o.Router.Args()...)...)
	if err != nil {
		_ = os.Remove(tmp)
		return nil, err
	}
	nc := routerproc.NewClient(tmp, log)
	defer nc.Close()
	if err := nc.Load(ctx, table); err != nil {
		select {
		case <-exited:
		default:
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("hand the router over to the new build: new router process %d: %w", pid, err)
	}
	// Both processes accept on the socket now; the old one stops accepting
	// and drains.
	if err := oc.Stop(ctx); err != nil {
		log.Warn("stop the old router process after handover", "pid", old.PID, "error", err)
	}
	if err := os.Rename(tmp, sock); err != nil {
		return nil, fmt.Errorf("move the new router's control socket into place: %w", err)
	}
	c := routerproc.NewClient(sock, log)
	if err := c.Adopt(ctx, adoptGrace); err != nil {
		c.Close()
		return nil, err
	}
	log.Info("router handed over to a new router process", "old_pid", old.PID, "pid", pid, "listen", old.Listen)
	return &attached{client: c, listen: old.Listen, listenTLS: listenTLS, pid: pid, started: true, exe: exe, log: log}, nil
}

// stopWait bounds how long a stopping router may take to finish its
// requests in flight.
const stopWait = 40 * time.Second

// stopRouter asks the router process to stop and waits until its control
// socket no longer answers (it closes it last).
func stopRouter(ctx context.Context, c *routerproc.Client, log *slog.Logger) error {
	ictx, cancel := context.WithTimeout(ctx, infoTimeout)
	info, err := c.Info(ictx)
	cancel()
	if err != nil {
		return nil // nothing runs
	}
	if err := c.Stop(ctx); err != nil {
		return fmt.Errorf("stop router process %d: %w", info.PID, err)
	}
	deadline := time.Now().Add(stopWait)
	for processAlive(info.PID) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			log.Warn("router process did not stop in time; killing it", "pid", info.PID)
			_ = syscall.Kill(info.PID, syscall.SIGKILL)
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	_ = os.Remove(c.Socket())
	log.Info("router process stopped", "pid", info.PID)
	return nil
}

// processAlive reports whether pid runs (a zombie does not).
func processAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // not Linux: trust kill
	}
	for i := len(b) - 1; i > 0; i-- {
		if b[i] == ')' {
			return i+2 >= len(b) || b[i+2] != 'Z'
		}
	}
	return true
}

// sameAddr reports whether a router listening on have serves the address
// want names: same port (port 0 matches any), and the same host once
// resolved; an empty or wildcard host matches only a wildcard.
func sameAddr(have, want string) bool {
	if have == want {
		return true
	}
	hh, hp, err1 := net.SplitHostPort(have)
	wh, wp, err2 := net.SplitHostPort(want)
	if err1 != nil || err2 != nil {
		return false
	}
	if wp != "0" && hp != wp {
		return false
	}
	hip := net.ParseIP(hh)
	if hip == nil {
		return false
	}
	if wip := net.ParseIP(wh); wh == "" || wip != nil && wip.IsUnspecified() || hip.IsUnspecified() {
		return (wh == "" || wip != nil && wip.IsUnspecified()) && hip.IsUnspecified()
	}
	wips, err := net.LookupIP(wh)
	if err != nil {
		return false
	}
	for _, ip := range wips {
		if ip.Equal(hip) {
			return true
		}
	}
	return false
}
