package spec

import "slices"

// BuiltinHealth returns the health check a service gets when neither it
// nor defaults: set one (docs/spec.md lists the values).
func BuiltinHealth() *Health { return builtinHealth() }

// BuiltinDeploy returns the deployment settings a service gets when
// neither it nor defaults: set them.
func BuiltinDeploy() *Deploy { return builtinDeploy() }

// ValidServiceName reports whether name is a service name the spec
// accepts: lower-case letters, digits and dashes, starting with a letter.
func ValidServiceName(name string) bool { return serviceName.MatchString(name) }

// ValidStrategy reports whether s names a deployment strategy.
func ValidStrategy(s string) bool { return slices.Contains(strategies, s) }

// ValidEnvName reports whether name can be an environment variable's name.
func ValidEnvName(name string) bool { return envName.MatchString(name) }
