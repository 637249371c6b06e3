package secrets

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/store"
)

// MaxValueSize is the largest secret value accepted (environment variables
// beyond this size are rejected by Linux anyway).
const MaxValueSize = 64 << 10

// Backend persists sealed secret versions; internal/store implements it.
//
// *store.Store implements it as is. Contract: an error for a missing name or
// version matches store.ErrNotFound (or this package's ErrNotFound) under
// errors.Is; version 0 in
// SecretVersion means the latest non-deleted version; PutSecretVersionFunc
// assigns max(version over every row of the name, deleted ones included) + 1
// and calls seal with it inside the same write transaction, so the value is
// sealed for exactly the version it is stored as, even with several writers.
type Backend interface {
	PutSecretVersionFunc(ctx context.Context, name string, seal func(version int) ([]byte, error)) (int, error)
	SecretVersion(ctx context.Context, name string, version int) (store.SecretVersion, error)
	SecretVersions(ctx context.Context) ([]store.SecretVersion, error)
	SecretHistory(ctx context.Context, name string) ([]store.SecretVersion, error)
	DeleteSecret(ctx context.Context, name string) error
}

// Info describes a stored secret without its value.
type Info struct {
	Name      string    `json:"name"` // scoped name, e.g. "prod/DB_PASSWORD"
	Version   int       `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Store is the local secrets provider: it seals values with the master key
// and keeps them, versioned, in a Backend.
type Store struct {
	b Backend
	k Key
}

// New returns a provider over b, sealing with k.
func New(b Backend, k Key) *Store { return &Store{b: b, k: k} }

// Set stores value as the next version of the (scoped) secret name and
// returns that version. Older versions stay readable.
func (s *Store) Set(ctx context.Context, name string, value []byte) (int, error) {
	if err := ValidateName(name); err != nil {
		return 0, fmt.Errorf("set secret: %w", err)
	}
	if len(value) > MaxValueSize {
		return 0, fmt.Errorf("set secret %s: %w: %d bytes, at most %d", name, ErrTooLarge, len(value), MaxValueSize)
	}
	got, err := s.b.PutSecretVersionFunc(ctx, name, func(version int) ([]byte, error) {
		return seal(s.k, name, version, value)
	})
	if err != nil {
		return 0, fmt.Errorf("set secret %s: %w", name, err)
	}
	return got, nil
}

// Get returns a version of the (scoped) secret name and the version read;
// version 0 means the latest.
func (s *Store) Get(ctx context.Context, name string, version int) (Value, int, error) {
	if err := ValidateName(name); err != nil {
		return nil, 0, fmt.Errorf("get secret: %w", err)
	}
	if version < 0 {
		return nil, 0, fmt.Errorf("get secret %s: version %d: versions start at 1 (0 = latest)", name, version)
	}
	rec, err := s.b.SecretVersion(ctx, name, version)
	if isNotFound(err) || err == nil && rec.Deleted {
		return nil, 0, &NotFoundError{Name: name, Version: version}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get secret %s: %w", name, err)
	}
	plaintext, err := open(s.k, name, rec.Version, rec.Ciphertext)
	switch {
	case err == nil:
		return Value(plaintext), rec.Version, nil
	case errors.Is(err, ErrWrongKey):
		return nil, 0, fmt.Errorf("secret %s: %w", name, err)
	case errors.Is(err, errUnknownFormat):
		return nil, 0, fmt.Errorf("secret %s version %d: %w (written by a newer berth?)", name, rec.Version, err)
	default:
		return nil, 0, fmt.Errorf("secret %s version %d: %w", name, rec.Version, err)
	}
}

// List describes the latest version of every secret, sorted by name. It
// never reads or returns values.
func (s *Store) List(ctx context.Context) ([]Info, error) {
	recs, err := s.b.SecretVersions(ctx)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	infos := make([]Info, 0, len(recs))
	for _, r := range recs {
		if r.Deleted {
			continue
		}
		infos = append(infos, Info{Name: r.Name, Version: r.Version, UpdatedAt: r.CreatedAt})
	}
	slices.SortFunc(infos, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return infos, nil
}

// Delete removes the (scoped) secret name; releases pinned to its versions
// can no longer be resolved.
func (s *Store) Delete(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("delete secret: %w", err)
	}
	err := s.b.DeleteSecret(ctx, name)
	if isNotFound(err) {
		return fmt.Errorf("delete secret %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete secret %s: %w", name, err)
	}
	return nil
}

// isNotFound reports whether a Backend error means "no such secret".
func isNotFound(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrNotFound)
}
