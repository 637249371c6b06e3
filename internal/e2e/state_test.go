package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMissingStateRefusesToSweep: after a crash, a deleted state.db does
// not make the next start kill every running task as an orphan: berth
// refuses to start, says why and what to do, and the tasks keep serving;
// --discard-orphans then stops them deliberately.
func TestMissingStateRefusesToSweep(t *testing.T) {
	p := deployed(t, goodSpec)
	before := p.taskPIDs()
	if len(before) != 2 {
		t.Fatalf("task processes %v, want 2", before)
	}
	p.kill9()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(filepath.Join(p.state, "state.db"+suffix))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := p.command(ctx, "serve").CombinedOutput()
	p.record("berth serve (no state)", string(out))
	if err == nil || ctx.Err() != nil {
		t.Fatalf("berth serve without its state started (or hung): %v\n%s", err, out)
	}
	for _, want := range []string{"state.db", "2 tasks", "--discard-orphans", "backup"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if after := p.taskPIDs(); len(after) != 2 {
		t.Fatalf("tasks after the refused start: %v, want the 2 that ran", after)
	}
	p.serveArgs = []string{"--discard-orphans"}
	p.startServe()
	p.waitFor("orphans stopped", 30*time.Second, func() bool { return len(p.taskPIDs()) == 0 })
}
