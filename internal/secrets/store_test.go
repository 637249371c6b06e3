package secrets

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

// testKey returns a fresh random key.
func testKey(t *testing.T) Key {
	t.Helper()
	raw := make([]byte, keySize)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	return newKey(raw, "test")
}

const plaintext = "s3cr3t-hunter2-value"

func newTestStore(t *testing.T) (*Store, *memBackend) {
	t.Helper()
	b := newMemBackend()
	return New(b, testKey(t)), b
}

func mustSet(t *testing.T, s *Store, name, value string) int {
	t.Helper()
	v, err := s.Set(context.Background(), name, []byte(value))
	if err != nil {
		t.Fatalf("Set(%s): %v", name, err)
	}
	return v
}

// assertNoLeak fails when err's text contains the plaintext.
func assertNoLeak(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error leaks a value: %v", err)
		}
	}
}

func TestStore_RoundTrip(t *testing.T) {
	s, b := newTestStore(t)
	ctx := context.Background()
	v := mustSet(t, s, "prod/DB_PASSWORD", plaintext)
	if v != 1 {
		t.Fatalf("first version = %d, want 1", v)
	}
	if ct := b.ciphertext("prod/DB_PASSWORD", 1); bytes.Contains(ct, []byte(plaintext)) {
		t.Fatal("backend holds the plaintext")
	}
	got, version, err := s.Get(ctx, "prod/DB_PASSWORD", 0)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != plaintext || version != 1 {
		t.Fatalf("Get = %q v%d, want the value v1", string(got), version)
	}
}

func TestStore_SameValueTwice_DifferentCiphertexts(t *testing.T) {
	s, b := newTestStore(t)
	mustSet(t, s, "a", plaintext)
	mustSet(t, s, "b", plaintext)
	if bytes.Equal(b.ciphertext("a", 1)[headerSize:], b.ciphertext("b", 1)[headerSize:]) {
		t.Fatal("nonce reused: identical ciphertexts")
	}
}

func TestStore_Versions_IncreaseAndOldStayReadable(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	for i, value := range []string{"one", "two", "three"} {
		if v := mustSet(t, s, "prod/API_KEY", value); v != i+1 {
			t.Fatalf("Set #%d returned version %d", i+1, v)
		}
	}
	for version, want := range map[int]string{1: "one", 2: "two", 3: "three", 0: "three"} {
		got, used, err := s.Get(ctx, "prod/API_KEY", version)
		if err != nil {
			t.Fatalf("Get v%d: %v", version, err)
		}
		if string(got) != want {
			t.Errorf("Get v%d = %q, want %q", version, string(got), want)
		}
		if version != 0 && used != version || version == 0 && used != 3 {
			t.Errorf("Get v%d used version %d", version, used)
		}
	}
	_, _, err := s.Get(ctx, "prod/API_KEY", 9)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "version 9") {
		t.Fatalf("Get v9 = %v, want not found naming version 9", err)
	}
}

func TestStore_Tampered_Rejected(t *testing.T) {
	const name = "prod/DB_PASSWORD"
	cases := []struct {
		what string
		at   func(n int) int // byte index to flip, given envelope length
	}{
		{"nonce", func(int) int { return headerSize + 3 }},
		{"ciphertext", func(int) int { return headerSize + 24 + 2 }},
		{"tag", func(n int) int { return n - 1 }},
	}
	for _, tc := range cases {
		t.Run(tc.what, func(t *testing.T) {
			s, b := newTestStore(t)
			mustSet(t, s, name, plaintext)
			ct := b.ciphertext(name, 1)
			ct[tc.at(len(ct))] ^= 0x04
			b.put(name, 1, ct)
			_, _, err := s.Get(context.Background(), name, 0)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Get = %v, want ErrCorrupt", err)
			}
			want := "secret prod/DB_PASSWORD version 1: ciphertext is corrupt or was tampered with"
			if err.Error() != want {
				t.Fatalf("error = %q, want %q", err, want)
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		s, b := newTestStore(t)
		mustSet(t, s, name, plaintext)
		b.put(name, 1, b.ciphertext(name, 1)[:headerSize+10])
		if _, _, err := s.Get(context.Background(), name, 0); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Get = %v, want ErrCorrupt", err)
		}
	})
	t.Run("unknown format", func(t *testing.T) {
		s, b := newTestStore(t)
		mustSet(t, s, name, plaintext)
		ct := b.ciphertext(name, 1)
		ct[0] = 7
		b.put(name, 1, ct)
		_, _, err := s.Get(context.Background(), name, 0)
		if err == nil || !strings.Contains(err.Error(), "format 7") {
			t.Fatalf("Get = %v, want unknown format 7", err)
		}
	})
}

func TestStore_MovedCiphertext_Rejected(t *testing.T) {
	ctx := context.Background()
	t.Run("to another name", func(t *testing.T) {
		s, b := newTestStore(t)
		mustSet(t, s, "prod/DB_PASSWORD", plaintext)
		mustSet(t, s, "dev/DB_PASSWORD", "dev-value")
		b.put("dev/DB_PASSWORD", 1, b.ciphertext("prod/DB_PASSWORD", 1))
		_, _, err := s.Get(ctx, "dev/DB_PASSWORD", 1)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Get = %v, want ErrCorrupt", err)
		}
		assertNoLeak(t, err, plaintext)
	})
	t.Run("to another version", func(t *testing.T) {
		s, b := newTestStore(t)
		mustSet(t, s, "prod/DB_PASSWORD", "old-value")
		mustSet(t, s, "prod/DB_PASSWORD", plaintext)
		b.put("prod/DB_PASSWORD", 2, b.ciphertext("prod/DB_PASSWORD", 1))
		_, _, err := s.Get(ctx, "prod/DB_PASSWORD", 0)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "version 2") {
			t.Fatalf("Get = %v, want ErrCorrupt for version 2", err)
		}
	})
}

func TestStore_WrongKey(t *testing.T) {
	b := newMemBackend()
	ctx := context.Background()
	if _, err := New(b, testKey(t)).Set(ctx, "prod/DB_PASSWORD", []byte(plaintext)); err != nil {
		t.Fatal(err)
	}
	_, _, err := New(b, testKey(t)).Get(ctx, "prod/DB_PASSWORD", 0)
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Get = %v, want ErrWrongKey", err)
	}
	want := "secret prod/DB_PASSWORD: cannot decrypt with this master key (was BERTH_MASTER_KEY changed?)"
	if err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
}

func TestStore_Delete(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	mustSet(t, s, "prod/A", "a1")
	mustSet(t, s, "prod/A", "a2")
	mustSet(t, s, "prod/B", "b1")
	if err := s.Delete(ctx, "prod/A"); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Get(ctx, "prod/A", 0)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after delete = %v, want ErrNotFound", err)
	}
	if _, _, err := s.Get(ctx, "prod/A", 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get v1 after delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "prod/A"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete = %v, want ErrNotFound", err)
	}
	infos, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Name != "prod/B" {
		t.Fatalf("List after delete = %+v, want only prod/B", infos)
	}
	// Setting again continues the numbering and reads back.
	v := mustSet(t, s, "prod/A", "a3")
	if v != 3 {
		t.Fatalf("Set after delete = v%d, want 3", v)
	}
	if got, _, err := s.Get(ctx, "prod/A", 0); err != nil || string(got) != "a3" {
		t.Fatalf("Get after re-set = %q, %v", string(got), err)
	}
}

func TestStore_List_NoValues(t *testing.T) {
	s, _ := newTestStore(t)
	mustSet(t, s, "prod/Z", plaintext)
	mustSet(t, s, "prod/A", "x")
	mustSet(t, s, "prod/A", "y")
	infos, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].Name != "prod/A" || infos[0].Version != 2 || infos[1].Name != "prod/Z" || infos[1].Version != 1 {
		t.Fatalf("List = %+v", infos)
	}
	if infos[0].UpdatedAt.IsZero() {
		t.Fatal("UpdatedAt not set")
	}
}

func TestStore_RejectsBadInput(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	if _, err := s.Set(ctx, "/abs", []byte("x")); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("Set(/abs) = %v, want ErrInvalidName", err)
	}
	if _, err := s.Set(ctx, "big", make([]byte, MaxValueSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Set(big) = %v, want ErrTooLarge", err)
	}
	if _, err := New(newMemBackend(), Key{}).Set(ctx, "a", []byte("x")); !errors.Is(err, ErrBadKey) {
		t.Fatalf("Set with zero key = %v, want ErrBadKey", err)
	}
}

func TestStore_ConcurrentSets_GetDistinctVersions(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	const n = 8
	versions := make(chan int, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			v, err := s.Set(ctx, "prod/A", []byte{byte('a' + i)})
			versions <- v
			errs <- err
		}()
	}
	seen := map[int]bool{}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		seen[<-versions] = true
	}
	for v := 1; v <= n; v++ {
		if !seen[v] {
			t.Fatalf("versions %v, want 1..%d", seen, n)
		}
		if _, _, err := s.Get(ctx, "prod/A", v); err != nil {
			t.Fatalf("Get v%d: %v", v, err)
		}
	}
}
