// Package routerproc runs berth's router (the data plane) as a process of
// its own, so that traffic outlives the control plane: the control plane
// configures it over a unix control socket (immutable routing-table
// snapshots in; signals, drain waits and metrics out), and a crashed,
// restarted or upgraded control plane finds the running router and takes
// it over without dropping a request.
//
// Server is the router process's side (`berth router`); Client is the
// control plane's; Spawn starts a detached router process on listeners the
// caller bound.
package routerproc
