package ship

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/spec"
)

// releaseConfig is the JSON a release stores: the project root and the
// resolved service, plus a fingerprint of both.
func releaseConfig(sp *spec.Spec, s *spec.Service) (json.RawMessage, string, error) {
	// releaseDoc matches the control plane's release config.
	type releaseDoc struct {
		Root    string        `json:"root"`
		Service *spec.Service `json:"service"`
		Notify  []spec.Notify `json:"notify,omitempty"`
	}
	raw, err := json.Marshal(releaseDoc{sp.Root, s, sp.Notify})
	if err != nil {
		return nil, "", fmt.Errorf("encode config of %s: %w", s.Name, err)
	}
	// The fingerprint leaves out the count (scaling is not a new release)
	// and the webhooks.
	c := *s
	c.Count = nil
	fpRaw, err := json.Marshal(releaseDoc{Root: sp.Root, Service: &c})
	if err != nil {
		return nil, "", fmt.Errorf("encode config of %s: %w", s.Name, err)
	}
	sum := sha256.Sum256(fpRaw)
	return raw, hex.EncodeToString(sum[:]), nil
}

// containerService is s as a container runs it: a service built from a
// command runs the image's entrypoint (the binary), not its process-engine
// run: line, and listens on the default port unless it names one.
func containerService(s *spec.Service) *spec.Service {
	c := *s
	if c.Build != nil && !c.Build.Docker() && c.Image == "" {
		c.Run = ""
	}
	if c.Port == 0 {
		c.Port = spec.DefaultPort
	}
	return &c
}

// ImageRelease is the release of service s running image, an image that
// already exists in a registry (promotion between environments: nothing
// is built).
func ImageRelease(sp *spec.Spec, s *spec.Service, commit, image string) (api.ReleaseSpec, error) {
	cfg, fp, err := releaseConfig(sp, containerService(s))
	if err != nil {
		return api.ReleaseSpec{}, err
	}
	return api.ReleaseSpec{Service: s.Name, Commit: commit, Image: image, ArtifactDigest: image, Config: cfg, Fingerprint: fp}, nil
}
