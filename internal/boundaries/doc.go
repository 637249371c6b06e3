// Package boundaries holds berth's import rules — which packages may depend
// on which — as a test that `go test ./...` (and so CI) runs: the deploy
// decisions do no I/O, the API types import nothing of berth, the spec
// reads only its file.
package boundaries
