package process_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/driver/process"
)

// logWriter makes this test binary the tasks' log writer (see TestMain).
var logWriter = []string{os.Args[0], process.LogWriterCommand}

// chatty is a task writing n numbered lines of about 100 bytes, then exiting.
func chatty(t *testing.T, name string, n int) driver.TaskSpec {
	return driver.TaskSpec{
		ID:      fmt.Sprintf("%s-%d", name, taskSeq.Add(1)),
		Service: name,
		Release: 1,
		Command: fmt.Sprintf(`sh -c 'i=0; while [ $i -lt %d ]; do echo "line $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; i=$((i+1)); done'`, n),
		Dir:     t.TempDir(),
	}
}

// TestLogsRotateBySize: a task's log is rotated at the size limit, keeping
// the configured number of files, and holds the newest lines.
func TestLogsRotateBySize(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	d := process.New(process.Config{LogDir: logDir, LogWriter: logWriter, LogMaxBytes: 64 << 10, LogFiles: 2})
	h := start(t, d, chatty(t, "rotate", 5000)) // ~500 KB
	if st := wait(t, d, h); st.Code != 0 {
		t.Fatalf("task exited %v", st)
	}
	// The writer exits at the end of the task's output; wait for it.
	waitFor(t, "the log writer to finish", func() bool { return !groupAlive(h.PID) })
	var kept []string
	for _, name := range []string{"", ".1", ".2", ".3"} {
		fi, err := os.Stat(h.LogPath + name)
		if err != nil {
			continue
		}
		kept = append(kept, filepath.Base(h.LogPath)+name)
		if fi.Size() > 64<<10 {
			t.Errorf("%s is %d bytes, over the 64 KiB limit", h.LogPath+name, fi.Size())
		}
	}
	if want := []string{h.TaskID + ".log", h.TaskID + ".log.1", h.TaskID + ".log.2"}; !slices.Equal(kept, want) {
		t.Fatalf("log files %v, want %v", kept, want)
	}
	b, err := os.ReadFile(h.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	// The writer never makes the task wait: on a loaded machine it may
	// fall a whole queue behind and drop the newest lines, which it counts
	// beside the log (its notice in the log may have rotated away).
	// Otherwise the newest line is in the current log.
	dropped, _ := os.ReadFile(h.LogPath + process.DroppedSuffix)
	switch n, _ := strconv.Atoi(string(dropped)); {
	case n > 0:
		t.Logf("the writer fell behind and dropped %d lines", n)
	case !strings.Contains(string(b), "line 4999 "):
		t.Errorf("the current log does not end with the last line:\n%s", b[max(0, len(b)-300):])
	}
}

// TestLogsNeverBlockTheTask: with the log file stuck (a FIFO nobody reads
// stands in for a frozen filesystem) the task still writes all its output
// and exits; the lines that could not be kept are dropped, counted, said
// in the log once it moves again, and reported by Inspect.
func TestLogsNeverBlockTheTask(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	ts := chatty(t, "stuck", 20000) // ~2 MB, far past the pipe and the queue
	path := filepath.Join(logDir, ts.ID+".log")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	// Hold the FIFO open for reading without reading: writes fill it, then block.
	fifo, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fifo.Close()
	d := process.New(process.Config{LogDir: logDir, LogWriter: logWriter})
	h := start(t, d, ts)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	st, err := d.Wait(ctx, h)
	if err != nil {
		t.Fatalf("the task did not finish while its log was stuck: %v", err)
	}
	if st.Code != 0 {
		t.Fatalf("task exited %v", st)
	}
	// Unstick the log: read it to the end (the writer closes it when done).
	if err := unix.SetNonblock(int(fifo.Fd()), false); err != nil {
		t.Fatal(err)
	}
	var lines, dropNotes int
	sc := bufio.NewScanner(fifo)
	for sc.Scan() {
		lines++
		if strings.HasPrefix(sc.Text(), "berth: dropped ") {
			dropNotes++
		}
	}
	if lines >= 20000 || dropNotes == 0 {
		t.Errorf("read %d lines with %d drop notes; want fewer than 20000 and a note", lines, dropNotes)
	}
	waitFor(t, "the dropped count", func() bool {
		b, _ := os.ReadFile(path + process.DroppedSuffix)
		return len(b) > 0 && string(b) != "0"
	})
	_, _ = io.Copy(io.Discard, fifo)
}

// TestSweepStopsOrphanWithLogWriter: an orphan task started with a log
// writer (whose standard output is the log, not the task's) is found and
// stopped, writer and all.
func TestSweepStopsOrphanWithLogWriter(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	started := process.New(process.Config{LogDir: logDir, LogWriter: logWriter})
	orphan := start(t, started, serverTask(t, "orphan", nil))
	waitHealthy(t, orphan.Addr)
	waitFor(t, "the log writer to start", func() bool { return writerRuns(orphan.LogPath) })
	fresh := process.New(process.Config{LogDir: logDir, LogWriter: logWriter})
	got, err := fresh.Sweep(t.Context(), func(string) bool { return false })
	if err != nil || !slices.Equal(got, []string{orphan.TaskID}) {
		t.Fatalf("Sweep = %v, %v; want %s", got, err, orphan.TaskID)
	}
	waitFor(t, "the log writer to exit", func() bool { return !groupAlive(orphan.PID) })
}

// writerRuns reports whether a live process has path as its standard output.
func writerRuns(path string) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if target, err := os.Readlink("/proc/" + e.Name() + "/fd/1"); err == nil && target == path {
			if b, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
				s := string(b)
				if i := strings.LastIndexByte(s, ')'); i > 0 && i+2 < len(s) && s[i+2] == 'Z' {
					continue
				}
			}
			return true
		}
	}
	return false
}

// groupAlive reports whether process group pgid has a member left (the
// task's log writer outlives the task by the time it takes to finish).
func groupAlive(pgid int) bool { return unix.Kill(-pgid, 0) == nil }

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
