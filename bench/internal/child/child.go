// Package child starts the programs a benchmark measures (proxies,
// backends, itself in another role) as pinned child processes, and finds
// them free loopback ports.
package child

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Start runs a program pinned to cpus and waits until addr accepts
// connections. stop terminates it and waits for it to exit.
func Start(cpus, addr, prog string, args ...string) (stop func(), err error) {
	cmd := exec.Command("taskset", append([]string{"-c", cpus, prog}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", prog, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return stop, nil
		}
		select {
		case werr := <-exited:
			return nil, fmt.Errorf("%s exited before listening on %s: %v", prog, addr, werr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("%s did not listen on %s within 10s", prog, addr)
		}
	}
}

// FreeAddr is a loopback address nothing listens on now.
func FreeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
