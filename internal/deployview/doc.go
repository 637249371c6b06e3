// Package deployview is the state of a deploy's live view: one row per
// service with its phase, elapsed time, a progress fraction and what it is
// waiting for, built from the CLI's stages and the control plane's events.
// It is pure (the caller passes the time); the terminal renderer in
// internal/cli only draws its rows.
package deployview
