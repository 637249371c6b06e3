// Package drivertest is the conformance suite every driver.Driver runs: Run
// exercises start, environment, exit codes, graceful and forced stop,
// recovery by a fresh driver instance, stale handles and logs against a real
// test HTTP server (./testserver) that BuildTestServer compiles.
//
// It is an ordinary (non-_test) package so each driver's tests can import
// it; nothing outside tests should.
package drivertest
