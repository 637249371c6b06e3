// Package artifact builds process-engine artifacts: it runs a service's
// build command with $BERTH_ARTIFACT pointing into the state directory and
// keeps the result content-addressed, so a release can be rolled back to
// without rebuilding and an unchanged build makes no new release.
package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Request describes one artifact build.
type Request struct {
	Service string
	// Command is run by /bin/sh -c in Dir with BERTH_ARTIFACT set.
	Command string
	Dir     string
	// StateDir is where artifacts are kept: StateDir/artifacts/<service>/<digest>/.
	StateDir string
	// Output receives the build's combined output (may be nil).
	Output io.Writer
}

// Result is a built artifact.
type Result struct {
	Path   string
	Digest string // sha256 of the artifact's content, hex
}

// Build runs the build command and moves its output to a path named by
// its content digest. A build that produces an artifact identical to an
// earlier one returns the earlier path.
func Build(ctx context.Context, r Request) (Result, error) {
	base := filepath.Join(r.StateDir, "artifacts", r.Service)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return Result{}, fmt.Errorf("build %s: %w", r.Service, err)
	}
	tmp, err := os.MkdirTemp(base, "build-")
	if err != nil {
		return Result{}, fmt.Errorf("build %s: %w", r.Service, err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, r.Service)
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", r.Command)
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), "BERTH_ARTIFACT="+out, "BERTH_SERVICE="+r.Service)
	var buf bytes.Buffer
	w := io.Writer(&buf)
	if r.Output != nil {
		w = io.MultiWriter(&buf, r.Output)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return Result{}, fmt.Errorf("build %s: `%s` failed: %w\n%s", r.Service, r.Command, err, lastLines(buf.String(), 20))
	}
	f, err := os.Open(out)
	if err != nil {
		return Result{}, fmt.Errorf("build %s: the build command did not write $BERTH_ARTIFACT (%s): %w", r.Service, out, err)
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return Result{}, fmt.Errorf("build %s: hash artifact: %w", r.Service, err)
	}
	digest := hex.EncodeToString(h.Sum(nil))
	dir := filepath.Join(base, digest[:16])
	final := filepath.Join(dir, r.Service)
	if _, err := os.Stat(final); err == nil {
		return Result{Path: final, Digest: digest}, nil
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(final); serr == nil { // a parallel build won
			return Result{Path: final, Digest: digest}, nil
		}
		return Result{}, fmt.Errorf("build %s: keep artifact: %w", r.Service, err)
	}
	return Result{Path: final, Digest: digest}, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
