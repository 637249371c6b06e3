package secrets

import (
	"fmt"
	"strings"
)

// Providers a Ref can name.
const (
	ProviderLocal          = "local"          // berth's encrypted store
	ProviderSSM            = "ssm"            // AWS Systems Manager Parameter Store
	ProviderSecretsManager = "secretsmanager" // AWS Secrets Manager
)

// Ref is a parsed secret reference from the spec (`secrets: {VAR: ref}`).
type Ref struct {
	Provider string // ProviderLocal, ProviderSSM or ProviderSecretsManager
	Name     string // local: unscoped secret name; ssm: parameter name or ARN; secretsmanager: secret id or ARN
	Key      string // secretsmanager only: JSON key after '#', "" for the whole secret
}

// String returns the reference in the form ParseRef reads.
func (r Ref) String() string {
	switch r.Provider {
	case ProviderSSM:
		return ProviderSSM + ":" + r.Name
	case ProviderSecretsManager:
		if r.Key != "" {
			return ProviderSecretsManager + ":" + r.Name + "#" + r.Key
		}
		return ProviderSecretsManager + ":" + r.Name
	default:
		return r.Name
	}
}

// ParseRef parses a secret reference:
//
//	db-password                     local secret (scoped by environment when resolved)
//	local:db-password               the same, explicitly
//	ssm:/prod/db/password           SSM parameter (name or ARN)
//	secretsmanager:prod/db#password Secrets Manager secret (id or ARN), optional JSON key
func ParseRef(ref string) (Ref, error) {
	bad := func(why string) (Ref, error) {
		return Ref{}, fmt.Errorf("%w %q: %s (use a name, ssm:/path or secretsmanager:name#key)", ErrInvalidRef, ref, why)
	}
	if ref == "" {
		return bad("empty")
	}
	if strings.ContainsAny(ref, " \t\r\n") {
		return bad("contains whitespace")
	}
	provider, rest, found := strings.Cut(ref, ":")
	if !found {
		if err := ValidateName(ref); err != nil {
			return Ref{}, fmt.Errorf("%w %q: %w", ErrInvalidRef, ref, err)
		}
		return Ref{Provider: ProviderLocal, Name: ref}, nil
	}
	if rest == "" {
		return bad("nothing after " + provider + ":")
	}
	switch provider {
	case ProviderLocal:
		if err := ValidateName(rest); err != nil {
			return Ref{}, fmt.Errorf("%w %q: %w", ErrInvalidRef, ref, err)
		}
		return Ref{Provider: ProviderLocal, Name: rest}, nil
	case ProviderSSM:
		if strings.Contains(rest, "#") {
			return bad("ssm parameters have no #key")
		}
		return Ref{Provider: ProviderSSM, Name: rest}, nil
	case ProviderSecretsManager:
		name, key := rest, ""
		if i := strings.LastIndex(rest, "#"); i >= 0 {
			name, key = rest[:i], rest[i+1:]
			if key == "" {
				return bad("empty key after #")
			}
		}
		if name == "" {
			return bad("empty secret name")
		}
		return Ref{Provider: ProviderSecretsManager, Name: name, Key: key}, nil
	default:
		return bad(fmt.Sprintf("unknown provider %q", provider))
	}
}
