// Package store persists berth's state in SQLite: services, releases, deployments, tasks, events, release sets and encrypted secrets.
package store
