package secrets

import (
	"errors"
	"testing"
)

func TestParseRef(t *testing.T) {
	cases := []struct {
		in      string
		want    Ref
		wantErr bool
	}{
		{in: "db-password", want: Ref{Provider: ProviderLocal, Name: "db-password"}},
		{in: "team/db.password_v2", want: Ref{Provider: ProviderLocal, Name: "team/db.password_v2"}},
		{in: "local:db-password", want: Ref{Provider: ProviderLocal, Name: "db-password"}},
		{in: "ssm:/prod/db/password", want: Ref{Provider: ProviderSSM, Name: "/prod/db/password"}},
		{in: "ssm:arn:aws:ssm:eu-west-1:123456789012:parameter/prod/db", want: Ref{Provider: ProviderSSM, Name: "arn:aws:ssm:eu-west-1:123456789012:parameter/prod/db"}},
		{in: "secretsmanager:prod/db", want: Ref{Provider: ProviderSecretsManager, Name: "prod/db"}},
		{in: "secretsmanager:prod/db#password", want: Ref{Provider: ProviderSecretsManager, Name: "prod/db", Key: "password"}},
		{in: "secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf#user", want: Ref{Provider: ProviderSecretsManager, Name: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf", Key: "user"}},
		{in: "", wantErr: true},
		{in: "/abs", wantErr: true},
		{in: "has space", wantErr: true},
		{in: "a/../b", wantErr: true},
		{in: "ssm:", wantErr: true},
		{in: "ssm:/x#k", wantErr: true},
		{in: "secretsmanager:db#", wantErr: true},
		{in: "secretsmanager:#key", wantErr: true},
		{in: "vault:secret/x", wantErr: true},
		{in: "local:/abs", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRef(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidRef) {
					t.Fatalf("ParseRef(%q) = %+v, %v; want ErrInvalidRef", tc.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("ParseRef(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			// String round-trips.
			again, err := ParseRef(got.String())
			if err != nil || again != got {
				t.Fatalf("ParseRef(%q.String()=%q) = %+v, %v", tc.in, got.String(), again, err)
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	long := make([]byte, MaxNameLen+1)
	for i := range long {
		long[i] = 'a'
	}
	cases := []struct {
		name string
		ok   bool
	}{
		{"DB_PASSWORD", true},
		{"prod/DB_PASSWORD", true},
		{"prod/team.a/api-key_2", true},
		{string(long[:MaxNameLen]), true},
		{string(long), false},
		{"", false},
		{"/prod/x", false},
		{"prod/", false},
		{"prod//x", false},
		{"prod/../x", false},
		{"./x", false},
		{"a b", false},
		{"a:b", false},
		{"ünïcode", false},
	}
	for _, tc := range cases {
		err := ValidateName(tc.name)
		if tc.ok && err != nil {
			t.Errorf("ValidateName(%q) = %v, want ok", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidName", tc.name, err)
		}
	}
}

func TestScopedName(t *testing.T) {
	if got := ScopedName("prod", "DB_PASSWORD"); got != "prod/DB_PASSWORD" {
		t.Errorf("ScopedName(prod) = %q", got)
	}
	if got := ScopedName("", "DB_PASSWORD"); got != "DB_PASSWORD" {
		t.Errorf("ScopedName(\"\") = %q", got)
	}
}
