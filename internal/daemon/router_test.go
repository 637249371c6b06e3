package daemon

import "testing"

func TestSameAddr(t *testing.T) {
	for _, c := range []struct {
		have, want string
		same       bool
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080", true},
		{"127.0.0.1:8080", "localhost:8080", true},
		{"127.0.0.1:8080", ":8080", false},
		{"[::]:8080", ":8080", true},
		{"0.0.0.0:8080", "127.0.0.1:8080", false},
		{"127.0.0.1:8080", "0.0.0.0:8080", false},
		{"[::]:8080", "0.0.0.0:8080", true},
		{"127.0.0.1:8080", "127.0.0.1:0", true},
		{"127.0.0.1:8080", "127.0.0.1:8081", false},
		{"127.0.0.1:8080", "127.0.0.2:8080", false},
		{"127.0.0.1:8080", "not an address", false},
	} {
		if got := sameAddr(c.have, c.want); got != c.same {
			t.Errorf("sameAddr(%q, %q) = %v, want %v", c.have, c.want, got, c.same)
		}
	}
}
