// Package spec owns berth.yaml: its model, defaults, validation with file:line errors, and its JSON Schema.
package spec
