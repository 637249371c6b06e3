package secrets

import (
	"fmt"
	"io"
	"log/slog"
)

// redacted is what a Value prints as.
const redacted = "[redacted]"

// Value is a secret's plaintext. It prints as "[redacted]" with every fmt
// verb, in slog and in JSON, so it cannot leak by accident; use string(v) or
// []byte(v) where the plaintext is really needed.
type Value []byte

// String returns "[redacted]".
func (Value) String() string { return redacted }

// GoString returns "[redacted]".
func (Value) GoString() string { return redacted }

// Format prints "[redacted]" for every verb (%s, %v, %q, %x, %d, ...).
func (Value) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue keeps the plaintext out of slog output.
func (Value) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON encodes "[redacted]"; send []byte(v) to transmit the value.
func (Value) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "[redacted]", for encoders that use text marshalling.
func (Value) MarshalText() ([]byte, error) { return []byte(redacted), nil }
