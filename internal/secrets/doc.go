// Package secrets keeps secrets encrypted at rest, versioned, and resolves references for injection into tasks.
package secrets
