package router

import "time"

// Table is an immutable routing snapshot. The control plane builds a new
// Table on every change and hands it to Router.Publish; the router never
// mutates it and the control plane never reaches into router internals.
type Table struct {
	// Version increases with every published table (for logs and metrics).
	Version uint64
	Routes  []Route
}

// Route is one host / path-prefix rule, like an ALB listener rule.
// A request matches when Host (if set) equals the request host (port
// ignored, case-insensitive) and PathPrefix (if set) matches on a segment
// boundary ("/api" matches "/api" and "/api/x", never "/apiary").
// Among matching routes the highest Priority wins, then the longest prefix,
// then a host rule over a path-only rule. A Default route matches anything
// no other route matched.
type Route struct {
	Name        string // usually the service name
	Host        string
	PathPrefix  string
	Priority    int
	Default     bool
	StripPrefix bool
	// Groups are weighted target groups (one per release during a canary or
	// blue/green; one in the steady state). Weights are relative; a group of
	// weight 0 receives no traffic unless it is the only group with targets.
	Groups []TargetGroup
	// Preview groups receive requests carrying the header
	// "X-Berth-Preview: 1" (blue/green pre-traffic checks). Optional.
	Preview []TargetGroup
	// Health is how the router actively checks this route's targets.
	Health HealthCheck
	// Sticky keeps a client on one group (one release) while the route
	// has several, e.g. during a canary. Optional.
	Sticky Sticky
}

// Sticky names what identifies a client. With Cookie set, a client
// without that cookie gets one (a random id; Path=/; HttpOnly;
// SameSite=Lax) on its first response; with Header set, requests without
// the header are spread by weight as usual. Cookie wins when both are
// set (the spec allows only one). A client's place is a hash of the value, laid over the groups
// newest release first, so a canary that grows keeps the clients it had.
type Sticky struct {
	Cookie string
	Header string
}

// TargetGroup is a weighted set of targets, usually the tasks of one release.
type TargetGroup struct {
	Name    string // e.g. "catalog@7"
	Release int
	Weight  int
	Targets []Target
}

// Target is one backend address (a task).
type Target struct {
	ID   string // task id
	Addr string // host:port on loopback
}

// HealthCheck configures active health checking of targets.
// A zero Path disables active checks (passive ejection still applies).
type HealthCheck struct {
	Path               string
	Interval           time.Duration
	Timeout            time.Duration
	HealthyThreshold   int
	UnhealthyThreshold int
}
