package store

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// helperEnv names the database the child process of
// TestTwoProcesses_ShareFile writes to.
const helperEnv = "BERTH_STORE_TEST_WRITER_DB"

const writesPerProcess = 40

// TestTwoProcesses_ShareFile runs a second OS process (this test binary
// re-executed) that creates releases while this one does too, as
// `berth secret set` next to a running daemon would.
func TestTwoProcesses_ShareFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "berth.db")
	s := openAt(t, path)

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperWriterProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	out := make(chan error, 1)
	var output []byte
	go func() {
		var err error
		output, err = cmd.CombinedOutput()
		out <- err
	}()

	for range writesPerProcess {
		if _, err := s.CreateRelease(ctx, Release{Service: "web", Commit: "parent"}); err != nil {
			t.Fatalf("parent CreateRelease: %v", err)
		}
	}
	if err := <-out; err != nil {
		t.Fatalf("child process: %v\n%s", err, output)
	}

	rs, err := s.Releases(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2*writesPerProcess {
		t.Fatalf("%d releases, want %d", len(rs), 2*writesPerProcess)
	}
	children := 0
	for i, r := range rs {
		if want := 2*writesPerProcess - i; r.Number != want {
			t.Fatalf("release at %d numbered %d, want %d", i, r.Number, want)
		}
		if r.Commit == "child" {
			children++
		}
	}
	if children != writesPerProcess {
		t.Fatalf("%d releases from the child, want %d", children, writesPerProcess)
	}
}

// TestHelperWriterProcess is the child of TestTwoProcesses_ShareFile; it
// does nothing when run directly.
func TestHelperWriterProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestTwoProcesses_ShareFile")
	}
	s := openAt(t, path)
	for i := range writesPerProcess {
		if _, err := s.CreateRelease(context.Background(), Release{Service: "web", Commit: "child"}); err != nil {
			t.Fatalf("child CreateRelease %d: %v", i, err)
		}
	}
	t.Logf("wrote %d releases", writesPerProcess)
}
