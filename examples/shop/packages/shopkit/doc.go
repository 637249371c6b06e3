// Package shopkit is the scaffolding every service of the example shop shares:
// it listens on $PORT, serves /health and /version, logs JSON with log/slog,
// shuts down gracefully on SIGTERM (finishing in-flight requests, the property
// zero-downtime deploys rely on) and offers fault knobs (CHAOS_*) and a debug
// endpoint (SHOP_DEBUG_ENV) so berth's deploy, rollback and secrets features
// can be exercised against real programs.
//
// A service's own routes are registered relative to its prefix ("/items" for
// catalog) and are served both under the prefix ("/catalog/items", as an ALB
// or berth's router passes paths by default) and at the root ("/items", for
// a router that strips the prefix or a host-only route).
package shopkit
