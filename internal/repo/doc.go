// Package repo owns berth's view of git: the current commit, whether the
// work tree is dirty, which services a deploy must touch (the plan) and
// content digests of each service's build inputs.
//
// It shells out to the git binary; git.go is the one place that starts a
// process. Every query is batched so that a plan over any number of
// services costs a small, constant number of git invocations: one to
// resolve revisions, then one ancestry check and one tree diff per distinct
// base commit (usually one), then one lookup of the services' directories.
package repo
