package spec

import (
	"testing"
	"time"
)

func TestParseHSTS(t *testing.T) {
	day := 24 * time.Hour
	for in, want := range map[string]time.Duration{"1y": 365 * day, "180d": 180 * day, "24h": 24 * time.Hour, " 2y ": 730 * day, "0d": 0} {
		if got, err := ParseHSTS(in); err != nil || got != want {
			t.Errorf("ParseHSTS(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "y", "-1d", "1w", "1.5y", "-3h", "forever"} {
		if _, err := ParseHSTS(in); err == nil {
			t.Errorf("ParseHSTS(%q) accepted", in)
		}
	}
}

// FuzzParseHSTS: any hsts value is a duration that is not negative, or an
// error; never a panic.
func FuzzParseHSTS(f *testing.F) {
	for _, s := range []string{"1y", "180d", "24h", "-1d", "9999999999999y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseHSTS(s)
		if err == nil && d < 0 {
			t.Fatalf("ParseHSTS(%q) = %v, negative", s, d)
		}
	})
}
