// Package timeline turns what a deployment left behind — the phases its
// client timed (plan, build, push), its record and its events — into the
// phases of its timeline with their durations, the slowest of them and
// the setting that governs each. It is pure: no I/O, no clock.
package timeline
