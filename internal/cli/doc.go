// Package cli holds berth's cobra commands, one file per command; it turns flags into calls on the other packages.
package cli
