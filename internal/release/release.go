package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/spec"
)

// Config is what a release stores and runs: the resolved service spec,
// the webhooks told about its deployments and, for releases that run on
// the CLI's machine (artifacts and run: commands), the project root that
// relative paths and commands resolve against. Image releases carry no
// root: nothing of the CLI's machine.
type Config struct {
	// Root is the project directory commands run in; empty for images.
	Root string `json:"root,omitempty"`
	// Service is the resolved service spec.
	Service *spec.Service `json:"service"`
	// Notify lists the webhooks told about this release's deployments.
	Notify []spec.Notify `json:"notify,omitempty"`
}

// ForArtifact is the config of a release that runs on this machine: an
// artifact or a run: command, in the project's root, with <DEP>_URL for
// its depends_on (see taskService).
func ForArtifact(sp *spec.Spec, s *spec.Service) Config {
	return Config{Root: sp.Root, Service: taskService(sp, s), Notify: sp.Notify}
}

// ForImage is the config of a release that runs an image: the service as
// a container runs it (a service built from a command runs the image's
// entrypoint, not its run: line, and listens on the default port unless
// it names one), with no path of this machine but its bind mounts' (made
// absolute) and <DEP>_URL for its depends_on (see taskService).
func ForImage(sp *spec.Spec, s *spec.Service) Config {
	c := *taskService(sp, s)
	if c.Build != nil && !c.Build.Docker() && c.Image == "" {
		c.Run = ""
	}
	if c.Port == 0 {
		c.Port = spec.DefaultPort
	}
	return Config{Service: &c, Notify: sp.Notify}
}

// MaxSize is the largest encoded config Decode accepts.
const MaxSize = 1 << 20

// Encode returns c as JSON.
func (c Config) Encode() (json.RawMessage, error) {
	if c.Service == nil {
		return nil, errors.New("encode release config: no service")
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode release config of %s: %w", c.Service.Name, err)
	}
	return raw, nil
}

// Decode reads a config written by Encode. Unknown keys and wrong types
// are errors naming the field; Decode does not validate (see Validate).
func Decode(raw []byte) (Config, error) {
	var c Config
	if len(raw) > MaxSize {
		return c, &FieldError{Field: "config", Problem: fmt.Sprintf("is %d bytes, more than the %d allowed", len(raw), MaxSize)}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, decodeError(err)
	}
	if dec.More() {
		return Config{}, &FieldError{Field: "config", Problem: "has data after the JSON object"}
	}
	if c.Service == nil {
		return Config{}, &FieldError{Field: "service", Problem: "is missing"}
	}
	return c, nil
}

// decodeError names the field a JSON error is about.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "config"
		}
		return &FieldError{Field: field, Problem: fmt.Sprintf("must be %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &FieldError{Field: "config", Problem: fmt.Sprintf("is not valid JSON at byte %d: %v", se.Offset, err)}
	}
	msg := err.Error()
	if k, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return &FieldError{Field: strings.Trim(k, `"`), Problem: "is not a release config key"}
	}
	return &FieldError{Field: "config", Problem: strings.TrimPrefix(msg, "json: ")}
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "float64", "uint", "uint64":
		return "a number"
	case "ptr", "struct", "map":
		return "an object"
	case "slice":
		return "a list"
	case "bool":
		return "true or false"
	}
	return "a " + k
}

// FieldError is a config that cannot run, naming the field at fault.
type FieldError struct {
	// Field is the dotted path of the key, e.g. "service.health.interval".
	Field string
	// Problem says what is wrong with it.
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Limits bound what Validate accepts beyond what can run at all.
type Limits struct {
	// MaxCount is the largest task count of one service; DefaultMaxCount
	// when zero.
	MaxCount int
}

// DefaultMaxCount is the largest task count of one service unless the
// release sets max_count or the control plane is configured otherwise.
const DefaultMaxCount = spec.DefaultMaxCount

// maxMaxCount bounds max_count itself.
const maxMaxCount = 10_000

// maxDuration bounds every duration of a config: anything longer is a
// typo, not a setting.
const maxDuration = spec.Duration(7 * 24 * time.Hour)

// Validate rejects what cannot run, naming the field, and applies the
// built-in defaults to the keys the config's sections leave unset. The
// health: and deploy: sections must be present (a release carries the
// resolved spec); a key in them left zero gets its default. It changes
// c.Service in place.
func (c *Config) Validate(lim Limits) error {
	if lim.MaxCount <= 0 {
		lim.MaxCount = DefaultMaxCount
	}
	s := c.Service
	if s == nil {
		return &FieldError{Field: "service", Problem: "is missing"}
	}
	bad := func(field, format string, a ...any) error {
		return &FieldError{Field: "service." + field, Problem: fmt.Sprintf(format, a...)}
	}
	if !spec.ValidServiceName(s.Name) {
		return bad("name", "%q is not a service name (lower-case letters, digits and dashes, starting with a letter)", s.Name)
	}
	if s.MaxCount < 0 || s.MaxCount > maxMaxCount {
		return bad("max_count", "%d is outside 0..%d", s.MaxCount, maxMaxCount)
	}
	if s.MaxCount > 0 {
		// The spec's own maximum (max_count:) wins over the control plane's default.
		lim.MaxCount = s.MaxCount
	}
	if s.Count != nil && (*s.Count < 0 || *s.Count > lim.MaxCount) {
		return bad("count", "%d is outside 0..%d (max_count)", *s.Count, lim.MaxCount)
	}
	if s.Port < 0 || s.Port > 65535 {
		return bad("port", "%d is not a port", s.Port)
	}
	for i, d := range s.DependsOn {
		if !spec.ValidServiceName(d) {
			return bad(fmt.Sprintf("depends_on[%d]", i), "%q is not a service name", d)
		}
	}
	for k := range s.Env {
		if !spec.ValidEnvName(k) {
			return bad("env."+k, "is not an environment variable name")
		}
	}
	if err := validateHealth(s, bad); err != nil {
		return err
	}
	if r := s.Route; r != nil {
		if r.Host == "" && len(r.Hosts) == 0 && r.Path == "" && !r.Default {
			return bad("route", "matches nothing")
		}
		if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
			return bad("route.path", "%q must start with /", r.Path)
		}
	}
	return validateDeploy(s, bad)
}

func validateHealth(s *spec.Service, bad func(string, string, ...any) error) error {
	def := spec.BuiltinHealth()
	if s.Health == nil {
		return bad("health", "is missing: a release carries the resolved spec (berth fills the defaults when it loads berth.yaml; ForArtifact and ForImage keep them)")
	}
	h := s.Health
	if h.Kind() == spec.HealthHTTP {
		if h.Path == "" {
			h.Path = def.Path
		}
		if !strings.HasPrefix(h.Path, "/") {
			return bad("health.path", "%q must start with /", h.Path)
		}
	}
	for _, d := range []struct {
		name string
		v    *spec.Duration
		def  spec.Duration
	}{{"interval", &h.Interval, def.Interval}, {"timeout", &h.Timeout, def.Timeout}, {"deadline", &h.Deadline, def.Deadline}, {"grace", &h.Grace, def.Grace}} {
		if *d.v == 0 {
			*d.v = d.def
		}
		if *d.v < 0 || *d.v > maxDuration {
			return bad("health."+d.name, "%s is outside 0s..%s", time.Duration(*d.v), time.Duration(maxDuration))
		}
	}
	if h.Healthy == 0 {
		h.Healthy = def.Healthy
	}
	if h.Unhealthy == 0 {
		h.Unhealthy = def.Unhealthy
	}
	if h.Healthy < 0 || h.Healthy > 100 {
		return bad("health.healthy", "%d is outside 1..100", h.Healthy)
	}
	if h.Unhealthy < 0 || h.Unhealthy > 100 {
		return bad("health.unhealthy", "%d is outside 1..100", h.Unhealthy)
	}
	return nil
}

func validateDeploy(s *spec.Service, bad func(string, string, ...any) error) error {
	def := spec.BuiltinDeploy()
	if s.Deploy == nil {
		return bad("deploy", "is missing: a release carries the resolved spec (berth fills the defaults when it loads berth.yaml; ForArtifact and ForImage keep them)")
	}
	d := s.Deploy
	if d.Strategy == "" {
		d.Strategy = def.Strategy
	}
	if !spec.ValidStrategy(d.Strategy) {
		return bad("deploy.strategy", "%q is not rolling, bluegreen or canary", d.Strategy)
	}
	if d.MaxSurge == nil {
		d.MaxSurge = def.MaxSurge
	}
	if d.MaxUnavailable == nil {
		d.MaxUnavailable = def.MaxUnavailable
	}
	if *d.MaxSurge < 0 || *d.MaxSurge > 1000 {
		return bad("deploy.max_surge", "%d is outside 0..1000", *d.MaxSurge)
	}
	if *d.MaxUnavailable < 0 || *d.MaxUnavailable > 1000 {
		return bad("deploy.max_unavailable", "%d is outside 0..1000", *d.MaxUnavailable)
	}
	if d.Strategy == "rolling" && *d.MaxSurge == 0 && *d.MaxUnavailable == 0 {
		return bad("deploy.max_surge", "max_surge and max_unavailable are both 0, so a rolling deployment could never progress")
	}
	if d.CircuitBreaker < 0 {
		return bad("deploy.circuit_breaker", "%d must not be negative", d.CircuitBreaker)
	}
	for _, x := range []struct {
		name string
		v    spec.Duration
	}{{"drain", d.Drain}, {"pause", d.Pause}, {"bake", d.Bake}} {
		if x.v < 0 || x.v > maxDuration {
			return bad("deploy."+x.name, "%s is outside 0s..%s", time.Duration(x.v), time.Duration(maxDuration))
		}
	}
	if d.Strategy != "canary" && (len(d.Steps) > 0 || d.Linear != nil) {
		return bad("deploy.steps", "steps and linear only apply to strategy canary")
	}
	if d.Strategy == "canary" {
		if len(d.Steps) > 0 && d.Linear != nil {
			return bad("deploy.linear", "set either steps or linear, not both")
		}
		if len(d.Steps) == 0 && d.Linear == nil {
			return bad("deploy.steps", "a canary needs steps or linear")
		}
		last := 0
		for i, st := range d.Steps {
			if st.Gate {
				continue
			}
			if st.Percent <= last || st.Percent > 100 {
				return bad(fmt.Sprintf("deploy.steps[%d]", i), "%d%% must be more than %d%% and at most 100%%", st.Percent, last)
			}
			last = st.Percent
		}
		if len(d.Steps) > 0 && last != 100 {
			return bad("deploy.steps", "canary steps must end at 100%%")
		}
		if lin := d.Linear; lin != nil {
			if lin.Step <= 0 || lin.Step > 100 || math.IsNaN(float64(lin.Step)) {
				return bad("deploy.linear.step", "must be more than 0%% and at most 100%%")
			}
			if lin.Every <= 0 || lin.Every > maxDuration {
				return bad("deploy.linear.every", "%s is outside 0s..%s", time.Duration(lin.Every), time.Duration(maxDuration))
			}
		}
	}
	if d.Analysis == nil {
		d.Analysis = def.Analysis
	}
	a := d.Analysis
	if a.Window == 0 {
		a.Window = def.Analysis.Window
	}
	if a.Window < 0 || a.Window > maxDuration {
		return bad("deploy.analysis.window", "%s is outside 0s..%s", time.Duration(a.Window), time.Duration(maxDuration))
	}
	if a.Max5xxRate < 0 || a.Max5xxRate > 100 || math.IsNaN(float64(a.Max5xxRate)) {
		return bad("deploy.analysis.max_5xx_rate", "must be from 0%% to 100%%")
	}
	if a.MaxP99 < 0 {
		return bad("deploy.analysis.max_p99", "must not be negative")
	}
	if a.MinRequests < 0 {
		return bad("deploy.analysis.min_requests", "must not be negative")
	}
	for i, p := range a.Smoke {
		if !strings.HasPrefix(p, "/") {
			return bad(fmt.Sprintf("deploy.analysis.smoke[%d]", i), "%q must start with /", p)
		}
	}
	if d.Preview == nil && d.Strategy == "bluegreen" {
		d.Preview = &spec.Preview{}
	}
	if d.Preview != nil && d.Preview.Header == "" {
		d.Preview.Header = spec.DefaultPreviewHeader
	}
	return nil
}

// MaxCount is the largest task count of the release's service: its
// max_count when set, else def.
func (c Config) MaxCount(def int) int {
	if c.Service != nil && c.Service.MaxCount > 0 {
		return c.Service.MaxCount
	}
	return def
}

// Count is the task count the config asks for: 1 when it names none.
func (c Config) Count() int {
	if c.Service == nil || c.Service.Count == nil {
		return 1
	}
	return *c.Service.Count
}

// Fingerprint is a stable hash of what makes two releases run the same:
// the root and the service, leaving out the count (scaling is not a new
// release) and the webhooks.
func (c Config) Fingerprint() (string, error) {
	if c.Service == nil {
		return "", errors.New("fingerprint release config: no service")
	}
	s := *c.Service
	s.Count = nil
	raw, err := json.Marshal(Config{Root: c.Root, Service: &s})
	if err != nil {
		return "", fmt.Errorf("fingerprint release config of %s: %w", s.Name, err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}
