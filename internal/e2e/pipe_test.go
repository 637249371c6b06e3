package e2e

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUpPipedCtrlCLeavesNoTask is `berth up | tee log` then Ctrl-C: the
// reader of berth's output dies first (here it is closed before the
// signal, so the order is certain), then SIGINT reaches berth's process
// group. berth must not die of SIGPIPE on its next line of output; it must
// go on stopping its tasks and exit normally.
func TestUpPipedCtrlCLeavesNoTask(t *testing.T) {
	p := newProject(t)
	p.writeSpec(goodSpec)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := p.command(context.Background(), "up")
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, as a shell job
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// The "tee": read until berth says it is up, then die.
	up := make(chan struct{})
	var seen strings.Builder
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "press Ctrl-C") {
				close(up)
				return
			}
		}
	}()
	select {
	case <-up:
	case err := <-exited:
		t.Fatalf("berth up exited before it was up: %v", err)
	case <-time.After(90 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("berth up not up within 90s")
	}
	if n := len(p.taskPIDs()); n != 2 {
		t.Fatalf("%d task processes, want 2", n)
	}
	// up keeps its state out of git, and says so.
	if b, _ := os.ReadFile(filepath.Join(p.dir, ".gitignore")); !strings.Contains(string(b), ".berth/\n") || !strings.Contains(seen.String(), "added .berth/ to ") {
		t.Errorf("after up, .gitignore = %q and the output does not say it added .berth/:\n%s", b, seen.String())
	}
	pr.Close() // the reader is gone: every further write of berth's is EPIPE
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				t.Errorf("berth up died of %v after its output went away (want it to finish stopping its tasks)", ws.Signal())
			} else {
				t.Errorf("berth up exited %d after Ctrl-C", ee.ExitCode())
			}
		} else if err != nil {
			t.Errorf("berth up: %v", err)
		}
	case <-time.After(90 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatal("berth up did not exit within 90s of Ctrl-C")
	}
	if pids := p.taskPIDs(); len(pids) != 0 {
		t.Fatalf("task processes left after Ctrl-C with piped output: %v", pids)
	}
}
