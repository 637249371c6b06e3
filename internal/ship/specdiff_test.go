package ship

import (
	"slices"
	"testing"

	"github.com/berth-dev/berth/internal/spec"
)

func TestSpecDiff(t *testing.T) {
	two := 2
	base := spec.Service{Name: "a", Run: "x", Env: map[string]string{"LOG_LEVEL": "info", "A": "1"}, Health: &spec.Health{Path: "/health"}}
	tests := []struct {
		name   string
		change func(s *spec.Service)
		want   []string
	}{
		{"same", func(*spec.Service) {}, nil},
		{"env value", func(s *spec.Service) { s.Env = map[string]string{"LOG_LEVEL": "debug", "A": "1"} }, []string{"env.LOG_LEVEL"}},
		{"env added and removed", func(s *spec.Service) { s.Env = map[string]string{"LOG_LEVEL": "info", "B": "2"} }, []string{"env.A", "env.B"}},
		{"nested and top level", func(s *spec.Service) { s.Health = &spec.Health{Path: "/ready"}; s.Count = &two }, []string{"count", "health.path"}},
		{"name is not an input", func(s *spec.Service) { s.Name = "b" }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := base
			tc.change(&b)
			got, err := SpecDiff(&base, &b)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("SpecDiff = %v, want %v", got, tc.want)
			}
		})
	}
}
