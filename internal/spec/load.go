package spec

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Defaults the loader fills in; docs/spec.md lists them all.
const (
	// DefaultListen is the router's listen address when the spec sets none.
	DefaultListen = "127.0.0.1:8080"
	// DefaultPort is the container port of docker services that set none.
	DefaultPort = 8080
	// DefaultPreviewHeader routes blue/green preview requests.
	DefaultPreviewHeader = "X-Berth-Preview"
)

func builtinHealth() *Health {
	return &Health{
		Path:      "/health",
		Interval:  Duration(1e9),
		Timeout:   Duration(1e9),
		Healthy:   1,
		Unhealthy: 3,
		Grace:     0,
		Deadline:  Duration(60e9),
	}
}

func builtinHeal() *Heal {
	return &Heal{MaxRestarts: DefaultHealMaxRestarts, Window: DefaultHealWindow}
}

func builtinDeploy() *Deploy {
	return &Deploy{
		Strategy:       "rolling",
		MaxSurge:       ptr(1),
		MaxUnavailable: ptr(0),
		Drain:          Duration(10e9),
		CircuitBreaker: 3,
		Analysis: &Analysis{
			Max5xxRate:  5,
			MaxP99:      0,
			MinRequests: 20,
			Window:      Duration(10e9),
		},
	}
}

// builtinSteps and builtinPause apply to canaries that set neither steps
// nor linear (and no pause).
var builtinSteps = []Step{{Percent: 10}, {Percent: 50}, {Percent: 100}}

const builtinPause = Duration(30e9)

// Load reads, defaults and validates the spec file at path.
// Validation problems come back together as an *Error (errors.Is
// ErrInvalid).
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load spec: %w", err)
	}
	return Parse(path, data)
}

// Parse defaults and validates data as the spec file at path. Root is the
// absolute directory of path; services_from and dir defaults look at the
// file system under it.
func Parse(path string, data []byte) (*Spec, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("parse spec %s: %w", path, err)
	}
	l := &loader{ps: &problems{file: path}, warnings: &problems{file: path}, root: filepath.Dir(abs)}
	l.fsys = os.DirFS(l.root)

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		l.ps.add(syntaxProblem(data, err))
		return nil, l.ps.err()
	}
	var top *yaml.Node
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		top = resolve(doc.Content[0])
	}
	if top == nil || isNull(top) {
		l.ps.add(Problem{Line: 1, Path: "project", Message: "the spec is empty", Hint: "start with `project: <name>` and `services:`"})
		return nil, l.ps.err()
	}
	if top.Kind != yaml.MappingNode {
		l.ps.add(Problem{Line: top.Line, Column: top.Column, Message: "expected a mapping of keys at the top level, got " + kindName(top)})
		return nil, l.ps.err()
	}

	if p, over := checkExpansion(top); over {
		l.ps.add(p)
		return nil, l.ps.err()
	}

	s := &Spec{Path: abs, Root: l.root}
	d := &decoder{ps: l.ps}
	d.decode(top, reflect.ValueOf(s).Elem(), "")
	l.set, l.failed = d.set, d.failed
	l.assemble(s, top)
	l.validate(s)
	if err := l.ps.err(); err != nil {
		return nil, err
	}
	if w := l.warnings.err(); w != nil {
		s.Warnings = w.(*Error).Problems
	}
	return s, nil
}

// loader holds what assembling and validating one spec file needs.
type loader struct {
	ps *problems
	// warnings collects what is valid but has no effect (Spec.Warnings).
	warnings *problems
	root     string
	// fsys is the file system under root: the only I/O after the file is read.
	fsys fs.FS
	// set maps every key path written in the file to its position.
	set map[string]position
	// failed holds the key paths decoding already reported; failedBy
	// indexes them by owner (built by hasFailed).
	failed   map[string]bool
	failedBy map[string][]string
}

var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxProblem turns a yaml.v3 parse error into a Problem with its line.
// yaml.v3 reports parser errors (as opposed to scanner errors) at the line
// before the enclosing block, so for those the line is found again: it is
// the last line of the shortest prefix of the file that fails to parse.
func syntaxProblem(data []byte, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if strings.HasPrefix(msg, "did not find expected key") ||
		strings.HasPrefix(msg, "did not find expected node content") ||
		strings.HasPrefix(msg, "did not find expected '-' indicator") ||
		strings.HasPrefix(msg, "did not find expected ',' or") ||
		strings.HasPrefix(msg, "did not find expected <document start>") {
		if l := firstFailingLine(data, line); l > 0 {
			line = l
		}
	}
	return Problem{Line: line, Message: "invalid YAML: " + msg}
}

// firstFailingLine returns n such that the first n lines of data do not
// parse but the first n-1 do, or 0 when all of data parses. It bisects, so
// a large spec costs O(log lines) parses: no prefix of zero lines fails and
// the whole file does, so a boundary lies between them. (When a later line
// can make an earlier failing prefix parse again, such as a flow sequence
// closed further down, any boundary found is a line where the file stops
// parsing.) after is the line the parser reported, a hint where to start.
func firstFailingLine(data []byte, after int) int {
	lines := strings.SplitAfter(string(data), "\n")
	fails := func(n int) bool {
		var node yaml.Node
		return yaml.Unmarshal([]byte(strings.Join(lines[:n], "")), &node) != nil
	}
	if !fails(len(lines)) {
		return 0
	}
	ok, bad := 0, len(lines) // prefix(ok) parses, prefix(bad) fails
	if after > 1 && after < len(lines) && !fails(after-1) {
		ok = after - 1 // the parser reports a line at or before the error
	}
	for bad-ok > 1 {
		mid := ok + (bad-ok)/2
		if fails(mid) {
			bad = mid
		} else {
			ok = mid
		}
	}
	return bad
}

// child returns the value node of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	return children(n)[key]
}

// children maps every key of mapping n (merge keys expanded) to its
// resolved value node; the last one wins, as in decoding. It is nil when n
// is not a mapping.
func children(n *yaml.Node) map[string]*yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	ps := pairs(n)
	out := make(map[string]*yaml.Node, len(ps))
	for _, kv := range ps {
		out[resolve(kv[0]).Value] = resolve(kv[1])
	}
	return out
}

// assemble builds every service from, in order: built-in defaults, the
// spec's defaults:, what services_from discovered, and the service's own
// keys. Later layers win field by field.
func (l *loader) assemble(s *Spec, top *yaml.Node) {
	if s.Engine == "" {
		s.Engine = "auto"
	}
	if s.Listen == "" {
		s.Listen = DefaultListen
	}
	if s.MaxCount == 0 {
		s.MaxCount = DefaultMaxCount
	}
	for i := range s.Notify {
		if s.Notify[i].Format == "" {
			s.Notify[i].Format = "json"
		}
	}

	discovered := l.discover(s)
	names := map[string]bool{}
	for name := range discovered {
		names[name] = true
	}
	for name := range s.Services {
		names[name] = true
	}
	defaults := children(child(top, "defaults"))
	servicesNode := children(child(top, "services"))
	quiet := &decoder{}

	services := make(map[string]*Service, len(names))
	for name := range names {
		svc := &Service{Name: name, Health: builtinHealth(), Deploy: builtinDeploy(), Count: ptr(1), Heal: builtinHeal()}
		v := reflect.ValueOf(svc).Elem()
		for _, key := range []string{"health", "deploy", "count", "env", "secrets", "config", "heal", "cpu", "memory"} {
			if n := defaults[key]; n != nil {
				quiet.decode(n, v.FieldByIndex(serviceField(key)), "")
			}
		}
		if d, ok := discovered[name]; ok {
			svc.Dir, svc.Build, svc.Line = d.Dir, d.Build, d.Line
		}
		if n := servicesNode[name]; n != nil {
			quiet.decode(n, v, "")
			svc.Line = l.set["services."+name].line
		}
		if svc.MaxCount == 0 {
			svc.MaxCount = s.MaxCount
		}
		l.fill(svc)
		services[name] = svc
	}
	s.Services = services
}

// serviceField is the index path of Service's field for a yaml key.
func serviceField(key string) []int {
	for _, f := range fieldsOf(reflect.TypeFor[Service]()) {
		if f.key == key {
			return []int{f.index}
		}
	}
	panic("spec: Service has no key " + key)
}

// fill sets the defaults that depend on the rest of the service.
func (l *loader) fill(svc *Service) {
	if svc.Port == 0 && (svc.Image != "" || svc.Build.Docker()) {
		svc.Port = DefaultPort
	}
	if svc.Dir == "" {
		svc.Dir = "."
		if l.isDir("services/" + svc.Name) {
			svc.Dir = "services/" + svc.Name
		}
	}
	if svc.Build.Docker() {
		if svc.Build.Context == "" {
			svc.Build.Context = svc.Dir
		}
		if svc.Build.Dockerfile == "" {
			svc.Build.Dockerfile = "Dockerfile"
		}
	}
	if svc.Health.Kind() == HealthHTTP && svc.Health.Path == "" {
		svc.Health.Path = builtinHealth().Path
	}
	if sc := svc.Scale; sc != nil {
		if sc.Min == nil {
			sc.Min = ptr(1)
		}
		if sc.UpCooldown == 0 && !l.isSet(svc.Name, "scale.up_cooldown") {
			sc.UpCooldown = DefaultUpCooldown
		}
		if sc.DownCooldown == 0 && !l.isSet(svc.Name, "scale.down_cooldown") {
			sc.DownCooldown = DefaultDownCooldown
		}
	}
	d := svc.Deploy
	if d.Analysis == nil {
		d.Analysis = builtinDeploy().Analysis
	}
	switch d.Strategy {
	case "canary":
		if len(d.Steps) == 0 && d.Linear == nil {
			d.Steps = append([]Step(nil), builtinSteps...)
			d.StepsDefaulted = true
		}
		if d.Pause == 0 && !l.isSet(svc.Name, "deploy.pause") {
			d.Pause = builtinPause
		}
	case "bluegreen":
		if d.Preview == nil {
			d.Preview = &Preview{}
		}
	}
	if d.Preview != nil && d.Preview.Header == "" {
		d.Preview.Header = DefaultPreviewHeader
	}
}

// isSet reports whether a service-relative key was written for the
// service or under defaults:.
func (l *loader) isSet(name, rel string) bool {
	_, a := l.set["services."+name+"."+rel]
	_, b := l.set["defaults."+rel]
	return a || b
}

func (l *loader) isDir(rel string) bool {
	fi, err := fs.Stat(l.fsys, rel)
	return err == nil && fi.IsDir()
}

// discover finds the services services_from names: directories matching
// the glob that hold a Dockerfile.
func (l *loader) discover(s *Spec) map[string]*Service {
	if s.ServicesFrom == "" {
		return nil
	}
	at := l.set["services_from"]
	fail := func(msg, hint string) {
		l.ps.add(Problem{Line: at.line, Column: at.column, Path: "services_from", Message: msg, Hint: hint})
	}
	pattern := strings.TrimPrefix(path.Clean(filepath.ToSlash(s.ServicesFrom)), "./")
	if !fs.ValidPath(pattern) {
		fail(fmt.Sprintf("%q must be a relative path inside the project", s.ServicesFrom), "write e.g. services_from: services/*")
		return nil
	}
	matches, err := fs.Glob(l.fsys, pattern)
	if err != nil {
		fail(fmt.Sprintf("invalid glob %q: %v", s.ServicesFrom, err), "")
		return nil
	}
	sort.Strings(matches)
	found := map[string]*Service{}
	for _, m := range matches {
		if !l.isDir(m) {
			continue
		}
		fi, err := fs.Stat(l.fsys, m+"/Dockerfile")
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		name := path.Base(m)
		if !serviceName.MatchString(name) {
			fail(fmt.Sprintf("directory %s does not make a valid service name", m), nameHints[serviceName]+"; rename the directory")
			continue
		}
		if prev, dup := found[name]; dup {
			fail(fmt.Sprintf("directories %s and %s both make service %q", prev.Dir, m, name), "rename one of them")
			continue
		}
		found[name] = &Service{Name: name, Dir: m, Line: at.line, Build: &Build{Context: m, Dockerfile: "Dockerfile"}}
	}
	return found
}
