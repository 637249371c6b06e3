package spec

import (
	"container/heap"
	"fmt"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// validate checks what decoding cannot: relations between keys and
// between services. Every problem is reported; none stops the others.
func (l *loader) validate(s *Spec) {
	if s.Project == "" {
		l.ps.add(Problem{Line: 1, Path: "project", Message: "missing project name", Hint: "add `project: <name>` at the top"})
	} else if !serviceName.MatchString(s.Project) {
		l.atKey("project", fmt.Sprintf("invalid project name %q", s.Project), nameHints[serviceName])
	}
	l.checkListen("listen", s.Listen)
	l.checkTLS(s)
	if _, err := s.Router.AccessLogRate(); err != nil {
		l.atKey("router.access_log", err.Error(), "write access_log: off, on or a sample such as 10%")
	}
	for name, env := range s.Environments {
		if env != nil && env.Listen != "" {
			l.checkListen("environments."+name+".listen", env.Listen)
		}
	}
	for i, p := range s.Shared {
		if msg := sharedPathProblem(p); msg != "" {
			l.atKey(fmt.Sprintf("shared[%d]", i), msg, "")
		}
	}
	for i, n := range s.Notify {
		l.checkURL(fmt.Sprintf("notify[%d].url", i), n.URL, "notify URL")
		for j, ev := range n.Events {
			if !slices.Contains(NotifyEvents(), ev) {
				hint := Suggest(ev, NotifyEvents())
				if rest, ok := strings.CutPrefix(ev, "deployment."); ok && slices.Contains(EventKinds, "deploy."+rest) {
					hint = fmt.Sprintf("did you mean %q?", "deploy."+rest)
				}
				if hint == "" {
					hint = "one of " + strings.Join(EventKinds, ", ") + " (deploy.* may be written without deploy.)"
				}
				l.atKey(fmt.Sprintf("notify[%d].events[%d]", i, j), fmt.Sprintf("unknown event %q", ev), hint)
			}
		}
	}
	if len(s.Services) == 0 {
		hint := "add a `services:` mapping or `services_from: <glob>`"
		if s.ServicesFrom != "" {
			hint = fmt.Sprintf("services_from %q matched no directory holding a Dockerfile", s.ServicesFrom)
		}
		l.atKey("services", "no services", hint)
		return
	}
	names := sortedNames(s.Services)
	for _, name := range names {
		l.checkService(s, s.Services[name], names)
	}
	l.checkRoutes(s, names)
	l.checkPorts(s, names)
	l.checkECS(s, names)
	s.Order = l.order(s, names)
}

func sortedNames(m map[string]*Service) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// atKey reports a problem at a top-level (or any absolute) key path,
// falling back to its nearest written parent.
func (l *loader) atKey(p, msg, hint string) {
	at := position{line: 1}
	for q := p; q != ""; q = parent(q) {
		if pos, ok := l.set[q]; ok {
			at = pos
			break
		}
	}
	l.ps.add(Problem{Line: at.line, Column: at.column, Path: p, Message: msg, Hint: hint})
}

// at reports a problem about service svc at the service-relative key path
// rel. It points at the key where it was written: in the service, or under
// defaults: (then the path says defaults.…), or at the nearest written
// parent, or at the service itself.
func (l *loader) at(svc *Service, rel, msg, hint string) {
	full := join("services."+svc.Name, rel)
	for r := rel; r != ""; r = parent(r) {
		if pos, ok := l.set[join("services."+svc.Name, r)]; ok {
			l.ps.add(Problem{Line: pos.line, Column: pos.column, Path: full, Message: msg, Hint: hint})
			return
		}
		if pos, ok := l.set["defaults."+r]; ok {
			l.ps.add(Problem{Line: pos.line, Column: pos.column, Path: "defaults." + rel, Message: msg, Hint: hint})
			return
		}
	}
	pos := l.set["services."+svc.Name]
	if pos.line == 0 {
		pos.line = svc.Line
	}
	l.ps.add(Problem{Line: pos.line, Column: pos.column, Path: full, Message: msg, Hint: hint})
}

// warnAt is at for a warning: valid, but probably not what was meant.
func (l *loader) warnAt(svc *Service, rel, msg, hint string) {
	ps := l.ps
	l.ps = l.warnings
	defer func() { l.ps = ps }()
	l.at(svc, rel, msg, hint)
}

// hasFailed reports whether decoding already found a problem at or under
// one of the service-relative key paths (in the service or in defaults:).
func (l *loader) hasFailed(svc *Service, rels ...string) bool {
	if l.failedBy == nil {
		// Index the failed paths by their owner (services.<name> or
		// defaults) once, so each service looks only at its own.
		l.failedBy = map[string][]string{}
		for p := range l.failed {
			owner := "defaults"
			if rest, ok := strings.CutPrefix(p, "services."); ok {
				name, _, _ := strings.Cut(rest, ".")
				owner = "services." + name
			}
			l.failedBy[owner] = append(l.failedBy[owner], p)
		}
	}
	for _, owner := range []string{"services." + svc.Name, "defaults"} {
		for _, p := range l.failedBy[owner] {
			for _, rel := range rels {
				prefix := owner + "." + rel
				if p == prefix || strings.HasPrefix(p, prefix+".") || strings.HasPrefix(p, prefix+"[") {
					return true
				}
			}
		}
	}
	return false
}

// parent strips the last ".key" or "[i]" of a key path.
func parent(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndex(p, "["); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return ""
}

func (l *loader) checkListen(p, addr string) {
	_, port, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil || n < 1 || n > 65535 {
		l.atKey(p, fmt.Sprintf("invalid listen address %q", addr), "write host:port, e.g. 127.0.0.1:8080 or :80")
	}
}

func (l *loader) checkURL(p, raw, what string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.atKey(p, fmt.Sprintf("%s %q is not an http(s) URL", what, raw), "write e.g. https://hooks.example.com/berth")
	}
}

// relPathProblem says what is wrong with a project-relative path, or "".
func relPathProblem(p string) string {
	switch {
	case p == "":
		return "empty path"
	case filepath.IsAbs(p) || strings.HasPrefix(p, "/"):
		return fmt.Sprintf("path %q must be relative to the spec's directory", p)
	case path.Clean(filepath.ToSlash(p)) == ".." || strings.HasPrefix(path.Clean(filepath.ToSlash(p)), "../"):
		return fmt.Sprintf("path %q leaves the project", p)
	}
	return ""
}

// sharedPathProblem says what is wrong with a shared path, or "". Unlike
// other paths a shared path may lie above the spec's directory (e.g.
// ../../go.mod when the module root is higher up): it only has to stay
// inside the git repository, which change detection checks, since the spec
// alone does not know where the repository starts.
func sharedPathProblem(p string) string {
	switch {
	case p == "":
		return "empty path"
	case filepath.IsAbs(p) || strings.HasPrefix(p, "/"):
		return fmt.Sprintf("path %q must be relative to the spec's directory", p)
	}
	return ""
}

func (l *loader) checkService(s *Spec, svc *Service, names []string) {
	if svc.Run == "" && svc.Image == "" && !svc.Build.Docker() && !l.hasFailed(svc, "run", "image", "build") {
		l.at(svc, "", "no way to run this service: it has no run, image or docker build", "add `run: <command>`")
	}
	if b := svc.Build; b != nil && b.Command != "" && (b.Context != "" || b.Dockerfile != "" || b.Target != "" || len(b.Args) > 0) {
		l.at(svc, "build", "build mixes command with docker keys (context, dockerfile, target, args)", "use either `build: <command>` or a docker build mapping")
	}
	if msg := relPathProblem(svc.Dir); msg != "" {
		l.at(svc, "dir", msg, "")
	} else if _, written := l.set["services."+svc.Name+".dir"]; written && !l.isDir(path.Clean(filepath.ToSlash(svc.Dir))) {
		l.at(svc, "dir", fmt.Sprintf("directory %q does not exist", svc.Dir), "")
	}
	for i, p := range svc.Shared {
		if msg := sharedPathProblem(p); msg != "" {
			l.at(svc, fmt.Sprintf("shared[%d]", i), msg, "")
		}
	}
	l.checkHealth(svc)
	l.checkCounts(svc)
	l.checkDockerOnly(s, svc)
	l.checkRoute(svc)
	l.checkDeploy(svc)
	for _, k := range sortedKeys(svc.Secrets) {
		if msg, hint := secretRefProblem(svc.Secrets[k]); msg != "" {
			l.at(svc, "secrets."+k, msg, hint)
		}
	}
	for _, k := range sortedKeys(svc.Config) {
		if strings.TrimSpace(svc.Config[k]) == "" {
			l.at(svc, "config."+k, "empty config reference", "name the configuration value to read")
		}
	}
	for i, dep := range svc.DependsOn {
		p := fmt.Sprintf("depends_on[%d]", i)
		switch {
		case dep == svc.Name:
			l.at(svc, p, "a service cannot depend on itself", "")
		case s.Services[dep] == nil:
			l.at(svc, p, fmt.Sprintf("unknown service %q", dep), Suggest(dep, names))
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// secretRefProblem checks a secret reference: a plain name or local:name
// (berth's local secret store), ssm:/path or secretsmanager:name[#key].
func secretRefProblem(ref string) (msg, hint string) {
	const forms = "write a secret name, ssm:/path or secretsmanager:name#key"
	if strings.TrimSpace(ref) == "" {
		return "empty secret reference", forms
	}
	provider, rest, ok := strings.Cut(ref, ":")
	if !ok {
		return "", ""
	}
	switch provider {
	case "local":
		if strings.TrimSpace(rest) == "" {
			return fmt.Sprintf("invalid local secret reference %q", ref), "write local:name or just name"
		}
	case "ssm":
		if !strings.HasPrefix(rest, "/") || len(rest) < 2 {
			return fmt.Sprintf("invalid SSM reference %q", ref), "write ssm:/path/to/parameter"
		}
	case "secretsmanager":
		name, key, hasKey := strings.Cut(rest, "#")
		if name == "" || (hasKey && key == "") {
			return fmt.Sprintf("invalid Secrets Manager reference %q", ref), "write secretsmanager:name or secretsmanager:name#key"
		}
	default:
		hint := Suggest(provider, []string{"local", "ssm", "secretsmanager"})
		if hint == "" {
			hint = forms
		}
		return fmt.Sprintf("unknown secret provider %q", provider), hint
	}
	return "", ""
}

func (l *loader) checkHealth(svc *Service) {
	h := svc.Health
	kinds := 0
	for _, set := range []bool{h.Path != "", h.TCP, len(h.Command) > 0} {
		if set {
			kinds++
		}
	}
	if kinds > 1 {
		l.at(svc, "health", "health sets more than one kind of check (path, tcp, command)", "keep one: path for HTTP, tcp: true for a connect check, or command")
	}
	switch h.Kind() {
	case HealthHTTP:
		if !strings.HasPrefix(h.Path, "/") {
			l.at(svc, "health.path", fmt.Sprintf("health path %q must start with /", h.Path), "")
		}
	case HealthCommand:
		if strings.TrimSpace(h.Command[0]) == "" {
			l.at(svc, "health.command[0]", "health command has no program", "write e.g. command: [pg_isready, -U, postgres]")
		}
	}
	if h.Interval <= 0 {
		l.at(svc, "health.interval", "health interval must be more than 0s", "")
	}
	if h.Timeout <= 0 {
		l.at(svc, "health.timeout", "health timeout must be more than 0s", "")
	}
	if h.Deadline <= 0 {
		l.at(svc, "health.deadline", "health deadline must be more than 0s", "")
	}
}

// checkCounts checks count, max_count, scale and heal.
func (l *loader) checkCounts(svc *Service) {
	if svc.Count != nil && *svc.Count > svc.MaxCount && !l.hasFailed(svc, "count", "max_count") {
		l.at(svc, "count", fmt.Sprintf("count %d is more than the maximum of %d tasks", *svc.Count, svc.MaxCount), "lower count, or raise max_count (for this service or at the top level)")
	}
	if hl := svc.Heal; hl != nil && hl.Window <= 0 && !l.hasFailed(svc, "heal") {
		l.at(svc, "heal.window", "heal window must be more than 0s", "write e.g. window: 10m")
	}
	sc := svc.Scale
	if sc == nil || l.hasFailed(svc, "scale") {
		return
	}
	if sc.Max == 0 {
		l.at(svc, "scale", "scale needs max, the most tasks autoscaling may run", "add e.g. max: 10")
	} else {
		if sc.Max > svc.MaxCount {
			l.at(svc, "scale.max", fmt.Sprintf("scale max %d is more than the maximum of %d tasks", sc.Max, svc.MaxCount), "lower max, or raise max_count")
		}
		if sc.MinCount() > sc.Max {
			l.at(svc, "scale.min", fmt.Sprintf("scale min %d is more than max %d", sc.MinCount(), sc.Max), "")
		}
		if _, written := l.set["services."+svc.Name+".count"]; written && svc.Count != nil && (*svc.Count < sc.MinCount() || *svc.Count > sc.Max) {
			l.at(svc, "count", fmt.Sprintf("count %d is outside scale's %d..%d", *svc.Count, sc.MinCount(), sc.Max), "count is where autoscaling starts: keep it within min and max, or leave it out")
		}
	}
	const targets = "one of {cpu: 60%}, {memory: 70%}, {rps_per_task: 200}, {p99: 300ms}"
	switch ms := sc.Target.metricsOrNil(); {
	case sc.Target == nil:
		l.at(svc, "scale", "scale needs a target to track", "add target: "+targets)
	case len(ms) == 0:
		l.at(svc, "scale.target", "scale target sets no metric above zero", "write "+targets)
	case len(ms) > 1:
		l.at(svc, "scale.target", fmt.Sprintf("scale target sets %s: autoscaling tracks one metric", strings.Join(ms, " and ")), "keep one of them")
	}
}

// checkDockerOnly refuses image, volumes and ports where the spec says
// the process engine runs it, and checks them otherwise.
func (l *loader) checkDockerOnly(s *Spec, svc *Service) {
	keys := svc.DockerOnlyKeys()
	if len(keys) > 0 && onlyProcess(s) && !l.hasFailed(svc, keys...) {
		l.at(svc, keys[0], fmt.Sprintf("%s need the docker engine, but this spec runs on the process engine everywhere", strings.Join(keys, ", ")),
			"set engine: docker (or auto, or in an environment), or give the service a run: command instead")
	}
	targets := map[string]int{}
	for i, v := range svc.Volumes {
		if j, dup := targets[path.Clean(v.Target)]; dup {
			l.at(svc, fmt.Sprintf("volumes[%d]", i), fmt.Sprintf("volume target %s is also mounted by volumes[%d]", v.Target, j), "")
		}
		targets[path.Clean(v.Target)] = i
	}
}

// onlyProcess reports whether every way to run s uses the process engine:
// the spec says engine: process and no environment says otherwise. (With
// auto, the engine is known only at run time: Spec.CheckEngine.)
func onlyProcess(s *Spec) bool {
	if s.Engine != "process" {
		return false
	}
	for _, e := range s.Environments {
		if e != nil && e.Engine != "" && e.Engine != "process" {
			return false
		}
	}
	return true
}

func (l *loader) checkRoute(svc *Service) {
	r := svc.Route
	if r == nil {
		return
	}
	if r.Host == "" && len(r.Hosts) == 0 && r.Path == "" && !r.Default {
		l.at(svc, "route", "route matches nothing", "set `path: /`, a host, or `default: true`")
	}
	if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
		l.at(svc, "route.path", fmt.Sprintf("route path %q must start with /", r.Path), "")
	}
	for i, h := range r.Hosts {
		if strings.TrimSpace(h) == "" {
			l.at(svc, fmt.Sprintf("route.hosts[%d]", i), "empty host", "")
		}
	}
	if r.StripPrefix && (r.Path == "" || r.Path == "/") {
		l.at(svc, "route.strip_prefix", "strip_prefix needs a route path other than /", "")
	}
}

func (l *loader) checkDeploy(svc *Service) {
	d := svc.Deploy
	if !slices.Contains(strategies, d.Strategy) {
		return // already reported where it was written
	}
	canary := d.Strategy == "canary"
	l.checkSticky(svc)
	if d.Strategy == "rolling" && *d.MaxSurge == 0 && *d.MaxUnavailable == 0 {
		l.at(svc, "deploy.max_surge", "max_surge and max_unavailable are both 0, so a rolling deployment could never progress", "set max_surge: 1")
	}
	switch {
	case d.Strategy == "bluegreen" && len(d.Steps) > 0:
		// A blue/green takes steps: [pause], a manual gate before the switch.
		for i, st := range d.Steps {
			if !st.Gate {
				l.at(svc, fmt.Sprintf("deploy.steps[%d]", i), fmt.Sprintf("a blue/green switches all traffic at once, so its steps can only be pause, got %s", st), "write steps: [pause] to wait for `berth promote` before the switch, or use strategy: canary for traffic steps")
			}
		}
	case !canary && len(d.Steps) > 0:
		l.at(svc, "deploy.steps", "steps only apply to strategies canary and bluegreen", "add `strategy: canary`")
	}
	if d.Bake > 0 && d.Strategy != "bluegreen" {
		l.warnAt(svc, "deploy.bake", fmt.Sprintf("bake has no effect on a %s deployment: only blue/green keeps the old fleet after the switch", d.Strategy),
			"remove bake, or use strategy: bluegreen; a canary is judged at every step for its pause")
	}
	if !canary && d.Linear != nil {
		l.at(svc, "deploy.linear", "linear only applies to strategy canary", "add `strategy: canary`")
	}
	if len(d.Steps) > 0 && d.Linear != nil {
		l.at(svc, "deploy.linear", "set either steps or linear, not both", "")
	}
	if canary && len(d.Steps) > 0 && !l.hasFailed(svc, "deploy.steps") {
		last, lastIdx := 0, -1
		for i, st := range d.Steps {
			if st.Gate {
				continue
			}
			if st.Percent <= last {
				l.at(svc, fmt.Sprintf("deploy.steps[%d]", i), fmt.Sprintf("canary steps must increase: %d%% follows %d%%", st.Percent, last), "")
			}
			last, lastIdx = max(last, st.Percent), i
		}
		if lastIdx < 0 || d.Steps[lastIdx].Percent != 100 {
			rel := "deploy.steps"
			if lastIdx >= 0 {
				rel = fmt.Sprintf("deploy.steps[%d]", lastIdx)
			}
			l.at(svc, rel, "canary steps must end at 100%", "add 100% as the last step")
		}
	}
	if lin := d.Linear; lin != nil {
		if lin.Step <= 0 {
			l.at(svc, "deploy.linear.step", "linear step must be more than 0%", "")
		}
		if lin.Every <= 0 {
			l.at(svc, "deploy.linear.every", "linear every must be more than 0s", "")
		}
	}
	if a := d.Analysis; a != nil {
		if a.Window <= 0 {
			l.at(svc, "deploy.analysis.window", "analysis window must be more than 0s", "")
		}
		for i, p := range a.Smoke {
			if !strings.HasPrefix(p, "/") {
				l.at(svc, fmt.Sprintf("deploy.analysis.smoke[%d]", i), fmt.Sprintf("smoke path %q must start with /", p), "")
			}
		}
		if a.Webhook != "" {
			if u, err := url.Parse(a.Webhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				l.at(svc, "deploy.analysis.webhook", fmt.Sprintf("analysis webhook %q is not an http(s) URL", a.Webhook), "")
			}
		}
	}
}

// routeKey is what two routes must not share.
type routeKey struct{ host, path string }

func (k routeKey) String() string {
	if k.host == "" {
		return "path " + k.path
	}
	return "host " + k.host + " path " + k.path
}

func routeKeys(r *Route) []routeKey {
	if r == nil || (r.Host == "" && len(r.Hosts) == 0 && r.Path == "") {
		return nil
	}
	p := r.Path
	if p == "" {
		p = "/"
	}
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	hosts := r.Hosts
	if r.Host != "" {
		hosts = append([]string{r.Host}, hosts...)
	}
	if len(hosts) == 0 {
		return []routeKey{{"", p}}
	}
	keys := make([]routeKey, 0, len(hosts))
	for _, h := range hosts {
		keys = append(keys, routeKey{strings.ToLower(strings.TrimSpace(h)), p})
	}
	return keys
}

func (l *loader) checkRoutes(s *Spec, names []string) {
	owners := map[routeKey][]string{}
	var defaults []string
	for _, name := range names {
		r := s.Services[name].Route
		for _, k := range routeKeys(r) {
			if !slices.Contains(owners[k], name) {
				owners[k] = append(owners[k], name)
			}
		}
		if r != nil && r.Default {
			defaults = append(defaults, name)
		}
	}
	for k, svcs := range owners {
		if len(svcs) < 2 {
			continue
		}
		for _, name := range svcs {
			others := l.describe(slices.DeleteFunc(slices.Clone(svcs), func(n string) bool { return n == name }))
			l.at(s.Services[name], "route", fmt.Sprintf("route clash: %s is also routed to %s", k, others), "give each service its own host or path")
		}
	}
	if len(defaults) > 1 {
		for _, name := range defaults {
			others := l.describe(slices.DeleteFunc(slices.Clone(defaults), func(n string) bool { return n == name }))
			l.at(s.Services[name], "route.default", "more than one default route: also "+others, "keep `default: true` on one service")
		}
	}
}

// describe names services with the line they are declared on.
func (l *loader) describe(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n
		if pos, ok := l.set["services."+n]; ok {
			parts[i] = fmt.Sprintf("%s (line %d)", n, pos.line)
		}
	}
	return strings.Join(parts, ", ")
}

// checkPorts reports fixed ports (written in the file) shared by two
// services or equal to the router's listen port.
func (l *loader) checkPorts(s *Spec, names []string) {
	_, lp, _ := net.SplitHostPort(s.Listen)
	listenPort, _ := strconv.Atoi(lp)
	users := map[int][]string{}
	for _, name := range names {
		if _, fixed := l.set["services."+name+".port"]; !fixed {
			continue
		}
		svc := s.Services[name]
		if svc.Image != "" || svc.Build.Docker() {
			// A container's port is its own: the docker driver publishes
			// each task on a free loopback port, so containers may share it.
			continue
		}
		users[svc.Port] = append(users[svc.Port], name)
		if svc.Port == listenPort {
			l.at(svc, "port", fmt.Sprintf("port clash: port %d is the router's listen port (listen: %s)", svc.Port, s.Listen), "choose another port")
		}
	}
	for port, svcs := range users {
		if len(svcs) < 2 {
			continue
		}
		for _, name := range svcs {
			others := l.describe(slices.DeleteFunc(slices.Clone(svcs), func(n string) bool { return n == name }))
			l.at(s.Services[name], "port", fmt.Sprintf("port clash: port %d is also used by %s", port, others), "choose another port")
		}
	}
	// Published ports (ports:) are host ports on loopback: one owner each.
	type published struct {
		port  int
		proto string
	}
	owners := map[published]string{}
	for _, name := range names {
		svc := s.Services[name]
		for i, p := range svc.Ports {
			k := published{p.HostPort(), p.Protocol}
			rel := fmt.Sprintf("ports[%d]", i)
			switch prev, taken := owners[k]; {
			case taken && prev == name:
				l.at(svc, rel, fmt.Sprintf("host port %d/%s is published twice", k.port, k.proto), "")
			case taken:
				l.at(svc, rel, fmt.Sprintf("host port %d/%s is also published by %s", k.port, k.proto, l.describe([]string{prev})), "choose another host port, e.g. 1"+fmt.Sprint(k.port)+":"+fmt.Sprint(p.Container))
			case k.port == listenPort && k.proto == "tcp":
				l.at(svc, rel, fmt.Sprintf("host port %d is the router's listen port (listen: %s)", k.port, s.Listen), "choose another host port")
			default:
				owners[k] = name
			}
		}
	}
}

// order returns the services in dependency order (dependencies first,
// alphabetical among peers) and reports every cycle.
func (l *loader) order(s *Spec, names []string) []string {
	deps := map[string][]string{}
	for _, n := range names {
		for _, d := range s.Services[n].DependsOn {
			if _, ok := s.Services[d]; ok && d != n && !slices.Contains(deps[n], d) {
				deps[n] = append(deps[n], d)
			}
		}
		sort.Strings(deps[n])
	}

	// Cycles, by depth-first search.
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	reported := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		color[n] = grey
		stack = append(stack, n)
		for _, d := range deps[n] {
			switch color[d] {
			case white:
				visit(d)
			case grey:
				i := slices.Index(stack, d)
				cycle := canonicalCycle(stack[i:])
				key := strings.Join(cycle, " ")
				if !reported[key] {
					reported[key] = true
					text := strings.Join(append(cycle, cycle[0]), " → ")
					l.at(s.Services[cycle[0]], "depends_on", "dependency cycle: "+text, "remove one of these depends_on entries")
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
	}
	for _, n := range names {
		if color[n] == white {
			visit(n)
		}
	}

	// Kahn's algorithm, always taking the alphabetically first ready service.
	waiting := map[string]int{}
	users := map[string][]string{}
	for _, n := range names {
		waiting[n] = len(deps[n])
		for _, d := range deps[n] {
			users[d] = append(users[d], n)
		}
	}
	ready := &nameHeap{}
	for _, n := range names {
		if waiting[n] == 0 {
			heap.Push(ready, n)
		}
	}
	out := make([]string, 0, len(names))
	for ready.Len() > 0 {
		n := heap.Pop(ready).(string)
		out = append(out, n)
		for _, u := range users[n] {
			if waiting[u]--; waiting[u] == 0 {
				heap.Push(ready, u)
			}
		}
	}
	return out
}

// nameHeap is a min-heap of names: the alphabetically first ready service
// is taken in O(log n).
type nameHeap []string

func (h nameHeap) Len() int           { return len(h) }
func (h nameHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h nameHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nameHeap) Push(x any)        { *h = append(*h, x.(string)) }
func (h *nameHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// canonicalCycle rotates a cycle to start at its alphabetically first name.
func canonicalCycle(c []string) []string {
	i := slices.Index(c, slices.Min(c))
	return append(slices.Clone(c[i:]), c[:i]...)
}
