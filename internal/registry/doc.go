// Package registry serves a small OCI distribution registry on loopback,
// for `berth registry --listen ADDR` and for tests that push and pull images
// without the internet. It wraps go-containerregistry's pkg/registry.
package registry
