// Package repo owns berth's view of git: the current commit, service discovery and change detection for plans.
package repo
