// Package local implements engine.Engine as a client of berth's control plane HTTP API.
package local
