// Package dashboard owns berth's web dashboard: the page and its assets,
// embedded in the binary (no build step, no CDN), served under /ui/, and
// the guard that keeps a browser-facing listener of the API safe from
// other web pages (DNS rebinding, cross-site requests). The page is a
// client of the same HTTP API as the CLI; it has no server-side logic of
// its own.
package dashboard
