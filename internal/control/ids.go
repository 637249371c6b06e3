package control

import (
	"fmt"
	"github.com/berth-dev/berth/internal/spec"
	"strconv"
	"strings"
)

// The API shows deployment and event IDs as opaque strings: a prefix and
// the store's key in base 36. Clients compare and pass them back; only the
// control plane reads them, so the store's keys can change without
// breaking a client.
const (
	deploymentPrefix = "d"
	eventPrefix      = "e"
)

func deploymentID(id int64) string { return opaqueID(deploymentPrefix, id) }

func eventID(id int64) string { return opaqueID(eventPrefix, id) }

func opaqueID(prefix string, id int64) string {
	if id <= 0 {
		return ""
	}
	return prefix + strconv.FormatInt(id, 36)
}

// parseDeploymentID reads an ID deploymentID made.
func parseDeploymentID(s string) (int64, error) {
	return parseOpaque(deploymentPrefix, "deployment", s)
}

// parseEventID reads an ID eventID made.
func parseEventID(s string) (int64, error) { return parseOpaque(eventPrefix, "event", s) }

func parseOpaque(prefix, what, s string) (int64, error) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || rest == "" || len(rest) > 13 {
		return 0, fmt.Errorf("%w: %q is not a %s id", ErrBadRequest, s, what)
	}
	n, err := strconv.ParseInt(rest, 36, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 36) != rest {
		return 0, fmt.Errorf("%w: %q is not a %s id", ErrBadRequest, s, what)
	}
	return n, nil
}

// validName reports whether name can be a service's name.
func validName(name string) bool { return spec.ValidServiceName(name) }
