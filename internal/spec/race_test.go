//go:build race

package spec

// raceSlowdown: the race detector slows code 5-10x, so wall-time bounds
// are scaled by raceSlowdown.
const raceSlowdown = 8
