package spec

import (
	"errors"
	"fmt"
	"net"
	"path"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Defaults of the keys in this file; docs/spec.md lists them.
const (
	// DefaultMaxCount is the most tasks a service may run unless the spec
	// sets max_count.
	DefaultMaxCount = 100
	// DefaultHealMaxRestarts and DefaultHealWindow are the self-healing
	// budget: 5 restarts of a service's tasks in 10 minutes.
	DefaultHealMaxRestarts = 5
	DefaultHealWindow      = Duration(10 * 60e9)
	// DefaultUpCooldown and DefaultDownCooldown space autoscaling steps:
	// out fast, in slowly.
	DefaultUpCooldown   = Duration(30e9)
	DefaultDownCooldown = Duration(5 * 60e9)
	// maxMaxCount bounds max_count itself.
	maxMaxCount = 10_000
)

// Kind says which check h is: HealthHTTP, HealthTCP, HealthCommand or
// HealthNone. A nil Health is HealthNone.
func (h *Health) Kind() string {
	switch {
	case h == nil || h.None:
		return HealthNone
	case h.TCP:
		return HealthTCP
	case len(h.Command) > 0:
		return HealthCommand
	}
	return HealthHTTP
}

// Metric names the one metric t tracks (MetricCPU, MetricMemory,
// MetricRPSPerTask or MetricP99), or "" when none is set.
func (t *ScaleTarget) Metric() string {
	if t == nil {
		return ""
	}
	switch {
	case t.CPU > 0:
		return MetricCPU
	case t.Memory > 0:
		return MetricMemory
	case t.RPSPerTask > 0:
		return MetricRPSPerTask
	case t.P99 > 0:
		return MetricP99
	}
	return ""
}

// metricsOrNil lists every metric t sets (more than one is invalid); nil
// for a nil t.
func (t *ScaleTarget) metricsOrNil() []string {
	if t == nil {
		return nil
	}
	var out []string
	if t.CPU > 0 {
		out = append(out, MetricCPU)
	}
	if t.Memory > 0 {
		out = append(out, MetricMemory)
	}
	if t.RPSPerTask > 0 {
		out = append(out, MetricRPSPerTask)
	}
	if t.P99 > 0 {
		out = append(out, MetricP99)
	}
	return out
}

// MinCount is the scale's minimum (1 when min is not set).
func (s *Scale) MinCount() int {
	if s == nil || s.Min == nil {
		return 1
	}
	return *s.Min
}

// volumeName is a docker volume name.
var volumeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// String formats v as written in berth.yaml.
func (v Volume) String() string {
	s := v.Source + ":" + v.Target
	if v.ReadOnly {
		s += ":ro"
	}
	return s
}

// ParseVolume reads a mount: "name:/target", "./dir:/target" or
// "/dir:/target", optionally followed by ":ro" or ":rw".
func ParseVolume(s string) (Volume, error) {
	const how = "write name:/path for a named volume or ./dir:/path for a bind mount, optionally with :ro"
	parts := strings.Split(strings.TrimSpace(s), ":")
	var v Volume
	switch len(parts) {
	case 2:
	case 3:
		switch parts[2] {
		case "ro":
			v.ReadOnly = true
		case "rw":
		default:
			return Volume{}, fmt.Errorf("invalid volume %q: mode %q is not ro or rw (%s)", s, parts[2], how)
		}
	default:
		return Volume{}, fmt.Errorf("invalid volume %q (%s)", s, how)
	}
	v.Source, v.Target = parts[0], parts[1]
	switch {
	case v.Source == "":
		return Volume{}, fmt.Errorf("invalid volume %q: no source (%s)", s, how)
	case strings.HasPrefix(v.Source, ".") || strings.HasPrefix(v.Source, "/"):
		v.Bind = true
	case !volumeName.MatchString(v.Source):
		return Volume{}, fmt.Errorf("invalid volume name %q (letters, digits, '_', '.', '-'; start a bind mount with ./ or /)", v.Source)
	}
	if !strings.HasPrefix(v.Target, "/") || path.Clean(v.Target) == "/" {
		return Volume{}, fmt.Errorf("volume target %q must be an absolute path in the container other than /", v.Target)
	}
	return v, nil
}

// String formats p as written in berth.yaml.
func (p PortMapping) String() string {
	s := strconv.Itoa(p.Container)
	if p.Host != 0 {
		s = strconv.Itoa(p.Host) + ":" + s
	}
	if p.Protocol != "" && p.Protocol != "tcp" {
		s += "/" + p.Protocol
	}
	return s
}

// HostPort is the loopback port p is published on.
func (p PortMapping) HostPort() int {
	if p.Host != 0 {
		return p.Host
	}
	return p.Container
}

// ParsePortMapping reads a published port: "5432", "15432:5432" or
// "127.0.0.1:15432:5432", optionally with "/tcp" or "/udp". Ports are only
// ever published on loopback, so a host address must be a loopback one.
func ParsePortMapping(s string) (PortMapping, error) {
	const how = "write CONTAINER_PORT or HOST_PORT:CONTAINER_PORT, e.g. 5432 or 15432:5432"
	spec, proto, hasProto := strings.Cut(strings.TrimSpace(s), "/")
	p := PortMapping{Protocol: "tcp"}
	if hasProto {
		if proto != "tcp" && proto != "udp" {
			return PortMapping{}, fmt.Errorf("invalid port %q: protocol %q is not tcp or udp", s, proto)
		}
		p.Protocol = proto
	}
	var host, container string
	hasHost := true
	switch parts := strings.Split(spec, ":"); len(parts) {
	case 1:
		container, hasHost = parts[0], false
	case 2:
		host, container = parts[0], parts[1]
	default:
		// An IP first: 127.0.0.1:15432:5432 or [::1]:15432:5432.
		i := strings.LastIndex(spec, ":")
		j := strings.LastIndex(spec[:i], ":")
		ip := strings.Trim(spec[:j], "[]")
		if a := net.ParseIP(ip); a == nil || !a.IsLoopback() {
			return PortMapping{}, fmt.Errorf("invalid port %q: berth publishes ports on loopback only, so the host address must be 127.0.0.1 (or leave it out)", s)
		}
		host, container = spec[j+1:i], spec[i+1:]
	}
	num := func(x string) (int, error) {
		n, err := strconv.Atoi(x)
		if err != nil || n < 1 || n > 65535 {
			return 0, fmt.Errorf("invalid port %q: %q is not a port from 1 to 65535 (%s)", s, x, how)
		}
		return n, nil
	}
	var err error
	if p.Container, err = num(container); err != nil {
		return PortMapping{}, err
	}
	if hasHost {
		if p.Host, err = num(host); err != nil {
			return PortMapping{}, err
		}
	}
	return p, nil
}

// ErrNeedsDocker matches the error of CheckEngine: a service uses keys only
// the docker engine runs.
var ErrNeedsDocker = errors.New("needs the docker engine")

// DockerOnlyKeys lists the keys of s that only the docker engine can run
// (image, volumes, ports), in that order.
func (s *Service) DockerOnlyKeys() []string {
	var keys []string
	if s.Image != "" {
		keys = append(keys, "image")
	}
	if len(s.Volumes) > 0 {
		keys = append(keys, "volumes")
	}
	if len(s.Ports) > 0 {
		keys = append(keys, "ports")
	}
	return keys
}

// CheckEngine reports, for the engine a spec actually runs on (after
// auto was resolved), every one of svcs (all services when nil) it cannot
// run: under the process engine, services with image, volumes or ports.
// The error matches ErrNeedsDocker and names each service with its line.
func (s *Spec) CheckEngine(engine string, svcs []*Service) error {
	if engine != "process" {
		return nil
	}
	if svcs == nil {
		for _, name := range sortedNames(s.Services) {
			svcs = append(svcs, s.Services[name])
		}
	}
	var bad []string
	for _, svc := range svcs {
		name := svc.Name
		if keys := svc.DockerOnlyKeys(); len(keys) > 0 {
			bad = append(bad, fmt.Sprintf("%s:%d: service %s: %s", s.Path, svc.Line, name, strings.Join(keys, ", ")))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("the process engine cannot run image services, volumes or ports:\n  %s\n  run with --engine docker (a Docker engine must answer), or remove those keys: %w",
		strings.Join(bad, "\n  "), ErrNeedsDocker)
}

// MarshalYAML writes v as "source:target[:ro]".
func (v Volume) MarshalYAML() (any, error) { return v.String(), nil }

// UnmarshalYAML reads "source:target[:ro]".
func (v *Volume) UnmarshalYAML(n *yaml.Node) error {
	x, err := ParseVolume(n.Value)
	if err != nil {
		return err
	}
	*v = x
	return nil
}

// MarshalYAML writes p as "host:container[/udp]".
func (p PortMapping) MarshalYAML() (any, error) { return p.String(), nil }

// UnmarshalYAML reads "5432", "15432:5432" or "127.0.0.1:15432:5432".
func (p *PortMapping) UnmarshalYAML(n *yaml.Node) error {
	x, err := ParsePortMapping(n.Value)
	if err != nil {
		return err
	}
	*p = x
	return nil
}
