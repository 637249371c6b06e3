// Package enginetest is the conformance suite every engine.Engine passes:
// it deploys, reads status and history, follows events, rolls back one
// service and a whole release set, scales, reads logs and takes a project
// down, through the Engine interface only. An engine's test supplies a
// Harness that makes a fresh engine and turns the suite's engine-agnostic
// Service into a release the engine runs (an artifact for the process
// engine, an image for Docker and ECS).
package enginetest
