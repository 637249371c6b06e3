package ship

import (
	"encoding/json"

	"github.com/berth-dev/berth/internal/release"
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
