//go:build !race

package spec

// raceSlowdown scales wall-time bounds; 1 without the race detector.
const raceSlowdown = 1
