// Package entry is the small entry shim that gives a container its secret
// environment variables without putting their values in the container's
// configuration: the docker driver writes them to a file on tmpfs, mounts
// that file and the (static) berth binary into the container, and makes
// `berth __entry FILE -- ARGV...` the container's entrypoint. The shim
// reads the file, adds its variables to the environment and execs ARGV.
// Neither `docker inspect` nor the engine's config.v2.json shows a value.
package entry

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
)

// Command is the hidden berth subcommand that runs the shim.
const Command = "__entry"

// Encode serialises variables as NAME=VALUE entries, each ended by NUL
// (the layout of /proc/PID/environ). Names must be non-empty without '='
// or NUL, values without NUL.
func Encode(vars map[string]string) ([]byte, error) {
	var b bytes.Buffer
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		v := vars[k]
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("secret variable %q: name must be non-empty without '=' or NUL, value without NUL", k)
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
		b.WriteByte(0)
	}
	return b.Bytes(), nil
}

// ErrMalformed is returned by Decode for bytes Encode cannot have written.
var ErrMalformed = errors.New("malformed secrets file")

// Decode parses what Encode wrote, as NAME=VALUE strings.
func Decode(data []byte) ([]string, error) {
	if len(data) == 0 {
		return nil, nil
	}
	if data[len(data)-1] != 0 {
		return nil, fmt.Errorf("%w: last entry not ended by NUL", ErrMalformed)
	}
	var out []string
	for _, e := range bytes.Split(data[:len(data)-1], []byte{0}) {
		k, _, ok := bytes.Cut(e, []byte("="))
		if !ok || len(k) == 0 {
			return nil, fmt.Errorf("%w: entry without NAME=", ErrMalformed)
		}
		out = append(out, string(e))
	}
	return out, nil
}

// Main runs the shim: args are FILE -- ARGV... It only returns on error
// (the exec replaces the process); the caller exits non-zero with it.
func Main(args []string) error {
	if len(args) < 3 || args[1] != "--" {
		return fmt.Errorf("usage: berth %s FILE -- COMMAND [ARG...]", Command)
	}
	file, argv := args[0], args[2:]
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read secrets: %w", err)
	}
	vars, err := Decode(data)
	if err != nil {
		return fmt.Errorf("read secrets %s: %w", file, err)
	}
	env := append(os.Environ(), vars...)
	path := argv[0]
	if !strings.Contains(path, "/") {
		// Look up in the container's PATH (the image's, or docker's default).
		if path, err = exec.LookPath(argv[0]); err != nil {
			return fmt.Errorf("start %s: %w", argv[0], err)
		}
	}
	if err := syscall.Exec(path, argv, env); err != nil {
		return fmt.Errorf("start %s: %w", path, err)
	}
	return nil
}
