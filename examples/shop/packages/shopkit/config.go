package shopkit

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// ErrConfig marks an invalid environment setting (a malformed PORT or CHAOS_* value).
var ErrConfig = errors.New("invalid shop configuration")

// DefaultPort is the port a service listens on when PORT is unset.
const DefaultPort = "8080"

// DefaultDrain is how long a shutdown waits for in-flight requests.
const DefaultDrain = 25 * time.Second

// Version is what GET /version reports: which build of which service answers.
type Version struct {
	Service string `json:"service"`
	Release string `json:"release"`
	Commit  string `json:"commit"`
}

// Chaos holds the fault knobs, each off at its zero value.
type Chaos struct {
	// FailHealth makes /health answer 503 (CHAOS_HEALTH=fail).
	FailHealth bool
	// ErrorRate is the share, 0..1, of non-health requests answered with 500
	// (CHAOS_ERROR_RATE).
	ErrorRate float64
	// Latency is added to every non-health request (CHAOS_LATENCY).
	Latency time.Duration
	// ExitAfter makes the process exit with code 3 this long after it
	// started serving (CHAOS_EXIT_AFTER).
	ExitAfter time.Duration
	// ReadyAfter makes /health answer 503 until this long after the
	// process started serving, like a slow-starting service
	// (CHAOS_READY_AFTER).
	ReadyAfter time.Duration
}

// ExitCodeChaos is the exit code of a process ended by CHAOS_EXIT_AFTER.
const ExitCodeChaos = 3

// Config is everything shopkit reads from the environment.
type Config struct {
	// Addr is the listen address, 0.0.0.0:$PORT, so the service is reachable
	// both as a local process and from outside a container. SHOP_HOST
	// replaces 0.0.0.0 (127.0.0.1 keeps a local process private).
	Addr string
	// Prefix is the service's path prefix ("/catalog"); "" for a service on
	// the default route.
	Prefix  string
	Version Version
	// DebugEnv enables GET /debug/env/NAME (SHOP_DEBUG_ENV=1).
	DebugEnv bool
	Chaos    Chaos
	// Drain bounds how long shutdown waits for in-flight requests.
	Drain time.Duration
	// LookupEnv reads the process environment; routes use it for their own
	// settings (CATALOG_URL) and the debug endpoint to answer.
	LookupEnv func(name string) (string, bool)
}

// Getenv returns the value of the environment variable name, "" when unset.
func (c Config) Getenv(name string) string {
	if c.LookupEnv == nil {
		return ""
	}
	v, _ := c.LookupEnv(name)
	return v
}

// LoadConfig builds a service's Config from the environment read through
// lookup (os.LookupEnv in production). name is the service's name, used when
// BERTH_SERVICE is unset; prefix is its path prefix, which SHOP_PREFIX
// overrides.
func LoadConfig(name, prefix string, lookup func(string) (string, bool)) (Config, error) {
	get := func(k string) string {
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	c := Config{
		Prefix:    normalizePrefix(prefix),
		Drain:     DefaultDrain,
		LookupEnv: lookup,
		Version: Version{
			Service: name,
			Release: get("BERTH_RELEASE"),
			Commit:  get("BERTH_COMMIT"),
		},
		DebugEnv: get("SHOP_DEBUG_ENV") == "1",
	}
	if s := get("BERTH_SERVICE"); s != "" {
		c.Version.Service = s
	}
	if p, ok := lookup("SHOP_PREFIX"); ok {
		c.Prefix = normalizePrefix(p)
	}
	host, port := "0.0.0.0", DefaultPort
	if h := get("SHOP_HOST"); h != "" {
		host = h
	}
	if p := get("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			return Config{}, fmt.Errorf("PORT=%q: want a port number: %w", p, ErrConfig)
		}
		port = p
	}
	c.Addr = net.JoinHostPort(host, port)

	switch v := get("CHAOS_HEALTH"); v {
	case "":
	case "fail":
		c.Chaos.FailHealth = true
	default:
		return Config{}, fmt.Errorf("CHAOS_HEALTH=%q: want \"fail\" or unset: %w", v, ErrConfig)
	}
	if v := get("CHAOS_ERROR_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r < 0 || r > 1 {
			return Config{}, fmt.Errorf("CHAOS_ERROR_RATE=%q: want a share between 0 and 1: %w", v, ErrConfig)
		}
		c.Chaos.ErrorRate = r
	}
	var err error
	if c.Chaos.Latency, err = parseDuration("CHAOS_LATENCY", get("CHAOS_LATENCY")); err != nil {
		return Config{}, err
	}
	if c.Chaos.ExitAfter, err = parseDuration("CHAOS_EXIT_AFTER", get("CHAOS_EXIT_AFTER")); err != nil {
		return Config{}, err
	}
	if c.Chaos.ReadyAfter, err = parseDuration("CHAOS_READY_AFTER", get("CHAOS_READY_AFTER")); err != nil {
		return Config{}, err
	}
	if c.Drain, err = parseDuration("SHOP_DRAIN", get("SHOP_DRAIN")); err != nil {
		return Config{}, err
	}
	if c.Drain == 0 {
		c.Drain = DefaultDrain
	}
	return c, nil
}

func parseDuration(key, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%q: want a duration such as 200ms: %w", key, v, ErrConfig)
	}
	return d, nil
}

// normalizePrefix turns "catalog", "/catalog/" and "/catalog" into
// "/catalog", and "" or "/" into "" (the default route).
func normalizePrefix(p string) string {
	p = strings.Trim(strings.TrimSpace(p), "/")
	if p == "" {
		return ""
	}
	return "/" + p
}
