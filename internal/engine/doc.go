// Package engine defines Engine, the one interface the CLI uses to run a project's services somewhere.
package engine
