// Package router is berth's L7 data plane: it routes by host and path prefix to weighted target groups, health-checks and drains targets, and is fed immutable routing snapshots.
package router
