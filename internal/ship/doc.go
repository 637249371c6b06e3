// Package ship owns the deploy flow every engine shares: it decides which
// services a commit changes (the plan), builds what the engine runs
// (artifacts or images, as the engine's BuildTarget says), pushes images
// where the engine pulls them from, submits one release per service to
// the engine as one release set, and follows the deployments to their end.
//
// The CLI parses flags and renders; everything between the spec and the
// engine happens here, the same way for the local engines and ECS.
package ship
