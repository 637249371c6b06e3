package secrets

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/store"
)

// memBackend is an in-memory Backend with the contract of internal/store:
// versions per name from 1, soft delete, numbering continues after delete.
type memBackend struct {
	mu   sync.Mutex
	rows map[string][]store.SecretVersion // name -> versions in order
	now  time.Time
}

var _ Backend = (*memBackend)(nil)

func newMemBackend() *memBackend {
	return &memBackend{rows: map[string][]store.SecretVersion{}, now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (m *memBackend) PutSecretVersionFunc(_ context.Context, name string, seal func(int) ([]byte, error)) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(time.Minute)
	v := len(m.rows[name]) + 1
	ciphertext, err := seal(v)
	if err != nil {
		return 0, err
	}
	m.rows[name] = append(m.rows[name], store.SecretVersion{
		Name: name, Version: v, Ciphertext: append([]byte(nil), ciphertext...), CreatedAt: m.now,
	})
	return v, nil
}

func (m *memBackend) SecretVersion(_ context.Context, name string, version int) (store.SecretVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rows := m.rows[name]
	for i := len(rows) - 1; i >= 0; i-- {
		r := rows[i]
		if !r.Deleted && (version == 0 || r.Version == version) {
			r.Ciphertext = append([]byte(nil), r.Ciphertext...)
			return r, nil
		}
	}
	return store.SecretVersion{}, fmt.Errorf("secret %s version %d: %w", name, version, ErrNotFound)
}

func (m *memBackend) SecretVersions(context.Context) ([]store.SecretVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.SecretVersion
	for _, rows := range m.rows {
		if last := rows[len(rows)-1]; !last.Deleted {
			out = append(out, last)
		}
	}
	return out, nil
}

func (m *memBackend) SecretHistory(_ context.Context, name string) ([]store.SecretVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]store.SecretVersion(nil), m.rows[name]...), nil
}

func (m *memBackend) DeleteSecret(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rows := m.rows[name]
	if len(rows) == 0 || rows[len(rows)-1].Deleted {
		return fmt.Errorf("delete secret %s: %w", name, ErrNotFound)
	}
	for i := range rows {
		rows[i].Deleted = true
	}
	return nil
}

// put overwrites the stored ciphertext of one version (tests tamper with it).
func (m *memBackend) put(name string, version int, ciphertext []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows[name][version-1].Ciphertext = ciphertext
}

// ciphertext returns a copy of the stored ciphertext of one version.
func (m *memBackend) ciphertext(name string, version int) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.rows[name][version-1].Ciphertext...)
}
