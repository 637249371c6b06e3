package process_test

import (
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/driver/process"
)

// TestSweepStopsOnlyUnknownTasksOfItsLogDir: after a crash a new driver
// on the same state finds the tasks nobody recorded by their log file and
// stops them; known tasks and other state directories are left alone.
func TestSweepStopsOnlyUnknownTasksOfItsLogDir(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	started := process.New(process.Config{LogDir: logDir})
	orphan := start(t, started, serverTask(t, "orphan", nil))
	known := start(t, started, serverTask(t, "known", nil))
	waitHealthy(t, orphan.Addr)
	waitHealthy(t, known.Addr)

	elsewhere := process.New(process.Config{LogDir: t.TempDir()})
	if got, err := elsewhere.Sweep(t.Context(), func(string) bool { return false }); err != nil || len(got) != 0 {
		t.Fatalf("a driver of another state dir swept %v, %v", got, err)
	}

	fresh := process.New(process.Config{LogDir: logDir})
	got, err := fresh.Sweep(t.Context(), func(id string) bool { return id == known.TaskID })
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if !slices.Equal(got, []string{orphan.TaskID}) {
		t.Fatalf("swept %v, want only %s", got, orphan.TaskID)
	}
	select {
	case <-waitAsync(t, started, orphan):
	case <-time.After(10 * time.Second):
		t.Fatal("the orphan never exited")
	}
	st, err := fresh.Inspect(t.Context(), known)
	if err != nil || !st.Running {
		t.Fatalf("the known task was touched: %+v, %v", st, err)
	}
}

func waitAsync(t *testing.T, d *process.Driver, h driver.Handle) <-chan driver.ExitStatus {
	ch := make(chan driver.ExitStatus, 1)
	go func() {
		st, _ := d.Wait(t.Context(), h)
		ch <- st
	}()
	return ch
}
