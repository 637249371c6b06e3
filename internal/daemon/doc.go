// Package daemon is the composition root of berth's control plane, as
// `berth serve` and `berth up` run it: it opens the state directory, picks
// the task driver, starts or adopts the router process (the data plane,
// see internal/routerproc), recovers the control plane and serves its API.
//
// The control plane and the data plane are separate processes: the
// router keeps serving its last routing table while the control plane is
// down, and a restarted control plane re-adopts it and the tasks. Detach
// ends the control plane alone (a restart of `berth serve`); Stop ends
// everything (`berth down`, Ctrl-C of `berth up`).
package daemon
