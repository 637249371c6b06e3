// Package e2e holds berth's end-to-end tests: they build the berth binary
// and drive it as a user would, against real processes, real HTTP on
// loopback and real git repositories in temporary directories.
package e2e
