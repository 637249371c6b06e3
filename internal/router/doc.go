// Package router is berth's L7 data plane: it routes by host and path prefix to weighted target groups, health-checks and drains targets, and is fed immutable routing snapshots.
//
// Requests go to targets over the router's own HTTP/1.1 client
// (upstream.go, response.go): the handler's goroutine writes the request
// and reads the response over a bounded per-target pool of keep-alive
// connections, with no per-connection reader or writer goroutine.
// Protocol upgrades (websockets) and health checks use net/http's
// Transport (upgrades without keep-alive).
//
// Correct framing comes before speed: an upstream connection is reused
// only when the previous response ended exactly at a message boundary
// with nothing unread waiting (checked on every reuse and before pooling;
// see upstream.finish and upstream.get), responses are framed strictly
// per RFC 9112 §6.3 (response.go), requests are validated and their paths
// normalised before routing (request.go), and a guard follows each
// plain-text client connection to refuse ambiguous request framing
// (guard.go). TestDesyncNeverCrossesResponses and the fuzz targets in
// fuzz_test.go hold it to that.
package router
