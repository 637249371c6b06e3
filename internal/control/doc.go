// Package control is the control plane: it records releases, runs deployments, reconciles tasks, autoscales services and serves the API.
package control
