package ship

import (
	"encoding/json"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/release"
	"github.com/berth-dev/berth/internal/spec"
)

// encodeRelease is the release config c as the API carries it, with its
// fingerprint.
func encodeRelease(c release.Config) (json.RawMessage, string, error) {
	raw, err := c.Encode()
	if err != nil {
		return nil, "", err
	}
	fp, err := c.Fingerprint()
	if err != nil {
		return nil, "", err
	}
	return raw, fp, nil
}

// ImageRelease is the release of service s running image, an image that
// already exists in a registry (promotion between environments: nothing
// is built).
func ImageRelease(sp *spec.Spec, s *spec.Service, commit, image string) (api.ReleaseSpec, error) {
	cfg, fp, err := encodeRelease(release.ForImage(sp, s))
	if err != nil {
		return api.ReleaseSpec{}, err
	}
	return api.ReleaseSpec{Service: s.Name, Commit: commit, Image: image, ArtifactDigest: image, Config: cfg, Fingerprint: fp}, nil
}
