package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
)

// gitError is a git command that ran and exited non-zero.
type gitError struct {
	Args   []string
	Code   int
	Stderr string
}

func (e *gitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = fmt.Sprintf("exit status %d", e.Code)
	}
	return fmt.Sprintf("git %s: %s", strings.Join(e.Args, " "), msg)
}

// exitCode reports the exit code of a git command that ran and failed, or
// -1 when err is not such a failure.
func exitCode(err error) int {
	var ge *gitError
	if errors.As(err, &ge) {
		return ge.Code
	}
	return -1
}

// gitEnv is the environment of every git command: the caller's, made
// deterministic (C locale) and non-interactive, and without optional
// index-lock writes so read-only queries never race a user's git.
func gitEnv() []string {
	return append(os.Environ(),
		"LC_ALL=C",
		"GIT_OPTIONAL_LOCKS=0",
		"GIT_TERMINAL_PROMPT=0",
	)
}

// runGit runs git in dir with stdin (may be nil) and returns its standard
// output. It is the only place in this package that starts a process;
// calls, when non-nil, counts invocations so tests can hold the batching
// promise.
func runGit(ctx context.Context, calls *atomic.Int64, dir string, stdin []byte, args ...string) ([]byte, error) {
	if calls != nil {
		calls.Add(1)
	}
	full := append([]string{"-C", dir, "-c", "core.quotepath=off"}, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Env = gitEnv()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	if errors.Is(err, exec.ErrNotFound) {
		return nil, fmt.Errorf("%w: install git and make sure it is on PATH", ErrGitNotFound)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("git %s: %w", strings.Join(args, " "), ctxErr)
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return stdout.Bytes(), &gitError{Args: args, Code: exitErr.ExitCode(), Stderr: stderr.String()}
	}
	return nil, fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
}
