package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/routerproc"
)

// TestServeRunsRouterAsItsOwnProcess: serve starts a router process apart
// from itself; SIGTERM-like detaching leaves it, and down stops it.
func TestServeRunsRouterAsItsOwnProcess(t *testing.T) {
	t.Setenv("BERTH_API", "")
	dir, err := os.MkdirTemp("", "serve") // short: unix socket paths
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	state := filepath.Join(dir, "s")
	args := []string{"-f", filepath.Join(dir, "none.yaml"), "--state", state}
	done := make(chan int, 1)
	go func() {
		done <- run(append(args, "serve", "--listen", "127.0.0.1:0", "--project", "p"), io.Discard, io.Discard)
	}()
	c := routerproc.NewClient(routerproc.SocketPath(state), nil)
	defer c.Close()
	var info routerproc.Info
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err = c.Info(ctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before its router answered", code)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no router process answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() { _ = syscall.Kill(info.PID, syscall.SIGKILL) })
	if info.PID == os.Getpid() {
		t.Fatal("the router runs inside the control plane's process")
	}
	// down stops the tasks, the control plane and the router.
	deadline = time.Now().Add(30 * time.Second)
	for run(append(args, "down"), io.Discard, io.Discard) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("down never succeeded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d after down", code)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve still runs after down")
	}
	if running(info.PID) {
		t.Fatalf("router process %d still runs after down", info.PID)
	}
}

// running reports whether pid is a live process (a zombie is not).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}
