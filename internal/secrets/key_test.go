package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadKey_FromEnv(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb, 0xef, 0x01}, 11)[:keySize] // has bytes that differ between base64 alphabets
	want := newKey(raw, "want").Fingerprint()
	cases := []struct {
		name    string
		value   string
		wantErr string // substring; "" = success
	}{
		{"base64 std", base64.StdEncoding.EncodeToString(raw), ""},
		{"base64 std unpadded", base64.RawStdEncoding.EncodeToString(raw), ""},
		{"base64 url", base64.URLEncoding.EncodeToString(raw), ""},
		{"base64 url unpadded", base64.RawURLEncoding.EncodeToString(raw), ""},
		{"hex", hex.EncodeToString(raw), ""},
		{"hex upper with newline", strings.ToUpper(hex.EncodeToString(raw)) + "\n", ""},
		{"short base64", base64.StdEncoding.EncodeToString(raw[:16]), "decodes to 16 bytes"},
		{"long hex", hex.EncodeToString(append(raw, 1)), "decodes to 33 bytes"},
		{"garbage", "correct horse battery staple!", "neither base64 nor hex"},
		{"empty", "  ", "set but empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(KeyEnv, tc.value)
			dir := t.TempDir()
			k, err := LoadKey(dir)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if k.Fingerprint() != want || k.Source() != KeyEnv {
					t.Fatalf("key %v, want fingerprint %s from env", k, want)
				}
				if _, err := os.Stat(filepath.Join(dir, KeyFileName)); !os.IsNotExist(err) {
					t.Fatalf("key file written although env is set: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("LoadKey = %v, want ErrBadKey containing %q", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), "base64") || !strings.Contains(err.Error(), "hex") {
				t.Fatalf("error does not say the expected form: %v", err)
			}
			if v := strings.TrimSpace(tc.value); v != "" && strings.Contains(err.Error(), v) {
				t.Fatalf("error leaks the key text: %v", err)
			}
		})
	}
}

// unsetKeyEnv removes BERTH_MASTER_KEY for the test, restoring it after.
func unsetKeyEnv(t *testing.T) {
	t.Helper()
	t.Setenv(KeyEnv, "") // registers the restore
	if err := os.Unsetenv(KeyEnv); err != nil {
		t.Fatal(err)
	}
}

func TestLoadKey_File_CreatedOnceAndReused(t *testing.T) {
	unsetKeyEnv(t)
	dir := filepath.Join(t.TempDir(), "state")
	k1, err := LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFileName)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", perm)
	}
	dst, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := dst.Mode().Perm(); perm != 0o700 {
		t.Fatalf("state dir mode %04o, want 0700", perm)
	}
	k2, err := LoadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k1.Fingerprint() != k2.Fingerprint() {
		t.Fatal("second LoadKey made a new key")
	}
	if k2.Source() != path {
		t.Fatalf("Source = %q, want %q", k2.Source(), path)
	}
	// The file holds base64 that works as BERTH_MASTER_KEY elsewhere.
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(KeyEnv, string(text))
	k3, err := LoadKey(t.TempDir())
	if err != nil || k3.Fingerprint() != k1.Fingerprint() {
		t.Fatalf("key file text as %s: %v, %v", KeyEnv, k3, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("state dir holds %d entries, want only %s", len(entries), KeyFileName)
	}
}

func TestLoadKey_File_GroupReadableRefused(t *testing.T) {
	unsetKeyEnv(t)
	dir := t.TempDir()
	if _, err := LoadKey(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFileName)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadKey(dir)
	if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Fatalf("LoadKey = %v, want refusal with chmod hint", err)
	}
}

func TestLoadKey_File_Garbage(t *testing.T) {
	unsetKeyEnv(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, KeyFileName), []byte("not a key at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadKey(dir)
	if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), filepath.Join(dir, KeyFileName)) {
		t.Fatalf("LoadKey = %v, want ErrBadKey naming the file", err)
	}
}

func TestKey_FmtHidesKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, keySize)
	k := newKey(raw, "test")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
		out := fmt.Sprintf(verb, k)
		if strings.Contains(out, "abab") || strings.Contains(out, "171") || strings.Contains(strings.ToLower(out), hex.EncodeToString(k.aead[:4])) {
			t.Errorf("%s prints key material: %s", verb, out)
		}
		if !strings.Contains(out, k.Fingerprint()) {
			t.Errorf("%s = %s, want the fingerprint", verb, out)
		}
	}
}

func TestLoadKey_File_ConcurrentFirstUseAgree(t *testing.T) {
	unsetKeyEnv(t)
	dir := t.TempDir()
	const n = 4
	fps := make(chan string, n)
	for range n {
		go func() {
			k, err := LoadKey(dir)
			if err != nil {
				fps <- "error: " + err.Error()
				return
			}
			fps <- k.Fingerprint()
		}()
	}
	first := <-fps
	for range n - 1 {
		if fp := <-fps; fp != first {
			t.Fatalf("concurrent first use gave different keys: %s vs %s", first, fp)
		}
	}
	if strings.HasPrefix(first, "error") {
		t.Fatal(first)
	}
}
