package ship

import "fmt"

// InputError is a problem with what the user asked for (a service name, a
// dirty work tree, a path outside the repository): the CLI exits 2 on it.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputErr(format string, a ...any) error {
	return &InputError{Err: fmt.Errorf(format, a...)}
}
