package process_test

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestTaskEnvironIsMinimal reads a real task's /proc/PID/environ: the
// control plane's own secrets (master key, AWS credentials, anything set
// for `berth serve`) are not there; the base (PATH, HOME, TZ) and what the
// spec declares are.
func TestTaskEnvironIsMinimal(t *testing.T) {
	t.Setenv("BERTH_MASTER_KEY", "master-key-value")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value")
	t.Setenv("SERVE_ONLY_SETTING", "serve-only-value")
	t.Setenv("TZ", "Europe/Paris")
	d := newDriver(t)
	h := start(t, d, serverTask(t, "env", map[string]string{"DECLARED": "yes"}))
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(h.PID) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range bytes.Split(raw, []byte{0}) {
		if k, v, ok := bytes.Cut(kv, []byte("=")); ok {
			env[string(k)] = string(v)
		}
	}
	for _, k := range []string{"BERTH_MASTER_KEY", "AWS_SECRET_ACCESS_KEY", "SERVE_ONLY_SETTING"} {
		if v, ok := env[k]; ok {
			t.Errorf("task environment has %s=%s from the control plane's", k, v)
		}
	}
	for k, want := range map[string]string{"DECLARED": "yes", "TZ": "Europe/Paris", "PATH": os.Getenv("PATH"), "BERTH_TASK": h.TaskID} {
		if env[k] != want {
			t.Errorf("task environment %s = %q, want %q", k, env[k], want)
		}
	}
}

// TestExec: a command health check runs with the task's environment and in
// its directory; exit 0 passes, anything else fails.
func TestExec(t *testing.T) {
	d := newDriver(t)
	ts := serverTask(t, "exec", map[string]string{"FOO": "bar"})
	h := start(t, d, ts)
	if err := d.Exec(t.Context(), h, []string{"sh", "-c", `test "$FOO" = bar && test "$(pwd)" = "$1"`, "sh", ts.Dir}); err != nil {
		t.Errorf("Exec in the task's environment and directory: %v", err)
	}
	if err := d.Exec(t.Context(), h, []string{"sh", "-c", "echo nope; exit 4"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Exec of a failing command = %v, want its exit and output", err)
	}
	stale := h
	stale.StartTime++
	if err := d.Exec(t.Context(), stale, []string{"true"}); err == nil {
		t.Errorf("Exec on a stale handle ran")
	}
}
