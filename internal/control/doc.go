// Package control is the control plane: it records releases, runs deployments, reconciles tasks and serves the API.
package control
