package shopkit

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestMain turns the test binary into a shop service when asked, so Main's
// exit codes and signal handling are tested in a real process.
func TestMain(m *testing.M) {
	if os.Getenv("SHOPKIT_TEST_MAIN") == "1" {
		Main("probe", "/probe", nil)
		return
	}
	os.Exit(m.Run())
}

// startMain starts the test binary as a service and returns it with the
// address it listens on, read from its "listening" log line.
func startMain(t *testing.T, env ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{"SHOPKIT_TEST_MAIN=1", "SHOP_HOST=127.0.0.1", "PORT=0"}, env...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	return cmd, wait(t, addr, "the service to listen")
}

func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	err := wait(t, done, "the process to exit")
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func TestMain_Process(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Run("serves version and exits 0 on SIGTERM", func(t *testing.T) {
		cmd, addr := startMain(t, "BERTH_RELEASE=4")
		resp, err := http.Get("http://" + addr + "/probe/version")
		if err != nil {
			t.Fatal(err)
		}
		var v Version
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil || v.Service != "probe" || v.Release != "4" {
			t.Fatalf("version = %+v, %v", v, err)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := exitCode(t, cmd); code != 0 {
			t.Errorf("exit code %d after SIGTERM, want 0", code)
		}
	})
	t.Run("CHAOS_EXIT_AFTER exits 3", func(t *testing.T) {
		cmd, _ := startMain(t, "CHAOS_EXIT_AFTER=50ms")
		if code := exitCode(t, cmd); code != ExitCodeChaos {
			t.Errorf("exit code %d, want %d", code, ExitCodeChaos)
		}
	})
	t.Run("bad knob exits 2", func(t *testing.T) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SHOPKIT_TEST_MAIN=1", "CHAOS_ERROR_RATE=lots")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if code := exitCode(t, cmd); code != 2 {
			t.Errorf("exit code %d, want 2", code)
		}
	})
}
