package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretCLI runs berth commands in-process against one spec and state dir.
type secretCLI struct {
	t     *testing.T
	spec  string
	state string
}

func newSecretCLI(t *testing.T, specBody string) *secretCLI {
	t.Helper()
	t.Setenv("BERTH_API", "")
	t.Setenv("BERTH_MASTER_KEY", "")
	os.Unsetenv("BERTH_MASTER_KEY")
	dir := t.TempDir()
	path := filepath.Join(dir, "berth.yaml")
	if err := os.WriteFile(path, []byte(specBody), 0o644); err != nil {
		t.Fatal(err)
	}
	return &secretCLI{t: t, spec: path, state: filepath.Join(dir, "state")}
}

// run runs berth with stdin and returns stdout, stderr and the exit code.
func (c *secretCLI) run(stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	g := &globals{stdout: &out, stderr: &errOut}
	root := newRootCommand(g)
	root.SetArgs(append([]string{"-f", c.spec, "--state", c.state}, args...))
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	code := exitOK
	if err := root.Execute(); err != nil {
		errOut.WriteString("error: " + err.Error() + "\n")
		code = exitFailed
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
	}
	return out.String(), errOut.String(), code
}

const secretSpec = `project: p
services:
  api:
    run: ./api
    secrets: {DB_PASSWORD: db-password}
    config: {LOG_LEVEL: log-level}
  worker:
    run: ./worker
    secrets: {DB_PASSWORD: db-password}
  web:
    run: ./web
`

func TestSecretSetGetListRemove(t *testing.T) {
	c := newSecretCLI(t, secretSpec)
	out, errOut, code := c.run("hunter2\n", "secret", "set", "db-password")
	if code != 0 {
		t.Fatalf("set: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"stored db-password version 1", "no control plane is running", "next deploy"} {
		if !strings.Contains(out, want) {
			t.Errorf("set output %q lacks %q", out, want)
		}
	}
	if _, _, code := c.run("hunter3", "secret", "set", "db-password", "--no-rollout"); code != 0 {
		t.Fatal("second set failed")
	}

	got, _, code := c.run("", "secret", "get", "db-password", "--reveal")
	if code != 0 || got != "hunter3" {
		t.Fatalf("get --reveal = %q (exit %d), want hunter3 without a newline", got, code)
	}
	got, _, _ = c.run("", "secret", "get", "db-password", "--reveal", "--version", "1")
	if got != "hunter2" {
		t.Fatalf("get --version 1 = %q, want hunter2 (one trailing newline removed)", got)
	}

	out, _, code = c.run("", "secret", "ls", "-o", "json")
	if code != 0 {
		t.Fatalf("ls exit %d", code)
	}
	var rows []secretRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("ls -o json: %v\n%s", err, out)
	}
	if len(rows) != 2 ||
		rows[0].Name != "db-password" || rows[0].Version != 2 || strings.Join(rows[0].UsedBy, ",") != "api,worker" || rows[0].Missing ||
		rows[1].Name != "log-level" || !rows[1].Missing || strings.Join(rows[1].UsedBy, ",") != "api" {
		t.Fatalf("ls rows = %+v", rows)
	}
	text, _, _ := c.run("", "secret", "ls")
	if !strings.Contains(text, "MISSING") || strings.Contains(text, "hunter") || strings.Contains(out, "hunter") {
		t.Fatalf("ls text:\n%s", text)
	}

	if _, errOut, code := c.run("", "secret", "rm", "db-password"); code != 0 {
		t.Fatalf("rm: %s", errOut)
	}
	if _, errOut, code := c.run("", "secret", "get", "db-password", "--reveal"); code == 0 || !strings.Contains(errOut, "not found") {
		t.Fatalf("get after rm: exit %d, %s", code, errOut)
	}
	if _, errOut, code := c.run("", "secret", "rm", "db-password"); code != exitUsage || !strings.Contains(errOut, "no secret db-password") {
		t.Fatalf("second rm: exit %d, %s", code, errOut)
	}
}

func TestSecretRefusals(t *testing.T) {
	c := newSecretCLI(t, secretSpec)
	cases := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"value on the command line", "", []string{"secret", "set", "db-password", "s3cret-in-argv"}, "never read from the command line"},
		{"empty value", "\n", []string{"secret", "set", "db-password"}, "refusing to store an empty value"},
		{"bad name", "x", []string{"secret", "set", "../etc"}, "invalid secret name"},
		{"get without --reveal", "", []string{"secret", "get", "db-password"}, "without --reveal"},
		{"missing file", "", []string{"secret", "set", "db-password", "--from-file", "/nonexistent/value"}, "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := c.run(tc.stdin, tc.args...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d with %q", code, errOut, exitUsage, tc.want)
			}
			if strings.Contains(out+errOut, "s3cret-in-argv") {
				t.Fatalf("output repeats the refused value: %q %q", out, errOut)
			}
		})
	}
}

func TestSecretNamesAreScopedByEnvironment(t *testing.T) {
	c := newSecretCLI(t, secretSpec)
	file := filepath.Join(t.TempDir(), "value")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := c.run("", "--env", "prod", "secret", "set", "DB_PASSWORD", "--from-file", file); code != 0 || !strings.Contains(out, "stored prod/DB_PASSWORD version 1") {
		t.Fatalf("set --env prod: exit %d, %q %q", code, out, errOut)
	}
	// A name that already carries the environment is not scoped twice.
	if out, _, _ := c.run("other", "--env", "prod", "secret", "set", "prod/DB_PASSWORD", "--no-rollout"); !strings.Contains(out, "stored prod/DB_PASSWORD version 2") {
		t.Fatalf("prefixed name: %q", out)
	}
	if got, _, _ := c.run("", "secret", "get", "prod/DB_PASSWORD", "--reveal", "--version", "1"); got != "from-file" {
		t.Fatalf("unscoped get of prod/DB_PASSWORD = %q", got)
	}
	if _, errOut, code := c.run("", "secret", "get", "DB_PASSWORD", "--reveal"); code == 0 || !strings.Contains(errOut, "not found") {
		t.Fatalf("DB_PASSWORD without --env must not find prod's: exit %d %s", code, errOut)
	}
}

func TestSecretStateFilesArePrivateAndHoldNoPlaintext(t *testing.T) {
	c := newSecretCLI(t, secretSpec)
	const value = "plaintext-canary-8d1f"
	if _, errOut, code := c.run(value, "secret", "set", "db-password"); code != 0 {
		t.Fatal(errOut)
	}
	err := filepath.WalkDir(c.state, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group/other access", path, info.Mode().Perm())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(value)) {
			t.Errorf("%s holds the plaintext", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
