package local_test

import (
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/driver/drivertest"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/engine/enginetest"
	"github.com/berth-dev/berth/internal/engine/local/localtest"
	"github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/spec"
)

// TestConformance runs the engine conformance suite against the local
// engine: a real control plane with the process driver, over its API.
func TestConformance(t *testing.T) {
	bin := drivertest.BuildTestServer(t)
	root := t.TempDir()
	enginetest.Run(t, enginetest.Harness{
		New: func(t *testing.T) engine.Engine { return localtest.Start(t, "conformance", "").Client() },
		Release: func(t *testing.T, s enginetest.Service, commit string) api.ReleaseSpec {
			cfg := release.ForArtifact(&spec.Spec{Root: root}, enginetest.Resolved(s))
			raw, err := cfg.Encode()
			if err != nil {
				t.Fatal(err)
			}
			fp, err := cfg.Fingerprint()
			if err != nil {
				t.Fatal(err)
			}
			// One artifact for every version: the release differs by its
			// config (VERSION), as a rebuild with a new setting would.
			return api.ReleaseSpec{Service: s.Name, Commit: commit, Artifact: bin, ArtifactDigest: "testserver", Config: raw, Fingerprint: fp}
		},
	})
}
