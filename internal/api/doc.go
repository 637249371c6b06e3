// Package api holds the versioned JSON types of berth's HTTP API, shared by the server and its clients. It imports no berth internals.
package api
