package process

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/driver"
)

// baseEnv names the variables of the control plane's own environment a
// task gets: what any program expects of a machine (where to find
// commands, its home, time zone and locale), nothing that could carry a
// credential. LC_* variables are passed too.
var baseEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TZ", "LANG", "LANGUAGE", "TMPDIR", "TERM"}

// defaultPath is PATH for a task when the control plane has none.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// taskEnv builds a task's environment: a minimal base taken from the
// parent's environment (baseEnv and LC_*, never anything else: the control
// plane's master key, API token, AWS credentials and whatever else was set
// for `berth serve` never reach a task), then the spec's Env, then PORT and
// the BERTH_* variables describing the task, which win over both. Secrets
// are added like Env (a process's environment is only readable by its
// user).
func taskEnv(parent []string, spec driver.TaskSpec, port int) ([]string, error) {
	env := make(map[string]string, len(baseEnv)+len(spec.Env)+8)
	env["PATH"] = defaultPath
	for _, kv := range parent {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !(slices.Contains(baseEnv, k) || strings.HasPrefix(k, "LC_")) {
			continue
		}
		env[k] = v
	}
	for k, v := range spec.Secrets {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("secret variable %q: name must be non-empty without '=' or NUL, value without NUL", k)
		}
		env[k] = v
	}
	for k, v := range spec.Env {
		if _, secret := spec.Secrets[k]; secret {
			continue
		}
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("environment variable %q: name must be non-empty without '=' or NUL, value without NUL", k)
		}
		env[k] = v
	}
	env["PORT"] = strconv.Itoa(port)
	env["BERTH_TASK"] = spec.ID
	env["BERTH_SERVICE"] = spec.Service
	env["BERTH_RELEASE"] = strconv.Itoa(spec.Release)
	for k, v := range map[string]string{
		"BERTH_PROJECT":  spec.Project,
		"BERTH_COMMIT":   spec.Commit,
		"BERTH_ARTIFACT": spec.Artifact,
	} {
		if v != "" {
			env[k] = v
		}
	}
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out, nil
}

// shellQuote quotes s as one word for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
