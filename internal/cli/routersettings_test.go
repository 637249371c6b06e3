package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/daemon"
	"github.com/berth-dev/berth/internal/routerproc"
	"github.com/berth-dev/berth/internal/spec"
)

// postStatus POSTs a body of n bytes to url and returns the status code.
func postStatus(t *testing.T, url string, n int) int {
	t.Helper()
	resp, err := http.Post(url+"/upload", "application/octet-stream", bytes.NewReader(make([]byte, n)))
	if err != nil {
		t.Fatalf("POST %d bytes: %v", n, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestSpecRouterSettingsReachTheRouterProcess: the spec's router: section
// configures the router process (max_request_body answers 413), a control
// plane restarted with other settings hands the listening socket over to a
// router process that has them, and one restarted with the same settings
// adopts the running router.
func TestSpecRouterSettingsReachTheRouterProcess(t *testing.T) {
	t.Setenv("BERTH_API", "")
	dir, err := os.MkdirTemp("", "rset") // short: unix socket paths
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	state := filepath.Join(dir, "s")
	g := &globals{file: filepath.Join(dir, "none.yaml"), state: state, stdout: io.Discard, stderr: io.Discard}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := routerproc.NewClient(routerproc.SocketPath(state), nil)
	defer c.Close()
	start := func(maxBody spec.Size) (*daemon.Daemon, routerproc.Info) {
		t.Helper()
		d, err := g.startDaemon(ctx, daemonOptions{project: "p", listen: "127.0.0.1:0", engine: "process", router: &spec.Router{MaxRequestBody: maxBody}})
		if err != nil {
			t.Fatalf("start the control plane: %v", err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatalf("router info: %v", err)
		}
		t.Cleanup(func() { _ = syscall.Kill(info.PID, syscall.SIGKILL) })
		if info.PID == os.Getpid() {
			t.Fatal("the router runs inside the control plane's process")
		}
		return d, info
	}

	d, first := start(1024)
	url := d.RouterURL()
	if got := postStatus(t, url, 2048); got != http.StatusRequestEntityTooLarge {
		t.Fatalf("2 KiB body with max_request_body 1k: got %d, want 413", got)
	}
	if got := postStatus(t, url, 512); got == http.StatusRequestEntityTooLarge {
		t.Fatal("512 B body with max_request_body 1k: got 413")
	}
	if err := d.Detach(ctx); err != nil {
		t.Fatalf("detach: %v", err)
	}

	// Other settings: a new router process serves the same address.
	d, second := start(4096)
	if second.PID == first.PID {
		t.Fatalf("router process %d kept serving with the old settings", first.PID)
	}
	if second.Listen != first.Listen {
		t.Fatalf("the new router listens on %s, the old one on %s", second.Listen, first.Listen)
	}
	if second.Settings.MaxRequestBodyBytes != 4096 {
		t.Fatalf("new router settings %+v, want max request body 4096", second.Settings)
	}
	if got := postStatus(t, url, 2048); got == http.StatusRequestEntityTooLarge {
		t.Fatal("2 KiB body with max_request_body 4k: got 413")
	}
	if got := postStatus(t, url, 8192); got != http.StatusRequestEntityTooLarge {
		t.Fatalf("8 KiB body with max_request_body 4k: got %d, want 413", got)
	}
	deadline := time.Now().Add(time.Minute)
	for running(first.PID) {
		if time.Now().After(deadline) {
			t.Fatalf("the replaced router process %d still runs", first.PID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := d.Detach(ctx); err != nil {
		t.Fatalf("detach: %v", err)
	}

	// Same settings: the running router is adopted.
	d, third := start(4096)
	if third.PID != second.PID {
		t.Fatalf("router process %d replaced by %d though its settings did not change", second.PID, third.PID)
	}
	if err := d.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
}
