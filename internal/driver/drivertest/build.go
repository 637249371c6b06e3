package drivertest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// testServerPkg is the import path of the test HTTP server.
const testServerPkg = "github.com/berth-dev/berth/internal/driver/drivertest/testserver"

var build struct {
	once sync.Once
	path string
	err  error
}

// BuildTestServer compiles ./testserver once per test binary as a static
// binary (CGO_ENABLED=0, so it also runs in a FROM-scratch image) and
// returns its path. The binary is cached in the system temp directory under
// a hash of its source and the Go version, so reruns only re-link when the
// source changed.
func BuildTestServer(t testing.TB) string {
	t.Helper()
	build.once.Do(func() { build.path, build.err = buildTestServer() })
	if build.err != nil {
		t.Fatalf("build test server: %v", build.err)
	}
	return build.path
}

func buildTestServer() (string, error) {
	dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "testserver")
	if fi, err := os.Stat(out); err == nil && fi.Mode().IsRegular() {
		return out, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build the test server: no go on PATH: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "testserver-*.tmp")
	if err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	// Built by import path from the test's working directory, which is
	// inside the module.
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", tmp.Name(), testServerPkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", testServerPkg, err, b)
	}
	// Concurrent test binaries may race here; rename is atomic and both
	// binaries are identical.
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", err
	}
	return out, nil
}

// cacheDir returns a directory named after the hash of the test server's
// source and the Go version; a fresh temp directory when the source cannot
// be found (e.g. under -trimpath).
func cacheDir() (string, error) {
	_, self, _, ok := runtime.Caller(0)
	src, err := os.ReadFile(filepath.Join(filepath.Dir(self), "testserver", "main.go"))
	if !ok || err != nil {
		return os.MkdirTemp("", "berth-testserver-")
	}
	sum := sha256.Sum256(append(src, runtime.Version()...))
	dir := filepath.Join(os.TempDir(), "berth-testserver-"+hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dir, nil
}
