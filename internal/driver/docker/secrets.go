package docker

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/driver/docker/entry"
)

// Where the entry shim and the secrets file appear in a container.
const (
	shimTarget    = "/.berth/berth"
	secretsTarget = "/.berth/secrets"
)

// ErrNoShim means a task has secrets but no static berth binary can serve
// as its entry shim.
var ErrNoShim = errors.New("no static berth binary for the secrets entry shim")

// withSecrets writes t's secrets to a file on tmpfs and turns cfg into a
// run of the entry shim: the shim and the file are mounted read-only, the
// entrypoint becomes `berth __entry FILE --` and the command what the image
// would have run (its entrypoint, then the task's command or its CMD). No
// secret value is in cfg.
func (d *Driver) withSecrets(ctx context.Context, t driver.TaskSpec, cfg *container.Config) ([]mount.Mount, error) {
	shim, err := d.shimPath()
	if err != nil {
		return nil, err
	}
	img, err := d.cli.ImageInspect(ctx, t.Image)
	if err != nil {
		return nil, fmt.Errorf("inspect image %s for its entrypoint: %w", t.Image, d.engineError(err))
	}
	var argv []string
	cmd := cfg.Cmd
	if img.Config != nil {
		argv = append(argv, img.Config.Entrypoint...)
		if len(cmd) == 0 {
			cmd = img.Config.Cmd
		}
	}
	argv = append(argv, cmd...)
	if len(argv) == 0 {
		return nil, fmt.Errorf("image %s has no entrypoint or command to run", t.Image)
	}
	data, err := entry.Encode(t.Secrets)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(d.secretsDir, 0o700); err != nil {
		return nil, fmt.Errorf("secrets directory: %w", err)
	}
	file := d.secretsFile(t.ID)
	// Readable by the container's user whoever it is; the directory keeps
	// everyone else on the host out.
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return nil, fmt.Errorf("write secrets file: %w", err)
	}
	cfg.Entrypoint = []string{shimTarget, entry.Command, secretsTarget, "--"}
	cfg.Cmd = argv
	return []mount.Mount{
		{Type: mount.TypeBind, Source: shim, Target: shimTarget, ReadOnly: true},
		{Type: mount.TypeBind, Source: file, Target: secretsTarget, ReadOnly: true},
	}, nil
}

func (d *Driver) secretsFile(taskID string) string {
	return filepath.Join(d.secretsDir, taskID+".env")
}

// removeSecrets deletes a task's secrets file, if any.
func (d *Driver) removeSecrets(taskID string) {
	if err := os.Remove(d.secretsFile(taskID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.log.Warn("remove secrets file", "task", taskID, "error", err)
	}
}

// shimPath is Config.Shim, else the running executable; it must be a
// statically linked ELF file (a FROM scratch image has no loader).
func (d *Driver) shimPath() (string, error) {
	p := d.shim
	if p == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrNoShim, err)
		}
		p = exe
	}
	static, err := isStatic(p)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoShim, err)
	}
	if !static {
		return "", fmt.Errorf("%w: %s is dynamically linked; build berth with CGO_ENABLED=0 (`make build`)", ErrNoShim, p)
	}
	return p, nil
}

// isStatic reports whether the ELF file at p needs no program interpreter.
func isStatic(p string) (bool, error) {
	f, err := elf.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return !slices.ContainsFunc(f.Progs, func(pr *elf.Prog) bool { return pr.Type == elf.PT_INTERP }), nil
}
