package secrets

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestResolve_LatestAndPinned(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	mustSet(t, s, "prod/db-password", "pw-1")
	mustSet(t, s, "prod/db-password", "pw-2")
	mustSet(t, s, "prod/api-key", "key-1")
	mustSet(t, s, "dev/db-password", "dev-pw")
	refs := map[string]string{"DB_PASSWORD": "db-password", "API_KEY": "api-key", "DB_PASSWORD_AGAIN": "local:db-password"}

	values, versions, err := s.Resolve(ctx, "prod", refs, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantValues := map[string]string{"DB_PASSWORD": "pw-2", "API_KEY": "key-1", "DB_PASSWORD_AGAIN": "pw-2"}
	wantVersions := map[string]int{"prod/db-password": 2, "prod/api-key": 1}
	if !maps.Equal(values, wantValues) || !maps.Equal(versions, wantVersions) {
		t.Fatalf("Resolve latest = %v %v, want %v %v", values, versions, wantValues, wantVersions)
	}

	// A rollback resolves with the versions its release recorded.
	mustSet(t, s, "prod/api-key", "key-2")
	values, versions, err = s.Resolve(ctx, "prod", refs, map[string]int{"prod/db-password": 1})
	if err != nil {
		t.Fatal(err)
	}
	wantValues = map[string]string{"DB_PASSWORD": "pw-1", "API_KEY": "key-2", "DB_PASSWORD_AGAIN": "pw-1"}
	wantVersions = map[string]int{"prod/db-password": 1, "prod/api-key": 2}
	if !maps.Equal(values, wantValues) || !maps.Equal(versions, wantVersions) {
		t.Fatalf("Resolve pinned = %v %v, want %v %v", values, versions, wantValues, wantVersions)
	}
}

func TestResolve_Errors(t *testing.T) {
	s, b := newTestStore(t)
	ctx := context.Background()
	mustSet(t, s, "prod/api-key", plaintext)
	mustSet(t, s, "prod/nul", "a\x00b")
	cases := []struct {
		name    string
		refs    map[string]string
		pinned  map[string]int
		want    []string
		wantErr error
	}{
		{
			name:    "missing secret",
			refs:    map[string]string{"DB_PASSWORD": "db-password", "API_KEY": "api-key"},
			want:    []string{`secret reference DB_PASSWORD=db-password: secret "prod/db-password" not found (set it with: berth secret set prod/db-password)`},
			wantErr: ErrNotFound,
		},
		{
			name:    "missing pinned version",
			refs:    map[string]string{"API_KEY": "api-key"},
			pinned:  map[string]int{"prod/api-key": 4},
			want:    []string{`secret reference API_KEY=api-key: secret "prod/api-key" version 4 not found`},
			wantErr: ErrNotFound,
		},
		{
			name:    "aws provider",
			refs:    map[string]string{"TOKEN": "ssm:/prod/token"},
			want:    []string{"secret reference TOKEN=ssm:/prod/token: AWS providers need the ecs engine or AWS credentials; not available locally"},
			wantErr: ErrUnavailable,
		},
		{
			name:    "bad reference",
			refs:    map[string]string{"X": "vault:x"},
			want:    []string{"secret reference X=vault:x:", `unknown provider "vault"`},
			wantErr: ErrInvalidRef,
		},
		{
			name: "NUL byte",
			refs: map[string]string{"N": "nul"},
			want: []string{"secret reference N=nul:", "NUL byte"},
		},
		{
			name: "every failure reported",
			refs: map[string]string{"A": "missing-a", "B": "missing-b", "API_KEY": "api-key"},
			want: []string{"A=missing-a", "B=missing-b"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			values, versions, err := s.Resolve(ctx, "prod", tc.refs, tc.pinned)
			if err == nil {
				t.Fatalf("Resolve = %v, %v, want error", values, versions)
			}
			if values != nil || versions != nil {
				t.Fatal("partial results returned with an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v is not %v", err, tc.wantErr)
			}
			assertNoLeak(t, err, plaintext, "a\x00b")
		})
	}

	t.Run("wrong key", func(t *testing.T) {
		_, _, err := New(b, testKey(t)).Resolve(ctx, "prod", map[string]string{"API_KEY": "api-key"}, nil)
		want := "secret reference API_KEY=api-key: secret prod/api-key: cannot decrypt with this master key (was BERTH_MASTER_KEY changed?)"
		if err == nil || err.Error() != want || !errors.Is(err, ErrWrongKey) {
			t.Fatalf("Resolve = %v, want %q", err, want)
		}
	})
}

func TestUsers(t *testing.T) {
	s, _ := newTestStore(t)
	got := s.Users("prod", map[string]map[string]string{
		"web":    {"DB_PASSWORD": "db-password", "SESSION": "session-key"},
		"orders": {"DB_PASSWORD": "db-password", "DB_PASSWORD_RO": "db-password", "TOKEN": "ssm:/x"},
		"auth":   {"SESSION": "local:session-key", "BAD": "/nope"},
	})
	want := map[string][]string{
		"prod/db-password": {"orders", "web"},
		"prod/session-key": {"auth", "web"},
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("Users = %v, want %v", got, want)
	}
}
