package cli

import (
	"os"
	"testing"
)

// TestMain lets this test binary stand in for berth when a test runs
// `berth up` or `berth serve` in-process: the control plane starts its
// router process by running its own executable as `router --state DIR`,
// which here is the test binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "router" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
