package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Fingerprint is a stable hash of what a running task of svc was started
// with: run, image, port, env, config and secret references, health check
// and route. Count, deploy settings, build, dir and shared paths are left
// out: changing them does not make a running task stale. The control plane
// compares it with the fingerprint a task was started under.
func (svc *Service) Fingerprint() string {
	// A struct with fixed field order; encoding/json sorts map keys, so the
	// encoding is canonical.
	runtime := struct {
		Run     string            `json:"run"`
		Image   string            `json:"image"`
		Port    int               `json:"port"`
		Env     map[string]string `json:"env"`
		Config  map[string]string `json:"config"`
		Secrets map[string]string `json:"secrets"`
		Health  *Health           `json:"health"`
		Route   *Route            `json:"route"`
	}{svc.Run, svc.Image, svc.Port, nonNil(svc.Env), nonNil(svc.Config), nonNil(svc.Secrets), svc.Health, svc.Route}
	b, err := json.Marshal(runtime)
	if err != nil {
		panic("spec: fingerprint: " + err.Error()) // only plain strings, ints and durations: cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// nonNil makes an empty map and a nil map hash alike.
func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
