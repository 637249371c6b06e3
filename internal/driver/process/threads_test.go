//go:build linux

package process_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/driver/process"
)

// threads is the number of OS threads of this process.
func threads(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads: line in /proc/self/status")
	return 0
}

// TestWaitingTasksCostNoThread: 60 tasks, each with a Wait in flight (as
// the control plane keeps one per task), add only a handful of OS threads;
// a thread blocked per task would add 60. Then every Wait sees its task's
// exit.
func TestWaitingTasksCostNoThread(t *testing.T) {
	const n = 60
	d := process.New(process.Config{LogDir: t.TempDir()})
	ctx := context.Background()
	before := threads(t)
	var handles []driver.Handle
	for i := range n {
		h, err := d.Start(ctx, driver.TaskSpec{ID: fmt.Sprintf("idle-%d", i), Service: "idle", Release: 1, Command: "sleep 300", Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, h)
	}
	t.Cleanup(func() {
		for _, h := range handles {
			_ = d.Stop(context.Background(), h, time.Second)
		}
	})
	var wg sync.WaitGroup
	exited := make(chan driver.ExitStatus, n)
	for _, h := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := d.Wait(ctx, h)
			if err != nil {
				t.Error(err)
			}
			exited <- st
		}()
	}
	// Every task is running and watched; the waiters park on channels.
	for _, h := range handles {
		st, err := d.Inspect(ctx, h)
		if err != nil || !st.Running {
			t.Fatalf("task %s not running: %+v %v", h.TaskID, st, err)
		}
	}
	if grew := threads(t) - before; grew > 15 {
		t.Fatalf("%d waiting tasks added %d OS threads, want a handful", n, grew)
	}
	for _, h := range handles {
		if err := d.Stop(ctx, h, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(exited)
	got := 0
	for st := range exited {
		if st.Signal == "" && st.Code == 0 && st.Err == "" {
			t.Errorf("stopped task reported a clean exit: %+v", st)
		}
		got++
	}
	if got != n {
		t.Fatalf("%d of %d waits returned", got, n)
	}
}
