// Package release owns the configuration a release carries: the resolved
// service spec a control plane (or any engine) runs, how it is encoded for
// the API and the store, how it is checked before anything acts on it, and
// its fingerprint (what makes two releases the same).
//
// The CLI builds a Config from the loaded spec (ForArtifact or ForImage),
// the control plane decodes and validates every Config it receives, and
// tests and benchmarks build theirs the same way.
package release
