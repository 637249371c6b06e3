package store

import (
	"context"
	"database/sql"
	"fmt"
)

// PutSecretVersion stores ciphertext as the next version of secret name
// (atomically, also across processes) and returns that version number.
// Versions are never reused, also after DeleteSecret.
func (s *Store) PutSecretVersion(ctx context.Context, name string, ciphertext []byte) (int, error) {
	return s.PutSecretVersionFunc(ctx, name, func(int) ([]byte, error) { return ciphertext, nil })
}

// PutSecretVersionFunc stores the next version of secret name with the
// ciphertext seal returns for that version number. seal runs inside the
// write transaction, so a ciphertext bound to its version (sealed with it
// as associated data) cannot race with another process setting the same
// secret. An error from seal aborts the put.
func (s *Store) PutSecretVersionFunc(ctx context.Context, name string, seal func(version int) ([]byte, error)) (int, error) {
	if name == "" {
		return 0, fmt.Errorf("put secret: empty name: %w", ErrInvalid)
	}
	var version int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx,
			"SELECT COALESCE(MAX(version), 0) + 1 FROM secret_versions WHERE name = ?", name,
		).Scan(&version); err != nil {
			return err
		}
		ciphertext, err := seal(version)
		if err != nil {
			return err
		}
		if ciphertext == nil {
			ciphertext = []byte{}
		}
		_, err = tx.ExecContext(ctx,
			"INSERT INTO secret_versions (name, version, ciphertext, created_at) VALUES (?, ?, ?, ?)",
			name, version, ciphertext, timeToDB(s.nowUTC()))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("put secret %s: %w", name, err)
	}
	return version, nil
}

const secretColumns = "name, version, ciphertext, created_at, deleted"

func scanSecret(r scanner) (SecretVersion, error) {
	var (
		v       SecretVersion
		created int64
	)
	if err := r.Scan(&v.Name, &v.Version, &v.Ciphertext, &created, &v.Deleted); err != nil {
		return SecretVersion{}, err
	}
	v.CreatedAt = timeFromDB(created)
	return v, nil
}

// SecretVersion returns version of secret name; version 0 means the latest
// version of a secret that is not deleted. An explicit version is returned
// even when deleted (Deleted set), so callers decide whether to use it.
// ErrNotFound when there is no such version.
func (s *Store) SecretVersion(ctx context.Context, name string, version int) (SecretVersion, error) {
	var row *sql.Row
	if version == 0 {
		row = s.db.QueryRowContext(ctx,
			"SELECT "+secretColumns+" FROM secret_versions WHERE name = ? AND deleted = 0 ORDER BY version DESC LIMIT 1", name)
	} else {
		row = s.db.QueryRowContext(ctx,
			"SELECT "+secretColumns+" FROM secret_versions WHERE name = ? AND version = ?", name, version)
	}
	v, err := scanSecret(row)
	if err != nil {
		return SecretVersion{}, notFound(err, fmt.Sprintf("secret %s version %d", name, version))
	}
	return v, nil
}

// SecretVersions returns the latest version (with its ciphertext) of every
// secret that is not deleted, by name.
func (s *Store) SecretVersions(ctx context.Context) ([]SecretVersion, error) {
	out, err := queryAll(ctx, s.db, scanSecret, `
		SELECT `+secretColumns+` FROM secret_versions AS v
		WHERE deleted = 0 AND version = (SELECT MAX(version) FROM secret_versions WHERE name = v.name)
		ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	return out, nil
}

// SecretHistory returns every version of secret name, deleted ones
// included, newest first; ErrNotFound when it never existed.
func (s *Store) SecretHistory(ctx context.Context, name string) ([]SecretVersion, error) {
	out, err := queryAll(ctx, s.db, scanSecret,
		"SELECT "+secretColumns+" FROM secret_versions WHERE name = ? ORDER BY version DESC", name)
	if err != nil {
		return nil, fmt.Errorf("history of secret %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("history of secret %s: %w", name, ErrNotFound)
	}
	return out, nil
}

// DeleteSecret marks every version of secret name deleted; the ciphertexts
// stay for history. ErrNotFound when the secret is absent or already
// deleted. A later PutSecretVersion makes it live again with a new version.
func (s *Store) DeleteSecret(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, "UPDATE secret_versions SET deleted = 1 WHERE name = ? AND deleted = 0", name)
	if err != nil {
		return fmt.Errorf("delete secret %s: %w", name, err)
	}
	return checkAffected(res, "delete secret "+name)
}
