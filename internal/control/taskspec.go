package control

import (
	"path/filepath"

	"github.com/berth-dev/berth/internal/driver"
	"github.com/berth-dev/berth/internal/spec"
)

// containerNetworking fills in how a container task is networked and what
// it mounts (the process driver ignores all of it). Containers join the
// host's network namespace, so they reach the router and each other on
// loopback like process tasks; a service built by berth listens on the
// $PORT the driver picks, an image service (image: without build:, such
// as postgres) on its own port. A service publishing ports: keeps its own
// namespace with those ports on 127.0.0.1. Relative bind mounts are
// against the project root.
func containerNetworking(ts *driver.TaskSpec, root string, cfg *spec.Service) {
	ts.HostNetwork = true
	ts.FixedPort = cfg.Image != "" && cfg.Build == nil
	for _, p := range cfg.Ports {
		ts.Ports = append(ts.Ports, driver.Port{Host: p.Host, Container: p.Container, Protocol: p.Protocol})
	}
	for _, v := range cfg.Volumes {
		src := v.Source
		if v.Bind && !filepath.IsAbs(src) {
			src = filepath.Join(root, src)
		}
		ts.Volumes = append(ts.Volumes, driver.Volume{Source: src, Target: v.Target, ReadOnly: v.ReadOnly, Bind: v.Bind})
	}
}
