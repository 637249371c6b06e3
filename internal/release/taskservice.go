package release

import (
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/spec"
)

// taskService is s as its tasks run it: with <DEP>_URL for its
// depends_on (dependencyURLs) and its bind mounts' host paths made
// absolute against the project root (a release of an image carries no
// root).
func taskService(sp *spec.Spec, s *spec.Service) *spec.Service {
	s = dependencyURLs(sp, s)
	if !slices.ContainsFunc(s.Volumes, func(v spec.Volume) bool { return v.Bind && !filepath.IsAbs(v.Source) }) {
		return s
	}
	c := *s
	c.Volumes = slices.Clone(s.Volumes)
	for i, v := range c.Volumes {
		if v.Bind && !filepath.IsAbs(v.Source) {
			c.Volumes[i].Source = filepath.Join(sp.Root, v.Source)
		}
	}
	return &c
}

// dependencyURLs returns s with <DEP>_URL in its env for each service of
// its depends_on, unless the spec sets that variable itself:
//
//   - a dependency with a route path is reached through the router,
//     ${BERTH_ROUTER_URL}<path> (expanded when the task starts), so
//     deploys and canaries of the dependency apply to its callers;
//   - an image service without a route (a database) at its loopback
//     address, tcp://127.0.0.1:<port> (its first published port, else
//     its own port), as containers share the host's loopback.
//
// A dependency reachable neither way (a worker, or a route by host only)
// gets no variable. The name is the service's in upper case with '-' as
// '_': depends_on: [user-api] gives USER_API_URL.
func dependencyURLs(sp *spec.Spec, s *spec.Service) *spec.Service {
	if len(s.DependsOn) == 0 {
		return s
	}
	c := *s
	c.Env = maps.Clone(s.Env)
	if c.Env == nil {
		c.Env = map[string]string{}
	}
	for _, name := range s.DependsOn {
		key := dependencyVar(name)
		if _, set := c.Env[key]; set {
			continue
		}
		if url := dependencyURL(sp.Services[name]); url != "" {
			c.Env[key] = url
		}
	}
	if len(c.Env) == 0 {
		c.Env = nil
	}
	return &c
}

// dependencyVar is the variable holding the address of service name.
func dependencyVar(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_URL"
}

func dependencyURL(dep *spec.Service) string {
	switch {
	case dep == nil:
		return ""
	case dep.Route != nil && dep.Route.Path != "":
		return "${BERTH_ROUTER_URL}" + strings.TrimSuffix(dep.Route.Path, "/")
	case dep.Image != "" && dep.Build == nil && len(dep.Ports) > 0:
		p := dep.Ports[0]
		host := p.Host
		if host == 0 {
			host = p.Container
		}
		return "tcp://127.0.0.1:" + strconv.Itoa(host)
	case dep.Image != "" && dep.Build == nil:
		port := dep.Port
		if port == 0 {
			port = spec.DefaultPort
		}
		return "tcp://127.0.0.1:" + strconv.Itoa(port)
	}
	return ""
}
