package build

import "testing"

func TestPlatformArch(t *testing.T) {
	for _, tc := range []struct{ platform, def, want string }{
		{"", "amd64", "amd64"},
		{"linux/arm64", "amd64", "arm64"},
		{"linux/arm/v7", "amd64", "arm"},
		{"linux", "amd64", "amd64"},
	} {
		if got := platformArch(tc.platform, tc.def); got != tc.want {
			t.Errorf("platformArch(%q, %q) = %q, want %q", tc.platform, tc.def, got, tc.want)
		}
	}
}
