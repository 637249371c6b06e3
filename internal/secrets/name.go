package secrets

import (
	"fmt"
	"strings"
)

// MaxNameLen is the longest secret name accepted, environment prefix included.
const MaxNameLen = 200

// ScopedName returns the name a secret has in the store for an environment:
// ScopedName("prod", "DB_PASSWORD") is "prod/DB_PASSWORD". An empty env
// returns name unchanged.
func ScopedName(env, name string) string {
	if env == "" {
		return name
	}
	return env + "/" + name
}

// ValidateName checks a (scoped) secret name: letters, digits and _-./, no
// leading or trailing slash, no empty, "." or ".." segment, at most
// MaxNameLen characters.
func ValidateName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s (use letters, digits and _-./, no leading slash, at most %d characters)",
			ErrInvalidName, name, why, MaxNameLen)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxNameLen:
		return bad(fmt.Sprintf("%d characters long", len(name)))
	case strings.HasPrefix(name, "/"):
		return bad("leading slash")
	case strings.HasSuffix(name, "/"):
		return bad("trailing slash")
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '_' || r == '-' || r == '.' || r == '/'
		if !ok {
			return bad(fmt.Sprintf("character %q not allowed", r))
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return bad(fmt.Sprintf("path segment %q not allowed", seg))
		}
	}
	return nil
}
