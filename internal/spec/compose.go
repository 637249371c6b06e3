package spec

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	cloader "github.com/compose-spec/compose-go/v2/loader"
	ctypes "github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

// ErrCompose matches (with errors.Is) every error of ImportCompose: the
// compose file could not be read or converted.
var ErrCompose = errors.New("cannot import compose file")

// ImportCompose converts the docker compose file at path (whose content is
// data) into the text of a berth.yaml meant to sit beside it, so users who
// run docker compose locally need not translate it by hand. The notes say,
// one per line, what was not converted and why; they are also written as
// comments above each service. The returned spec loads with Parse.
func ImportCompose(path string, data []byte) ([]byte, []string, error) {
	fail := func(err error) ([]byte, []string, error) {
		return nil, nil, fmt.Errorf("%w %s: %w", ErrCompose, path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fail(err)
	}
	dir := filepath.Dir(abs)
	var raw yaml.Node
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return fail(err)
	}
	project, err := cloader.LoadWithContext(context.Background(), ctypes.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []ctypes.ConfigFile{{Filename: abs, Content: data}},
		Environment: ctypes.Mapping{},
	}, func(o *cloader.Options) {
		o.SetProjectName(filepath.Base(dir), false)
		o.SkipInterpolation = true // keep ${VAR} as written
		o.SkipResolveEnvironment = true
		o.ResolvePaths = false
		o.Profiles = []string{"*"}
	})
	if err != nil {
		return fail(err)
	}
	c := &converter{file: filepath.Base(path), names: map[string]string{}, volumes: map[string]bool{}}
	out := c.convert(project, &raw)
	text, err := c.render(out)
	if err != nil {
		return fail(err)
	}
	if _, err := Parse(filepath.Join(dir, "berth.yaml"), text); err != nil {
		return fail(fmt.Errorf("the converted spec does not load (please report this): %w", err))
	}
	return text, c.notes, nil
}

// composeService is one converted service, its keys in the order written.
type composeService struct {
	Build     *Build            `yaml:"build,omitempty"`
	Image     string            `yaml:"image,omitempty"`
	Port      int               `yaml:"port,omitempty"`
	Count     *int              `yaml:"count,omitempty"`
	DependsOn []string          `yaml:"depends_on,omitempty,flow"`
	Env       map[string]string `yaml:"env,omitempty"`
	Health    *Health           `yaml:"health,omitempty"`
	Route     *Route            `yaml:"route,omitempty"`
	Ports     []PortMapping     `yaml:"ports,omitempty,flow"`
	Volumes   []Volume          `yaml:"volumes,omitempty"`

	name      string
	compose   string // the compose service's name
	image     bool   // an image service: image: without build:
	notes     []string
	published bool // compose publishes a port of it
	hasPort   bool // a container port is known
}

// converter holds what converting one compose project needs.
type converter struct {
	file    string
	project string
	names   map[string]string // compose service name → berth name
	notes   []string
	volumes map[string]bool // top-level volumes some image service uses
}

func (c *converter) note(svc *composeService, format string, a ...any) {
	svc.notes = append(svc.notes, fmt.Sprintf(format, a...))
}

// convertedKeys are the compose service keys ImportCompose translates.
var convertedKeys = map[string]bool{
	"build": true, "image": true, "ports": true, "expose": true, "environment": true,
	"depends_on": true, "deploy": true, "scale": true, "healthcheck": true,
}

// skipReasons says why common compose keys have no berth equivalent.
var skipReasons = map[string]string{
	"volumes":        "berth runs stateless services; keep {svc} in compose or run it yourself",
	"volumes_from":   "berth runs stateless services; keep {svc} in compose or run it yourself",
	"tmpfs":          "berth runs stateless services; keep {svc} in compose or run it yourself",
	"networks":       "berth's router connects services; call others through ${BERTH_ROUTER_URL}",
	"network_mode":   "berth's router connects services; call others through ${BERTH_ROUTER_URL}",
	"links":          "berth's router connects services; call others through ${BERTH_ROUTER_URL}",
	"secrets":        "store each with `berth secret set NAME` and list it under secrets:",
	"env_file":       "copy its variables into env: (or secrets: for credentials)",
	"command":        "berth runs the image's own CMD; bake it into the Dockerfile",
	"entrypoint":     "berth runs the image's own ENTRYPOINT; bake it into the Dockerfile",
	"restart":        "berth restarts failed tasks itself",
	"container_name": "berth names containers itself",
	"profiles":       "every service of the compose file was imported",
}

// topReasons says why top-level compose keys have no berth equivalent.
var topReasons = map[string]string{
	"volumes":  "berth runs stateless services; keep stateful ones in compose or run them yourself",
	"networks": "berth's router connects services",
	"secrets":  "store each with `berth secret set NAME` and list it under the service's secrets:",
	"configs":  "put the values in env: or config:",
	"include":  "the included services were imported; berth.yaml is one file",
}

func (c *converter) convert(p *ctypes.Project, raw *yaml.Node) []*composeService {
	top := resolve(raw)
	if raw.Kind == yaml.DocumentNode && len(raw.Content) > 0 {
		top = resolve(raw.Content[0])
	}
	c.project = dnsName(p.Name, "app")
	if c.project != p.Name {
		c.notes = append(c.notes, fmt.Sprintf("project name %q became %q (lower-case letters, digits and '-')", p.Name, c.project))
	}
	for _, sc := range p.Services {
		if sc.Build == nil && sc.Image != "" {
			for _, v := range sc.Volumes {
				if v.Type == ctypes.VolumeTypeVolume && v.Source != "" {
					c.volumes[v.Source] = true
				}
			}
		}
	}
	for _, kv := range entries(top) {
		switch k := kv[0].Value; {
		case k == "services" || k == "name" || k == "version" || strings.HasPrefix(k, "x-"):
		case k == "volumes" && c.volumesConverted(kv[1]):
		default:
			reason, ok := topReasons[k]
			if !ok {
				reason = "berth has no equivalent"
			}
			c.notes = append(c.notes, fmt.Sprintf("top-level %s not converted: %s", k, reason))
		}
	}

	// Services in the order the file writes them; any others (from include
	// or extends) after, by name.
	rawServices := map[string]*yaml.Node{}
	var order []string
	for _, kv := range entries(resolve(child(top, "services"))) {
		if _, ok := p.Services[kv[0].Value]; ok {
			order = append(order, kv[0].Value)
			rawServices[kv[0].Value] = resolve(kv[1])
		}
	}
	var rest []string
	for name := range p.Services {
		if !slices.Contains(order, name) {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	order = append(order, rest...)

	taken := map[string]bool{}
	for _, name := range order {
		n := dnsName(name, "service")
		for i := 2; taken[n]; i++ {
			n = fmt.Sprintf("%s-%d", dnsName(name, "service"), i)
		}
		taken[n] = true
		c.names[name] = n
	}

	out := make([]*composeService, 0, len(order))
	for _, name := range order {
		out = append(out, c.service(p.Services[name], rawServices[name]))
	}
	c.routes(out)
	c.hostnames(out)
	for _, svc := range out {
		for _, n := range svc.notes {
			c.notes = append(c.notes, "service "+svc.name+": "+n)
		}
	}
	return out
}

func (c *converter) service(sc ctypes.ServiceConfig, raw *yaml.Node) *composeService {
	svc := &composeService{name: c.names[sc.Name], compose: sc.Name, image: sc.Build == nil && sc.Image != ""}
	if svc.name != sc.Name {
		c.note(svc, "renamed from %q (a service name is a DNS label: lower-case letters, digits and '-')", sc.Name)
	}
	written := map[string]*yaml.Node{}
	for _, kv := range entries(raw) {
		written[kv[0].Value] = resolve(kv[1])
	}
	for _, kv := range entries(raw) {
		k := kv[0].Value
		if convertedKeys[k] || strings.HasPrefix(k, "x-") || k == "volumes" && svc.image {
			continue
		}
		reason, ok := skipReasons[k]
		if !ok {
			reason = "berth has no equivalent"
		}
		c.note(svc, "%s not converted: %s", k, strings.ReplaceAll(reason, "{svc}", svc.name))
	}

	c.build(svc, sc)
	c.unsetBuildArgs(svc, written["build"])
	if sc.Image != "" {
		if svc.Build != nil {
			c.note(svc, "image %s not converted: berth tags what it builds itself (by commit)", sc.Image)
		} else {
			svc.Image = sc.Image
		}
	}
	port := 0
	if len(sc.Ports) > 0 {
		port = int(sc.Ports[0].Target)
		svc.published = true
	} else if len(sc.Expose) > 0 {
		port = exposedPort(sc.Expose[0])
	}
	c.env(svc, sc.Environment)
	for _, dep := range dependencies(written["depends_on"]) {
		if n, ok := c.names[dep]; ok {
			svc.DependsOn = append(svc.DependsOn, n)
		}
	}
	switch {
	case sc.Deploy != nil && sc.Deploy.Replicas != nil:
		svc.Count = sc.Deploy.Replicas
	case sc.Scale != nil:
		svc.Count = sc.Scale
	}
	for _, kv := range entries(written["deploy"]) {
		if kv[0].Value != "replicas" {
			c.note(svc, "deploy.%s not converted: berth has no equivalent", kv[0].Value)
		}
	}
	if svc.image && sc.HealthCheck != nil && !sc.HealthCheck.Disable && len(sc.HealthCheck.Test) > 0 {
		if _, ok := httpGet(sc.HealthCheck.Test); ok {
			svc.image = false // it says it serves HTTP: routed like a built service
		}
	}
	if svc.image {
		c.imageService(svc, sc, port)
		return svc
	}
	port = c.health(svc, sc.HealthCheck, port)
	c.setPort(svc, port)
	return svc
}

func (c *converter) build(svc *composeService, sc ctypes.ServiceConfig) {
	b := sc.Build
	if b == nil {
		return
	}
	switch {
	case b.DockerfileInline != "":
		c.note(svc, "build.dockerfile_inline not converted: write it to a Dockerfile")
		return
	case strings.Contains(b.Context, "://") || strings.HasPrefix(b.Context, "git@"):
		c.note(svc, "build context %s not converted: berth builds from the repository; set build.context to a directory", b.Context)
		return
	}
	ctx := filepath.ToSlash(b.Context)
	if ctx == "" {
		ctx = "."
	}
	ctx = path.Clean(ctx)
	if relPathProblem(ctx) != "" {
		c.note(svc, "build context %s not converted: it must be a directory inside the project", b.Context)
		return
	}
	out := &Build{Context: ctx, Target: b.Target}
	if b.Dockerfile != "" && b.Dockerfile != "Dockerfile" {
		out.Dockerfile = filepath.ToSlash(b.Dockerfile)
	}
	for _, k := range sortedMapping(b.Args) {
		if b.Args[k] == nil {
			c.note(svc, "build arg %s not converted: compose reads it from your shell; give it a value", k)
			continue
		}
		if out.Args == nil {
			out.Args = map[string]string{}
		}
		out.Args[k] = *b.Args[k]
	}
	svc.Build = out
}

// unsetBuildArgs notes the build args the file lists without a value
// ("args: [GIT_SHA]" or "GIT_SHA:" with nothing), which compose reads
// from the shell and the compose loader leaves out.
func (c *converter) unsetBuildArgs(svc *composeService, build *yaml.Node) {
	if svc.Build == nil {
		return
	}
	args := resolve(child(build, "args"))
	var names []string
	switch {
	case args == nil:
	case args.Kind == yaml.SequenceNode:
		for _, e := range args.Content {
			if e = resolve(e); e.Kind == yaml.ScalarNode && !strings.Contains(e.Value, "=") {
				names = append(names, e.Value)
			}
		}
	case args.Kind == yaml.MappingNode:
		for _, kv := range entries(args) {
			if v := resolve(kv[1]); v == nil || v.Tag == "!!null" {
				names = append(names, kv[0].Value)
			}
		}
	}
	for _, n := range names {
		if _, done := svc.Build.Args[n]; done {
			continue
		}
		if slices.ContainsFunc(svc.notes, func(s string) bool { return strings.HasPrefix(s, "build arg "+n+" ") }) {
			continue
		}
		c.note(svc, "build arg %s not converted: compose reads it from your shell; give it a value under build.args", n)
	}
}

func (c *converter) env(svc *composeService, env ctypes.MappingWithEquals) {
	var vars []string
	for _, k := range sortedMapping(env) {
		v := env[k]
		switch {
		case !envName.MatchString(k):
			c.note(svc, "environment %s not converted: berth env names are letters, digits and '_'", k)
			continue
		case v == nil:
			c.note(svc, "environment %s not converted: compose reads it from your shell; give it a value (or use secrets:)", k)
			continue
		case strings.Contains(*v, "${") || strings.Contains(*v, "$"):
			vars = append(vars, k)
		}
		if svc.Env == nil {
			svc.Env = map[string]string{}
		}
		svc.Env[k] = *v
	}
	if len(vars) > 0 {
		c.note(svc, "environment %s kept as written: berth expands only ${BERTH_ROUTER_URL}; put the values in env: or secrets:", strings.Join(vars, ", "))
	}
}

func sortedMapping(m ctypes.MappingWithEquals) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// dependencies are the service names of a depends_on node, a list or a
// mapping. compose-go also adds links and volumes_from to depends_on;
// only what the file writes counts here.
func dependencies(n *yaml.Node) []string {
	var deps []string
	switch {
	case n == nil:
	case n.Kind == yaml.SequenceNode:
		for _, e := range n.Content {
			deps = append(deps, resolve(e).Value)
		}
	case n.Kind == yaml.MappingNode:
		for _, kv := range entries(n) {
			deps = append(deps, kv[0].Value)
		}
	}
	sort.Strings(deps)
	return slices.Compact(deps)
}

// exposedPort is the first port of an expose entry: "80", "80/tcp" or
// "8000-8010".
func exposedPort(s string) int {
	s, _, _ = strings.Cut(s, "/")
	s, _, _ = strings.Cut(s, "-")
	p, _ := strconv.Atoi(strings.TrimSpace(s))
	return p
}

// health converts an HTTP GET healthcheck and returns the service's port
// (the health check's when compose names no other).
func (c *converter) health(svc *composeService, hc *ctypes.HealthCheckConfig, port int) int {
	if hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		return port
	}
	u, ok := httpGet(hc.Test)
	if !ok {
		c.note(svc, "healthcheck %q not converted: berth checks health with an HTTP GET; set health.path (default /health)", strings.Join(hc.Test, " "))
		return port
	}
	h := &Health{Path: u.RequestURI()}
	if hc.Interval != nil {
		h.Interval = Duration(time.Duration(*hc.Interval))
	}
	if hc.Timeout != nil {
		h.Timeout = Duration(time.Duration(*hc.Timeout))
	}
	if hc.StartPeriod != nil {
		h.Grace = Duration(time.Duration(*hc.StartPeriod))
	}
	if hc.Retries != nil && *hc.Retries > 0 {
		h.Unhealthy = int(*hc.Retries)
	}
	svc.Health = h
	hp := 80
	if u.Port() != "" {
		hp, _ = strconv.Atoi(u.Port())
	}
	if port == 0 {
		return hp
	}
	if hp != port {
		c.note(svc, "healthcheck port %d not converted: berth checks health on the service's port %d", hp, port)
	}
	return port
}

// httpGet finds the URL of a healthcheck that is an HTTP GET by curl or
// wget against the container itself.
func httpGet(test []string) (*url.URL, bool) {
	var args []string
	switch test[0] {
	case "CMD":
		args = test[1:]
	case "CMD-SHELL":
		cmd := strings.Join(test[1:], " ")
		// Only the first command of a shell line counts ("curl -f URL || exit 1").
		if i := strings.IndexAny(cmd, "|&;"); i >= 0 {
			cmd = cmd[:i]
		}
		args = strings.Fields(cmd)
	default:
		return nil, false
	}
	if len(args) == 0 {
		return nil, false
	}
	tool := path.Base(args[0])
	if tool != "curl" && tool != "wget" {
		return nil, false
	}
	var u *url.URL
	for i, a := range args[1:] {
		a = strings.Trim(a, `"'`)
		switch {
		case a == "-I" || a == "--head" || a == "--spider" && tool == "curl":
			return nil, false
		case strings.HasPrefix(a, "-d") || strings.HasPrefix(a, "--data") || strings.HasPrefix(a, "--post"):
			return nil, false
		case (a == "-X" || a == "--request" || a == "--method") && i+2 < len(args) && !strings.EqualFold(strings.Trim(args[i+2], `"'`), "GET"):
			return nil, false
		case strings.HasPrefix(a, "-X") && len(a) > 2 && !strings.EqualFold(a[2:], "GET"):
			return nil, false
		case strings.HasPrefix(a, "http://") && u == nil:
			p, err := url.Parse(a)
			if err != nil {
				return nil, false
			}
			u = p
		}
	}
	if u == nil {
		return nil, false
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "0.0.0.0", "::1":
		return u, true
	}
	return nil, false
}

// setPort writes the container port unless it is berth's default.
// Containers may share a port: each task is published on its own.
func (c *converter) setPort(svc *composeService, port int) {
	if port <= 0 || port > 65535 {
		return
	}
	svc.hasPort = true
	if port != DefaultPort {
		svc.Port = port
	}
}

// routes sends every request to the first service berth builds that
// compose publishes a port of, and /<name> to every other built service
// with a port. Image services (databases and the like) are not routed:
// they are reached on loopback, where their ports are published. A built
// service without a port is a worker: no route and no health check.
func (c *converter) routes(svcs []*composeService) {
	def := false
	for _, svc := range svcs {
		switch {
		case svc.image:
		case !svc.hasPort && svc.Health == nil:
			svc.Health = &Health{None: true}
			c.note(svc, "a worker (compose gives it no port): not routed, no health check (health: none); if it serves HTTP, give it a port and a route")
		case svc.published && !def:
			def = true
			svc.Route = &Route{Default: true}
		case svc.hasPort:
			svc.Route = &Route{Path: "/" + svc.name, StripPrefix: true}
		default:
			c.note(svc, "not routed: compose gives it no port; berth expects an HTTP service on port %d answering GET /health", DefaultPort)
		}
	}
}

func (c *converter) render(svcs []*composeService) ([]byte, error) {
	services := &yaml.Node{Kind: yaml.MappingNode}
	for _, svc := range svcs {
		var v yaml.Node
		if err := v.Encode(svc); err != nil {
			return nil, fmt.Errorf("encode service %s: %w", svc.name, err)
		}
		for _, kv := range entries(&v) {
			switch kv[0].Value {
			case "route", "health", "depends_on":
				kv[1].Style = yaml.FlowStyle
			}
			if kv[0].Value == "health" && svc.Health.None {
				*kv[1] = yaml.Node{Kind: yaml.ScalarNode, Value: HealthNone}
			}
		}
		k := &yaml.Node{Kind: yaml.ScalarNode, Value: svc.name}
		if len(svc.notes) > 0 {
			k.HeadComment = strings.Join(svc.notes, "\n")
		}
		services.Content = append(services.Content, k, &v)
	}
	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: "project"}, {Kind: yaml.ScalarNode, Value: c.project},
		{Kind: yaml.ScalarNode, Value: "services"}, services,
	}}
	var b strings.Builder
	fmt.Fprintf(&b, "# Generated by `berth init` from %s.\n", c.file)
	b.WriteString("# Review the routes: the first service berth builds that compose publishes a\n")
	b.WriteString("# port of gets every request (default: true), the others /<name>. Services\n")
	b.WriteString("# that run an image (databases) are reached on loopback at their ports:.\n")
	b.WriteString("# Built services listen on $PORT. What berth changed or could not convert is\n")
	b.WriteString("# noted above each service. Reference: docs/spec.md.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	return []byte(b.String()), nil
}

// dnsName makes s a DNS label (lower-case letters, digits, '-', starting
// with a letter), or fallback when nothing of s is left.
func dnsName(s, fallback string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0:
			b.WriteByte('-')
		}
	}
	n := strings.TrimLeft(b.String(), "0123456789-")
	if len(n) > 63 {
		n = n[:63]
	}
	n = strings.TrimRight(n, "-")
	for strings.Contains(n, "--") {
		n = strings.ReplaceAll(n, "--", "-")
	}
	if n == "" {
		return fallback
	}
	return n
}

// entries are the key/value pairs of mapping n (nil for anything else),
// each key once, merge keys resolved.
func entries(n *yaml.Node) [][2]*yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	all := pairs(n)
	out := make([][2]*yaml.Node, 0, len(all))
	at := map[string]int{}
	for _, kv := range all {
		if i, ok := at[kv[0].Value]; ok {
			out[i] = kv
			continue
		}
		at[kv[0].Value] = len(out)
		out = append(out, kv)
	}
	return out
}

// ProjectName turns a name (typically a directory's) into a valid project
// name: lower-case letters, digits and '-', starting with a letter; "app"
// when nothing of it is left.
func ProjectName(s string) string { return dnsName(s, "app") }

// wellKnownPorts are the ports of common backing-service images, for an
// image service compose gives no port (it reaches them by name).
var wellKnownPorts = map[string]int{
	"postgres": 5432, "postgis": 5432, "mysql": 3306, "mariadb": 3306, "redis": 6379,
	"valkey": 6379, "mongo": 27017, "rabbitmq": 5672, "memcached": 11211,
	"elasticsearch": 9200, "opensearch": 9200, "nats": 4222, "minio": 9000,
	"mailhog": 1025, "mailpit": 1025, "clickhouse-server": 8123,
}

// imageBase is the repository's last element of an image reference:
// "postgres" for docker.io/library/postgres:16@sha256:...
func imageBase(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		ref = ref[i+1:]
	}
	ref, _, _ = strings.Cut(ref, ":")
	return ref
}

// imageService converts a compose service that runs an image berth does not
// build (postgres, redis, ...): not routed, its port (compose's, else the
// image's well-known one) checked by a TCP connect, its published ports
// (or else its port) published on loopback as compose publishes them, and
// its volumes mounted: named volumes are kept across deploys.
func (c *converter) imageService(svc *composeService, sc ctypes.ServiceConfig, port int) {
	if port == 0 {
		port = wellKnownPorts[imageBase(sc.Image)]
	}
	for _, p := range sc.Ports {
		if p.Target == 0 {
			continue
		}
		pm := PortMapping{Container: int(p.Target)}
		if p.Protocol == "udp" {
			pm.Protocol = "udp"
		}
		if h, err := strconv.Atoi(strings.SplitN(p.Published, "-", 2)[0]); err == nil && h != int(p.Target) {
			pm.Host = h
		}
		if p.HostIP != "" && p.HostIP != "127.0.0.1" && p.HostIP != "localhost" {
			c.note(svc, "port %s published on 127.0.0.1, not %s: berth keeps every address on loopback", pm, p.HostIP)
		}
		svc.Ports = append(svc.Ports, pm)
	}
	if port > 0 && port <= 65535 {
		svc.hasPort = true
		svc.Port = port
		if len(svc.Ports) == 0 {
			svc.Ports = []PortMapping{{Container: port}}
		}
	}
	switch {
	case sc.HealthCheck != nil && !sc.HealthCheck.Disable && len(sc.HealthCheck.Test) > 1 && (sc.HealthCheck.Test[0] == "CMD" || sc.HealthCheck.Test[0] == "CMD-SHELL"):
		if sc.HealthCheck.Test[0] == "CMD" {
			svc.Health = &Health{Command: slices.Clone(sc.HealthCheck.Test[1:])}
		} else {
			svc.Health = &Health{Command: []string{"/bin/sh", "-c", strings.Join(sc.HealthCheck.Test[1:], " ")}}
		}
	case svc.hasPort:
		svc.Health = &Health{TCP: true}
	default:
		svc.Health = &Health{None: true}
		c.note(svc, "not routed and no health check (health: none): berth knows no port of image %s; set port: and health: {tcp: true}", sc.Image)
	}
	for _, v := range sc.Volumes {
		switch v.Type {
		case ctypes.VolumeTypeVolume:
			if v.Source == "" {
				c.note(svc, "anonymous volume %s not converted: name it (name:%s) to keep its data across deploys", v.Target, v.Target)
				continue
			}
			svc.Volumes = append(svc.Volumes, Volume{Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
		case ctypes.VolumeTypeBind:
			src := filepath.ToSlash(v.Source)
			if !strings.HasPrefix(src, "/") && !strings.HasPrefix(src, ".") {
				src = "./" + src
			}
			svc.Volumes = append(svc.Volumes, Volume{Source: src, Target: v.Target, ReadOnly: v.ReadOnly, Bind: true})
		default:
			c.note(svc, "%s mount %s not converted: berth mounts named volumes and bind mounts", v.Type, v.Target)
		}
	}
}

// volumesConverted reports whether every top-level volume is used by an
// image service, so the top-level key needs no note.
func (c *converter) volumesConverted(n *yaml.Node) bool {
	for _, kv := range entries(resolve(n)) {
		if !c.volumes[kv[0].Value] {
			return false
		}
	}
	return true
}

// hostnames rewrites, in every env value, compose's way of reaching
// another service (its name as a host name) to berth's: an HTTP URL of a
// routed service goes through the router (${BERTH_ROUTER_URL}/<path>, so
// deploys and canaries apply), an image service's address becomes its
// loopback one (127.0.0.1 and its published port). Each rewrite is noted,
// and so is a host name berth cannot rewrite.
func (c *converter) hostnames(svcs []*composeService) {
	byCompose := map[string]*composeService{}
	for _, svc := range svcs {
		byCompose[svc.compose] = svc
	}
	for _, svc := range svcs {
		for _, k := range sortedKeys(svc.Env) {
			v := svc.Env[k]
			nv := v
			for _, target := range svcs {
				nv = c.rewriteHost(svc, k, nv, target)
			}
			if nv != v {
				svc.Env[k] = nv
				c.note(svc, "environment %s: %s became %s (compose host names do not resolve under berth)", k, v, nv)
			}
		}
	}
}

// isHostChar reports whether b can be part of a host name.
func isHostChar(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.'
}

// rewriteHost rewrites each use of target's compose name as a host in v.
func (c *converter) rewriteHost(svc *composeService, key, v string, target *composeService) string {
	name := target.compose
	var b strings.Builder
	for from := 0; ; {
		i := strings.Index(v[from:], name)
		if i < 0 {
			b.WriteString(v[from:])
			return b.String()
		}
		i += from
		end := i + len(name)
		if (i > 0 && isHostChar(v[i-1])) || (end < len(v) && isHostChar(v[end])) || (i > 0 && v[i-1] == ':' && !strings.HasSuffix(v[:i], "://")) {
			b.WriteString(v[from:end])
			from = end
			continue
		}
		// The port written after the name, if any.
		port, portEnd := 0, end
		if end < len(v) && v[end] == ':' {
			j := end + 1
			for j < len(v) && v[j] >= '0' && v[j] <= '9' {
				j++
			}
			if j > end+1 {
				port, _ = strconv.Atoi(v[end+1 : j])
				portEnd = j
			}
		}
		// The scheme before it: "scheme://" or "scheme://user:pass@".
		token := v[:i]
		if k := strings.LastIndexAny(token, " \t,;\"'"); k >= 0 {
			token = token[k+1:]
		}
		scheme, authStart := "", i
		if j := strings.Index(token, "://"); j >= 0 {
			rest := token[j+3:]
			if !strings.ContainsAny(rest, "/") && (rest == "" || strings.HasSuffix(rest, "@")) {
				scheme = strings.ToLower(token[:j])
				authStart = i - len(token)
			}
		}
		if scheme != "" && portEnd == end && end < len(v) && v[end] == ':' {
			portEnd = end + 1 // "scheme://db:/": an empty port
		}
		if scheme == "" && ((i > 0 && strings.ContainsRune("/@", rune(v[i-1]))) || (portEnd < len(v) && v[portEnd] == '/')) {
			// A path segment ("/srv/db/data", "db/x"), not a host.
			b.WriteString(v[from:end])
			from = end
			continue
		}
		switch {
		case target.image && target.hasPort:
			b.WriteString(v[from:i])
			hp := loopbackPort(target, port)
			if port > 0 || scheme != "" {
				b.WriteString("127.0.0.1:" + strconv.Itoa(hp))
			} else {
				b.WriteString("127.0.0.1")
			}
			from = portEnd
		case target.Route != nil && (scheme == "http" || scheme == "https"):
			b.WriteString(v[from:authStart])
			b.WriteString("${BERTH_ROUTER_URL}" + strings.TrimSuffix(target.Route.Path, "/"))
			from = portEnd
		default:
			c.note(svc, "environment %s: host name %s kept: berth gives %s no address others can use; reach it through a route", key, name, target.name)
			b.WriteString(v[from:end])
			from = end
		}
	}
}

// loopbackPort is the loopback port an image service's container port is
// published on (its own port when port is 0).
func loopbackPort(svc *composeService, port int) int {
	if port == 0 {
		port = svc.Port
	}
	for _, p := range svc.Ports {
		if p.Container == port {
			return p.HostPort()
		}
	}
	return port
}
