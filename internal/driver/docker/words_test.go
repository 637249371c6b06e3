package docker

import (
	"slices"
	"testing"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "serve", want: []string{"serve"}},
		{in: "  serve   --port 80 ", want: []string{"serve", "--port", "80"}},
		{in: `echo 'a b' "c d"`, want: []string{"echo", "a b", "c d"}},
		{in: `say "it's" 'he said "hi"'`, want: []string{"say", "it's", `he said "hi"`}},
		{in: `a\ b c`, want: []string{"a b", "c"}},
		{in: `x ""`, want: []string{"x", ""}},
		{in: `broken 'quote`, wantErr: true},
		{in: `trailing\`, wantErr: true},
	}
	for _, tt := range tests {
		got, err := splitWords(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("splitWords(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("splitWords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
