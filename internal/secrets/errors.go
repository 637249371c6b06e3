package secrets

import (
	"errors"
	"fmt"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrNotFound means the secret (or the requested version) does not exist
	// or was deleted. A Backend must return an error matching it (see Backend).
	ErrNotFound = errors.New("secret not found")
	// ErrWrongKey means the value was sealed under another master key.
	ErrWrongKey = errors.New("cannot decrypt with this master key (was BERTH_MASTER_KEY changed?)")
	// ErrCorrupt means the envelope failed authentication under the right key:
	// it was damaged, tampered with, or moved to another name or version.
	ErrCorrupt = errors.New("ciphertext is corrupt or was tampered with")
	// ErrInvalidName means a secret name does not follow the naming rules.
	ErrInvalidName = errors.New("invalid secret name")
	// ErrInvalidRef means a secret reference could not be parsed.
	ErrInvalidRef = errors.New("invalid secret reference")
	// ErrUnavailable means a reference names a provider this process cannot
	// reach (AWS providers under a local engine).
	ErrUnavailable = errors.New("AWS providers need the ecs engine or AWS credentials; not available locally")
	// ErrBadKey means a master key is malformed or its key file is unsafe.
	ErrBadKey = errors.New("invalid master key")
	// ErrTooLarge means a value exceeds MaxValueSize.
	ErrTooLarge = errors.New("secret value too large")
)

// NotFoundError reports a missing secret or version with the command that
// fixes it. It matches ErrNotFound.
type NotFoundError struct {
	Name    string // scoped name
	Version int    // 0 = latest
}

// Error names the secret and, for the latest version, the command that sets it.
func (e *NotFoundError) Error() string {
	if e.Version > 0 {
		return fmt.Sprintf("secret %q version %d not found", e.Name, e.Version)
	}
	return fmt.Sprintf("secret %q not found (set it with: berth secret set %s)", e.Name, e.Name)
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }
