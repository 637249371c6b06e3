// Package certs owns berth's TLS certificates: a local certificate
// authority kept in the state directory (for names no public CA will
// certify, such as localhost, *.localhost and IP addresses, and for the
// control plane's TCP API), certificates obtained and renewed through ACME
// (certmagic, HTTP-01 and TLS-ALPN-01) for every routed host, and
// certificates from the user's own files, reloaded when the files change.
//
// A Manager answers tls.Config.GetCertificate from whichever of these
// covers the name a client asks for, so a renewed or reloaded certificate
// is served on the next handshake without a restart or a dropped
// connection. All its files are written with mode 0600.
package certs
