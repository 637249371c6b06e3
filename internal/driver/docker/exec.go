package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/berth-dev/berth/internal/driver"
)

// Exec runs argv in the task's container (docker exec, no shell) and
// returns nil when it exits 0, else an error with the end of its output.
// The health checks of `health: {command: [...]}` use it.
func (d *Driver) Exec(ctx context.Context, h driver.Handle, argv []string) error {
	if len(argv) == 0 {
		return errors.New("exec: no command")
	}
	if _, err := d.inspectOwned(ctx, h); err != nil {
		return fmt.Errorf("exec in task %s: %w", h.TaskID, err)
	}
	ex, err := d.cli.ContainerExecCreate(ctx, h.ContainerID, container.ExecOptions{Cmd: argv, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return fmt.Errorf("exec in task %s: %w", h.TaskID, d.engineError(err))
	}
	att, err := d.cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("exec in task %s: %w", h.TaskID, d.engineError(err))
	}
	var out bytes.Buffer
	_, err = stdcopy.StdCopy(&out, &out, io.LimitReader(att.Reader, 64*1024))
	att.Close()
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("exec in task %s: %w", h.TaskID, ctx.Err())
	}
	// The output ends as the command exits; the engine may record the
	// exit a moment later.
	var res container.ExecInspect
	for {
		if res, err = d.cli.ContainerExecInspect(ctx, ex.ID); err != nil {
			return fmt.Errorf("exec in task %s: %w", h.TaskID, d.engineError(err))
		}
		if !res.Running {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("exec in task %s: %w", h.TaskID, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if res.ExitCode != 0 {
		msg := strings.TrimSpace(out.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return fmt.Errorf("%s: exit code %d: %s", argv[0], res.ExitCode, msg)
	}
	return nil
}
