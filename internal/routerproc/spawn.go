package routerproc

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// File names inside the state directory.
const (
	// SocketName is the router's control socket.
	SocketName = "router.sock"
	// LogName is the router process's log.
	LogName = "router.log"
	// StateEnv is set, to the state directory, in the router process's
	// environment, so operators and tests can find it (`pgrep -f` cannot
	// tell two projects' routers apart).
	StateEnv = "BERTH_ROUTER_STATE"
)

// Spawn starts a router process, `exe router`, detached from the caller:
// in a session of its own (a terminal's Ctrl-C and the end of the caller,
// crash included, do not reach it), serving the listening socket ln
// (passed as descriptor 3) with its control API on the unix listening
// socket ctl (descriptor 4), logging to logPath. args are added to its
// command line (e.g. "--await-table"). It returns once the process runs;
// connections arriving meanwhile wait in the sockets' backlogs. The caller
// still owns ln and ctl (close them: the process has its own copies). done
// is closed when the process exits, if it exits while the caller runs.
//
// tlsLn, when not nil, is the TLS listening socket (descriptor 5; the
// process is started with --tls).
func Spawn(exe, state string, ln, ctl, tlsLn *os.File, logPath string, args ...string) (pid int, done <-chan struct{}, err error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, nil, fmt.Errorf("open router log: %w", err)
	}
	defer logFile.Close()
	base := []string{"router", "--state", state}
	if tlsLn != nil {
		base = append(base, "--tls")
	}
	cmd := exec.Command(exe, append(base, args...)...)
	cmd.Env = append(routerEnv(os.Environ()), StateEnv+"="+state)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.ExtraFiles = []*os.File{ln, ctl}
	if tlsLn != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, tlsLn)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, nil, fmt.Errorf("start router process %s: %w", exe, err)
	}
	ch := make(chan struct{})
	go func() { _ = cmd.Wait(); close(ch) }()
	return cmd.Process.Pid, ch, nil
}

// routerEnv is the caller's environment without what the router has no
// use for and should not hold (the API token, or where to read it).
func routerEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if strings.HasPrefix(kv, "BERTH_TOKEN=") || strings.HasPrefix(kv, "BERTH_TOKEN_FILE=") || strings.HasPrefix(kv, StateEnv+"=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Files returns duplicates of a TCP listener and a unix listener to pass
// to Spawn, and closes the listeners (the unix socket's file stays).
func Files(ln *net.TCPListener, ctl *net.UnixListener) (lnFile, ctlFile *os.File, err error) {
	defer func() {
		ctl.SetUnlinkOnClose(false)
		_ = ln.Close()
		_ = ctl.Close()
	}()
	if lnFile, err = ln.File(); err != nil {
		return nil, nil, fmt.Errorf("pass the router listener: %w", err)
	}
	if ctlFile, err = ctl.File(); err != nil {
		lnFile.Close()
		return nil, nil, fmt.Errorf("pass the router control socket: %w", err)
	}
	return lnFile, ctlFile, nil
}

// Inherited returns the listeners a router process was started with by
// Spawn (descriptors 3 and 4).
func Inherited() (ln net.Listener, ctl net.Listener, err error) {
	lf := os.NewFile(3, "router-listener")
	cf := os.NewFile(4, "router-control")
	if lf == nil || cf == nil {
		return nil, nil, fmt.Errorf("no inherited listeners: `berth router` is started by `berth serve` or `berth up`")
	}
	defer lf.Close()
	defer cf.Close()
	if ln, err = net.FileListener(lf); err != nil {
		return nil, nil, fmt.Errorf("inherited router listener: %w", err)
	}
	if ctl, err = net.FileListener(cf); err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("inherited control socket: %w", err)
	}
	return ln, ctl, nil
}

// InheritedTLS returns the TLS listener a router process was started
// with by Spawn (descriptor 5, with --tls).
func InheritedTLS() (net.Listener, error) {
	f := os.NewFile(5, "router-tls-listener")
	if f == nil {
		return nil, fmt.Errorf("no inherited TLS listener")
	}
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("inherited router TLS listener: %w", err)
	}
	return ln, nil
}

// BuildID identifies the running binary: the SHA-256 of its executable,
// or "" when it cannot be read. A control plane whose build differs from
// its router's hands the router over to a router of its own build.
func BuildID() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := os.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// SocketPath is the control socket's path in state directory state.
func SocketPath(state string) string { return filepath.Join(state, SocketName) }
