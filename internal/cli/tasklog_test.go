package cli

import "testing"

// The cli tests' binary is not berth: their process tasks write their
// logs directly.
func init() { taskLogWriter = func() []string { return nil } }

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "512K": 512 << 10, "10M": 10 << 20, "1g": 1 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"M", "-1", "0", "10X", "99999999999G"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}
