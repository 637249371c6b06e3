package secrets

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyEnv is the environment variable that carries the master key.
const KeyEnv = "BERTH_MASTER_KEY"

// KeyFileName is the master key file inside the state directory, used when
// KeyEnv is not set.
const KeyFileName = "master.key"

// keySize is the length of a master key in bytes.
const keySize = 32

// fingerprintSize is the length of the key fingerprint stored in envelopes.
const fingerprintSize = 8

// keyForm tells the user what a master key must look like.
const keyForm = "expected 32 bytes encoded as base64 (44 characters, e.g. `openssl rand -base64 32`) or hex (64 characters, `openssl rand -hex 32`)"

// Key is a loaded master key. Its String and fmt output show only the
// fingerprint, never the key. The zero Key is not usable.
type Key struct {
	aead   [keySize]byte         // derived encryption key
	fp     [fingerprintSize]byte // derived fingerprint, stored in envelopes
	source string                // where it came from, for messages
	ok     bool
}

// ParseKey decodes a master key given as base64 (standard or URL alphabet,
// padded or not) or hex of exactly 32 bytes. source names where the text came
// from; it appears in errors and Key.Source. Errors never contain the text.
func ParseKey(text, source string) (Key, error) {
	s := strings.TrimSpace(text)
	if s == "" {
		return Key{}, fmt.Errorf("%s: %w: empty; %s", source, ErrBadKey, keyForm)
	}
	decoders := []func(string) ([]byte, error){
		hex.DecodeString,
		base64.StdEncoding.DecodeString,
		base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString,
		base64.RawURLEncoding.DecodeString,
	}
	decodedLen := -1
	for _, decode := range decoders {
		raw, err := decode(s)
		if err != nil {
			continue
		}
		if len(raw) == keySize {
			return newKey(raw, source), nil
		}
		if decodedLen < 0 {
			decodedLen = len(raw) // report the most specific form (hex first)
		}
	}
	if decodedLen >= 0 {
		return Key{}, fmt.Errorf("%s: %w: decodes to %d bytes; %s", source, ErrBadKey, decodedLen, keyForm)
	}
	return Key{}, fmt.Errorf("%s: %w: neither base64 nor hex; %s", source, ErrBadKey, keyForm)
}

// newKey derives the encryption key and fingerprint from raw master key
// bytes, so the master key itself is never used directly as a cipher key.
func newKey(raw []byte, source string) Key {
	k := Key{source: source, ok: true}
	aead, err := hkdf.Key(sha256.New, raw, nil, "berth secrets xchacha20poly1305 v1", keySize)
	if err != nil {
		panic(fmt.Sprintf("derive secrets key: %v", err)) // only fails on bad lengths
	}
	fp, err := hkdf.Key(sha256.New, raw, nil, "berth secrets key fingerprint v1", fingerprintSize)
	if err != nil {
		panic(fmt.Sprintf("derive key fingerprint: %v", err))
	}
	copy(k.aead[:], aead)
	copy(k.fp[:], fp)
	return k
}

// Fingerprint is a short hex identifier of the key, safe to show and log.
func (k Key) Fingerprint() string { return hex.EncodeToString(k.fp[:]) }

// Source says where the key was loaded from ("BERTH_MASTER_KEY" or a path).
func (k Key) Source() string { return k.source }

// IsZero reports whether k is the zero Key (no key loaded).
func (k Key) IsZero() bool { return !k.ok }

// String shows the fingerprint and source, never the key.
func (k Key) String() string {
	if !k.ok {
		return "master key (none)"
	}
	return fmt.Sprintf("master key %s (from %s)", k.Fingerprint(), k.source)
}

// GoString is String, so %#v does not print the key either.
func (k Key) GoString() string { return k.String() }

// Format makes every fmt verb print String.
func (k Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LoadKey returns the master key: from BERTH_MASTER_KEY when it is set,
// otherwise from <stateDir>/master.key, which is created (mode 0600, its
// directory 0700) with 32 random bytes on first use. The file holds the key
// as base64, so it can be copied into BERTH_MASTER_KEY on another machine. A
// key file readable or writable by group or others is refused.
func LoadKey(stateDir string) (Key, error) {
	if text, ok := os.LookupEnv(KeyEnv); ok {
		if strings.TrimSpace(text) == "" {
			return Key{}, fmt.Errorf("%s is set but empty (unset it to use %s): %w; %s",
				KeyEnv, filepath.Join(stateDir, KeyFileName), ErrBadKey, keyForm)
		}
		return ParseKey(text, KeyEnv)
	}
	if stateDir == "" {
		return Key{}, fmt.Errorf("load master key: no state directory and %s not set: %w", KeyEnv, ErrBadKey)
	}
	path := filepath.Join(stateDir, KeyFileName)
	k, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createKeyFile(stateDir, path); err != nil {
			return Key{}, err
		}
		return readKeyFile(path)
	}
	return k, err
}

// readKeyFile reads and checks an existing key file.
func readKeyFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("open master key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("stat master key: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Key{}, fmt.Errorf("master key %s: %w: not a regular file", path, ErrBadKey)
	}
	if perm := st.Mode().Perm(); perm&0o066 != 0 {
		return Key{}, fmt.Errorf("master key %s: %w: readable or writable by group or others (mode %04o); run: chmod 600 %s",
			path, ErrBadKey, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return Key{}, fmt.Errorf("read master key %s: %w", path, err)
	}
	if len(data) == keySize {
		// Raw bytes: no text encoding of 32 bytes is 32 characters long.
		return newKey(data, path), nil
	}
	return ParseKey(string(data), path)
}

// createKeyFile writes a fresh random key to path. The key is written to a
// temporary file and hard-linked into place, so a concurrent reader never sees
// a partial key and two first-time callers agree on one key.
func createKeyFile(dir, path string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state directory for master key: %w", err)
	}
	raw := make([]byte, keySize)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("generate master key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".master.key-*")
	if err != nil {
		return fmt.Errorf("create master key: %w", err)
	}
	defer os.Remove(tmp.Name())
	text := base64.StdEncoding.EncodeToString(raw) + "\n"
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("create master key: %w", err)
	}
	if _, err := io.WriteString(tmp, text); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write master key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write master key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write master key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("install master key %s: %w", path, err)
	}
	return nil
}
