package ship

import (
	"testing"

	"github.com/berth-dev/berth/internal/spec"
)

// TestContainerService checks that a command-built service runs its
// image's entrypoint on the default port in a container.
func TestContainerService(t *testing.T) {
	cmdBuilt := spec.Service{Name: "a", Run: "$BERTH_ARTIFACT", Build: &spec.Build{Command: "go build -o $BERTH_ARTIFACT ."}}
	if c := containerService(&cmdBuilt); c.Run != "" || c.Port != spec.DefaultPort {
		t.Errorf("command-built service in a container: run %q port %d, want no run and port %d", c.Run, c.Port, spec.DefaultPort)
	}
	if cmdBuilt.Run == "" {
		t.Error("containerService changed its argument")
	}
	docker := spec.Service{Name: "a", Run: "/app --flag", Build: &spec.Build{Context: "."}}
	if c := containerService(&docker); c.Run != "/app --flag" {
		t.Errorf("docker-built service: run %q, want the command override kept", c.Run)
	}
}
