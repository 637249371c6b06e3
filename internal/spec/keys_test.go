package spec

import (
	"errors"
	"net"
	"path"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParse_HealthKinds(t *testing.T) {
	s := mustParse(t, `project: p
defaults:
  health: {path: /ready, interval: 2s}
services:
  web: {run: ./web, route: {path: /}}
  db: {run: ./db, health: {tcp: true}}
  cache: {run: ./c, health: {command: [redis-cli, ping], timeout: 3s}}
  worker: {run: ./w, health: none}
`)
	for _, tc := range []struct {
		svc, kind, path string
		command         []string
	}{
		{"web", HealthHTTP, "/ready", nil},
		{"db", HealthTCP, "", nil},
		{"cache", HealthCommand, "", []string{"redis-cli", "ping"}},
		{"worker", HealthNone, "", nil},
	} {
		h := s.Services[tc.svc].Health
		if h.Kind() != tc.kind || h.Path != tc.path || !reflect.DeepEqual(h.Command, tc.command) {
			t.Errorf("%s: kind %q path %q command %q; want %q %q %q", tc.svc, h.Kind(), h.Path, h.Command, tc.kind, tc.path, tc.command)
		}
		// Timing keys still layer from defaults whatever the kind.
		if h.Interval.Std() != 2*time.Second {
			t.Errorf("%s: interval %v, want the default 2s", tc.svc, h.Interval)
		}
	}
	if s.Services["worker"].Route != nil {
		t.Errorf("worker got a route: %+v", s.Services["worker"].Route)
	}
	if s.Services["cache"].Health.Timeout.Std() != 3*time.Second {
		t.Errorf("cache timeout = %v", s.Services["cache"].Health.Timeout)
	}
}

func TestParse_HealthNoneInDefaultsIsReplacedByAServiceCheck(t *testing.T) {
	s := mustParse(t, "project: p\ndefaults: {health: none}\nservices:\n  a: {run: x}\n  b: {run: x, health: {path: /up}}\n")
	if k := s.Services["a"].Health.Kind(); k != HealthNone {
		t.Errorf("a: kind %q, want none", k)
	}
	if h := s.Services["b"].Health; h.Kind() != HealthHTTP || h.Path != "/up" {
		t.Errorf("b: %+v, want HTTP /up", h)
	}
}

func TestParse_ImageServiceVolumesAndPorts(t *testing.T) {
	s := mustParse(t, `project: p
services:
  db:
    image: postgres:16
    health: {tcp: true}
    volumes: [pgdata:/var/lib/postgresql/data, ./init:/docker-entrypoint-initdb.d:ro]
    ports: [5432, "15433:5433", "127.0.0.1:16379:6379/tcp"]
`)
	db := s.Services["db"]
	wantV := []Volume{
		{Source: "pgdata", Target: "/var/lib/postgresql/data"},
		{Source: "./init", Target: "/docker-entrypoint-initdb.d", ReadOnly: true, Bind: true},
	}
	if !reflect.DeepEqual(db.Volumes, wantV) {
		t.Errorf("volumes = %+v, want %+v", db.Volumes, wantV)
	}
	wantP := []PortMapping{{Container: 5432, Protocol: "tcp"}, {Host: 15433, Container: 5433, Protocol: "tcp"}, {Host: 16379, Container: 6379, Protocol: "tcp"}}
	if !reflect.DeepEqual(db.Ports, wantP) {
		t.Errorf("ports = %+v, want %+v", db.Ports, wantP)
	}
	if db.Ports[0].HostPort() != 5432 || db.Ports[1].HostPort() != 15433 {
		t.Errorf("host ports = %d, %d", db.Ports[0].HostPort(), db.Ports[1].HostPort())
	}
	// JSON round trip (releases are stored as JSON).
	c, err := s.Clone()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Services["db"].Volumes, wantV) || !reflect.DeepEqual(c.Services["db"].Ports, wantP) {
		t.Errorf("clone lost volumes or ports: %+v %+v", c.Services["db"].Volumes, c.Services["db"].Ports)
	}
	if err := s.CheckEngine("docker", nil); err != nil {
		t.Errorf("CheckEngine(docker) = %v", err)
	}
	if err := s.CheckEngine("process", []*Service{}); err != nil {
		t.Errorf("CheckEngine(process) of no service = %v", err)
	}
	err = s.CheckEngine("process", nil)
	if !errors.Is(err, ErrNeedsDocker) || !strings.Contains(err.Error(), "service db: image, volumes, ports") || !strings.Contains(err.Error(), "--engine docker") {
		t.Errorf("CheckEngine(process) = %v", err)
	}
}

func TestParse_ScaleHealAndMaxCount(t *testing.T) {
	s := mustParse(t, `project: p
max_count: 40
services:
  web:
    run: ./web
    scale: {min: 2, max: 20, target: {rps_per_task: 200}}
  api:
    run: ./api
    max_count: 8
    heal: {max_restarts: 3}
    scale: {max: 8, target: {cpu: 60%}, up_cooldown: 10s, down_cooldown: 0s}
  lat: {run: ./l, scale: {max: 4, target: {p99: 300ms}}}
  mem: {run: ./m, scale: {max: 4, target: {memory: 70%}}}
`)
	web, api := s.Services["web"], s.Services["api"]
	if web.Scale.MinCount() != 2 || web.Scale.Max != 20 || web.Scale.Target.Metric() != MetricRPSPerTask || web.Scale.Target.RPSPerTask != 200 {
		t.Errorf("web scale = %+v target %+v", web.Scale, web.Scale.Target)
	}
	if web.Scale.UpCooldown != DefaultUpCooldown || web.Scale.DownCooldown != DefaultDownCooldown {
		t.Errorf("web cooldowns = %v, %v; want the defaults", web.Scale.UpCooldown, web.Scale.DownCooldown)
	}
	if api.Scale.MinCount() != 1 || api.Scale.Target.Metric() != MetricCPU || api.Scale.Target.CPU != 60 || api.Scale.UpCooldown.Std() != 10*time.Second || api.Scale.DownCooldown != 0 {
		t.Errorf("api scale = %+v", api.Scale)
	}
	if m := s.Services["lat"].Scale.Target; m.Metric() != MetricP99 || m.P99.Std() != 300*time.Millisecond {
		t.Errorf("lat target = %+v", m)
	}
	if m := s.Services["mem"].Scale.Target; m.Metric() != MetricMemory || m.Memory != 70 {
		t.Errorf("mem target = %+v", m)
	}
	if web.MaxCount != 40 || api.MaxCount != 8 {
		t.Errorf("max counts = %d, %d; want 40 (top level), 8 (own)", web.MaxCount, api.MaxCount)
	}
	if *web.Heal != (Heal{MaxRestarts: 5, Window: Duration(10 * time.Minute)}) {
		t.Errorf("web heal = %+v, want the defaults 5 in 10m", *web.Heal)
	}
	if *api.Heal != (Heal{MaxRestarts: 3, Window: Duration(10 * time.Minute)}) {
		t.Errorf("api heal = %+v", *api.Heal)
	}
}

func TestParse_MaxCountDefaultsTo100(t *testing.T) {
	s := mustParse(t, "project: p\nservices:\n  a: {run: x, count: 100}\n")
	if s.MaxCount != 100 || s.Services["a"].MaxCount != 100 {
		t.Errorf("max counts = %d, %d", s.MaxCount, s.Services["a"].MaxCount)
	}
}

func TestParse_NewKeyErrors(t *testing.T) {
	for _, tt := range []struct{ name, src, want string }{
		{"count over default max", "project: p\nservices:\n  a: {run: x, count: 101}\n",
			`:3:15: services.a.count: count 101 is more than the maximum of 100 tasks (lower count, or raise max_count`},
		{"count over own max", "project: p\nservices:\n  a: {run: x, max_count: 3, count: 4}\n",
			`:3:29: services.a.count: count 4 is more than the maximum of 3 tasks`},
		{"max_count out of range", "project: p\nmax_count: 0\nservices:\n  a: {run: x}\n",
			`:2:12: max_count: must be at least 1, got 0`},
		{"health kind typo", "project: p\nservices:\n  a: {run: x, health: {tpc: true}}\n",
			`:3:24: services.a.health.tpc: unknown key "tpc" (did you mean "tcp"?)`},
		{"health two kinds", "project: p\nservices:\n  a: {run: x, health: {tcp: true, path: /h}}\n",
			`:3:15: services.a.health: health sets more than one kind of check`},
		{"health empty command", "project: p\nservices:\n  a: {run: x, health: {command: [\"\"]}}\n",
			`services.a.health.command[0]: health command has no program`},
		{"health scalar", "project: p\nservices:\n  a: {run: x, health: nope}\n",
			`:3:23: services.a.health: expected a mapping or none, got "nope"`},
		{"volume bad target", "project: p\nservices:\n  a: {image: x, volumes: [data:var]}\n",
			`:3:27: services.a.volumes[0]: volume target "var" must be an absolute path`},
		{"volume bad mode", "project: p\nservices:\n  a: {image: x, volumes: [\"data:/v:rx\"]}\n",
			`services.a.volumes[0]: invalid volume "data:/v:rx": mode "rx" is not ro or rw`},
		{"volume duplicate target", "project: p\nservices:\n  a: {image: x, volumes: [a:/v, b:/v]}\n",
			`services.a.volumes[1]: volume target /v is also mounted by volumes[0]`},
		{"port not loopback", "project: p\nservices:\n  a: {image: x, ports: [\"0.0.0.0:80:80\"]}\n",
			`services.a.ports[0]: invalid port "0.0.0.0:80:80": berth publishes ports on loopback only`},
		{"port out of range", "project: p\nservices:\n  a: {image: x, ports: [70000]}\n",
			`services.a.ports[0]: invalid port "70000"`},
		{"image under process engine", "project: p\nengine: process\nservices:\n  a: {image: postgres:16, ports: [5432]}\n",
			`:4:7: services.a.image: image, ports need the docker engine, but this spec runs on the process engine everywhere`},
		{"published port clash", "project: p\nservices:\n  a: {image: x, ports: [5432]}\n  b: {image: y, ports: [\"5432:5433\"]}\n",
			`:4:25: services.b.ports[0]: host port 5432/tcp is also published by a (line 3)`},
		{"published port is the router's", "project: p\nservices:\n  a: {image: x, ports: [\"8080:80\"]}\n",
			`services.a.ports[0]: host port 8080 is the router's listen port`},
		{"scale without max", "project: p\nservices:\n  a: {run: x, scale: {target: {cpu: 50%}}}\n",
			`services.a.scale: scale needs max`},
		{"scale without target", "project: p\nservices:\n  a: {run: x, scale: {max: 3}}\n",
			`services.a.scale: scale needs a target to track`},
		{"scale two targets", "project: p\nservices:\n  a: {run: x, scale: {max: 3, target: {cpu: 50%, rps_per_task: 10}}}\n",
			`services.a.scale.target: scale target sets cpu and rps_per_task: autoscaling tracks one metric`},
		{"scale target typo", "project: p\nservices:\n  a: {run: x, scale: {max: 3, target: {rps: 10}}}\n",
			`services.a.scale.target.rps: unknown key "rps" (did you mean "rps_per_task"?)`},
		{"scale min over max", "project: p\nservices:\n  a: {run: x, scale: {min: 5, max: 3, target: {cpu: 50%}}}\n",
			`services.a.scale.min: scale min 5 is more than max 3`},
		{"scale max over max_count", "project: p\nservices:\n  a: {run: x, scale: {max: 300, target: {cpu: 50%}}}\n",
			`services.a.scale.max: scale max 300 is more than the maximum of 100 tasks`},
		{"count outside scale", "project: p\nservices:\n  a: {run: x, count: 9, scale: {max: 3, target: {cpu: 50%}}}\n",
			`services.a.count: count 9 is outside scale's 1..3`},
		{"heal window zero", "project: p\nservices:\n  a: {run: x, heal: {window: 0}}\n",
			`services.a.heal.window: heal window must be more than 0s`},
		{"heal restarts zero", "project: p\nservices:\n  a: {run: x, heal: {max_restarts: 0}}\n",
			`services.a.heal.max_restarts: must be at least 1, got 0`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.src)
			got := problemsOf(t, err)
			for _, g := range got {
				if strings.HasPrefix(g, tt.want) || (!strings.HasPrefix(tt.want, ":") && strings.Contains(g, tt.want)) {
					return
				}
			}
			t.Errorf("missing problem %q\ngot:\n%s", tt.want, strings.Join(got, "\n"))
		})
	}
}

func TestParsePortMapping_Forms(t *testing.T) {
	for in, want := range map[string]PortMapping{
		"80":                {Container: 80, Protocol: "tcp"},
		"8080:80":           {Host: 8080, Container: 80, Protocol: "tcp"},
		"127.0.0.1:8080:80": {Host: 8080, Container: 80, Protocol: "tcp"},
		"[::1]:8080:80/udp": {Host: 8080, Container: 80, Protocol: "udp"},
		" 53/udp ":          {Container: 53, Protocol: "udp"},
	} {
		got, err := ParsePortMapping(in)
		if err != nil || got != want {
			t.Errorf("ParsePortMapping(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if again, err := ParsePortMapping(got.String()); err != nil || again.HostPort() != got.HostPort() || again.Container != got.Container {
			t.Errorf("round trip of %q through %q = %+v, %v", in, got.String(), again, err)
		}
	}
	for _, bad := range []string{"", ":", "a:b", "1:2:3:4", "80/sctp", "10.0.0.1:80:80", "0", "65536", "1:2:3"} {
		if _, err := ParsePortMapping(bad); err == nil {
			t.Errorf("ParsePortMapping(%q) accepted", bad)
		}
	}
}

func TestParseVolume_Forms(t *testing.T) {
	for _, bad := range []string{"", "data", "data:", ":/x", "da ta:/x", "data:/", "data:/x:ro:z", "data:rel"} {
		if _, err := ParseVolume(bad); err == nil {
			t.Errorf("ParseVolume(%q) accepted", bad)
		}
	}
	v, err := ParseVolume("/srv/data:/data:ro")
	if err != nil || !v.Bind || !v.ReadOnly || v.String() != "/srv/data:/data:ro" {
		t.Errorf("ParseVolume = %+v, %v", v, err)
	}
}

// FuzzParsePortMapping: no input panics; whatever is accepted is a valid
// mapping that reads back the same from its String; and for the plain
// HOST:CONTAINER form it agrees with net.SplitHostPort and strconv.
func FuzzParsePortMapping(f *testing.F) {
	for _, s := range []string{"80", "8080:80", "127.0.0.1:1:2", "[::1]:1:2/udp", "1:2:3", "a:b", "80/tcp", ":", "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePortMapping(s)
		if err != nil {
			return
		}
		if p.Container < 1 || p.Container > 65535 || p.Host < 0 || p.Host > 65535 || (p.Protocol != "tcp" && p.Protocol != "udp") {
			t.Fatalf("ParsePortMapping(%q) = %+v", s, p)
		}
		again, err := ParsePortMapping(p.String())
		if err != nil || again != p {
			t.Fatalf("round trip %q → %q = %+v, %v", s, p.String(), again, err)
		}
		trimmed := strings.TrimSpace(s)
		if strings.Count(trimmed, ":") == 1 && !strings.Contains(trimmed, "/") {
			h, c, err := net.SplitHostPort(trimmed)
			hn, herr := strconv.Atoi(h)
			cn, cerr := strconv.Atoi(c)
			if err != nil || herr != nil || cerr != nil || hn != p.Host || cn != p.Container {
				t.Fatalf("%q: berth %+v, stdlib %q %q %v", s, p, h, c, err)
			}
		}
	})
}

// FuzzParseVolume: no input panics; an accepted volume has an absolute
// target, reads back the same, and its target is what path.Clean keeps
// absolute.
func FuzzParseVolume(f *testing.F) {
	for _, s := range []string{"data:/d", "./x:/y:ro", "/a:/b:rw", "a:b", "::", "x:/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVolume(s)
		if err != nil {
			return
		}
		if !path.IsAbs(v.Target) || path.Clean(v.Target) == "/" || v.Source == "" {
			t.Fatalf("ParseVolume(%q) = %+v", s, v)
		}
		again, err := ParseVolume(v.String())
		if err != nil || again != v {
			t.Fatalf("round trip %q → %q = %+v, %v", s, v.String(), again, err)
		}
	})
}
