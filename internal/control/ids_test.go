package control

import (
	"errors"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/store"
)

func TestOpaqueIDsRoundTrip(t *testing.T) {
	for _, n := range []int64{1, 35, 36, 1 << 40, 1<<63 - 1} {
		got, err := parseDeploymentID(deploymentID(n))
		if err != nil || got != n {
			t.Fatalf("deployment %d: %q -> %d, %v", n, deploymentID(n), got, err)
		}
		got, err = parseEventID(eventID(n))
		if err != nil || got != n {
			t.Fatalf("event %d: %q -> %d, %v", n, eventID(n), got, err)
		}
	}
	for _, bad := range []string{"", "d", "12", "e1", "d-1", "d0", "dzzzzzzzzzzzzzzz", "d01", "d../x", "D1"} {
		if _, err := parseDeploymentID(bad); !errors.Is(err, ErrBadRequest) {
			t.Errorf("parseDeploymentID(%q) = %v, want a bad request", bad, err)
		}
	}
}

func TestStateNamesAreTheAPIConstants(t *testing.T) {
	for st, want := range map[string]string{
		store.DeployRunning: api.DeployRunning, store.DeploySucceeded: api.DeploySucceeded,
		store.DeployRolledBack: api.DeployRolledBack, store.DeployFailed: api.DeployFailed,
	} {
		if got := apiDeployment(store.Deployment{ID: 1, State: st}).State; got != want {
			t.Errorf("store state %q shows as %q, want %q", st, got, want)
		}
	}
}

func FuzzParseDeploymentID(f *testing.F) {
	f.Add("d1")
	f.Add("dzz")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseDeploymentID(s)
		if err == nil && deploymentID(n) != s {
			t.Fatalf("%q parsed as %d, which prints as %q", s, n, deploymentID(n))
		}
	})
}
