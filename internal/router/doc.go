// Package router is berth's L7 data plane: it routes by host and path prefix to weighted target groups, health-checks and drains targets, and is fed immutable routing snapshots.
//
// Requests go to targets over the router's own HTTP/1.1 client
// (upstream.go, response.go): the handler's goroutine writes the request
// and reads the response over a bounded per-target pool of keep-alive
// connections, with no per-connection reader or writer goroutine.
// Protocol upgrades (websockets) and health checks use net/http's
// Transport.
package router
