package release

import (
	"errors"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/spec"
)

func TestValidateAppliesDefaults(t *testing.T) {
	c, err := Decode([]byte(`{"service":{"name":"web","run":"./web","health":{},"deploy":{}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(Limits{}); err != nil {
		t.Fatal(err)
	}
	h, d := c.Service.Health, c.Service.Deploy
	if h == nil || h.Path != "/health" || h.Interval <= 0 || h.Timeout <= 0 || h.Healthy != 1 || h.Unhealthy != 3 {
		t.Fatalf("health defaults not applied: %+v", h)
	}
	if d == nil || d.Strategy != "rolling" || d.MaxSurge == nil || d.MaxUnavailable == nil || d.Analysis == nil {
		t.Fatalf("deploy defaults not applied: %+v", d)
	}
	if c.Count() != 1 {
		t.Fatalf("count = %d, want 1", c.Count())
	}
}

func TestValidatePartialSectionsKeepWhatIsSet(t *testing.T) {
	c, err := Decode([]byte(`{"service":{"name":"web","run":"x","health":{"path":"/ready"},"deploy":{"strategy":"bluegreen"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(Limits{}); err != nil {
		t.Fatal(err)
	}
	if c.Service.Health.Path != "/ready" || c.Service.Health.Interval <= 0 {
		t.Fatalf("health = %+v", c.Service.Health)
	}
	if c.Service.Deploy.Strategy != "bluegreen" || c.Service.Deploy.Preview == nil || c.Service.Deploy.Preview.Header != spec.DefaultPreviewHeader {
		t.Fatalf("deploy = %+v", c.Service.Deploy)
	}
}

func TestRejectsNamingTheField(t *testing.T) {
	cases := []struct {
		name, json, field string
		lim               Limits
	}{
		{"no service", `{"root":"/x"}`, "service", Limits{}},
		{"no health", `{"service":{"name":"web","deploy":{}}}`, "service.health", Limits{}},
		{"no deploy", `{"service":{"name":"web","health":{}}}`, "service.deploy", Limits{}},
		{"bad name", `{"service":{"name":"../../x"}}`, "service.name", Limits{}},
		{"wrong type count", `{"service":{"name":"web","count":"many"}}`, "service.count", Limits{}},
		{"wrong type health", `{"service":{"name":"web","health":"yes"}}`, "service.health", Limits{}},
		{"unknown key", `{"service":{"name":"web","helth":{}}}`, "helth", Limits{}},
		{"negative count", `{"service":{"name":"web","count":-1,"health":{},"deploy":{}}}`, "service.count", Limits{}},
		{"huge count", `{"service":{"name":"web","count":101,"health":{},"deploy":{}}}`, "service.count", Limits{}},
		{"over configured max", `{"service":{"name":"web","count":11,"health":{},"deploy":{}}}`, "service.count", Limits{MaxCount: 10}},
		{"over its max_count", `{"service":{"name":"web","count":201,"max_count":200,"health":{},"deploy":{}}}`, "service.count", Limits{}},
		{"huge max_count", `{"service":{"name":"web","max_count":100000,"health":{},"deploy":{}}}`, "service.max_count", Limits{}},
		{"bad strategy", `{"service":{"name":"web","health":{},"deploy":{"strategy":"yolo"}}}`, "service.deploy.strategy", Limits{}},
		{"huge interval", `{"service":{"name":"web","deploy":{},"health":{"interval":"1000h"}}}`, "service.health.interval", Limits{}},
		{"health path", `{"service":{"name":"web","deploy":{},"health":{"path":"health"}}}`, "service.health.path", Limits{}},
		{"stuck rolling", `{"service":{"name":"web","health":{},"deploy":{"max_surge":0,"max_unavailable":0}}}`, "service.deploy.max_surge", Limits{}},
		{"canary steps", `{"service":{"name":"web","health":{},"deploy":{"strategy":"canary","steps":["50%","10%"]}}}`, "service.deploy.steps[1]", Limits{}},
		{"bad dep", `{"service":{"name":"web","health":{},"deploy":{},"depends_on":["../db"]}}`, "service.depends_on[0]", Limits{}},
		{"trailing", `{"service":{"name":"web"}} {}`, "config", Limits{}},
		{"not json", `{"service":`, "config", Limits{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Decode([]byte(tc.json))
			if err == nil {
				err = c.Validate(tc.lim)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a FieldError", err)
			}
			if fe.Field != tc.field {
				t.Fatalf("field = %q (%v), want %q", fe.Field, err, tc.field)
			}
		})
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	n := 3
	in := Config{Root: "/src", Service: &spec.Service{Name: "api", Run: "./api", Count: &n}, Notify: []spec.Notify{{URL: "http://hook"}}}
	raw, err := in.Encode()
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if out.Root != "/src" || out.Service.Name != "api" || out.Count() != 3 || len(out.Notify) != 1 {
		t.Fatalf("round trip = %+v", out)
	}
}

func TestFingerprintIgnoresCountAndNotify(t *testing.T) {
	one, two := 1, 2
	a := Config{Root: "/r", Service: &spec.Service{Name: "web", Run: "x", Count: &one}}
	b := Config{Root: "/r", Service: &spec.Service{Name: "web", Run: "x", Count: &two}, Notify: []spec.Notify{{URL: "http://h"}}}
	c := Config{Root: "/r", Service: &spec.Service{Name: "web", Run: "y"}}
	fa, _ := a.Fingerprint()
	fb, _ := b.Fingerprint()
	fc, _ := c.Fingerprint()
	if fa != fb {
		t.Fatal("count or notify changed the fingerprint")
	}
	if fa == fc {
		t.Fatal("a different run: line kept the fingerprint")
	}
}

func TestForImageCarriesNoLocalPath(t *testing.T) {
	sp := &spec.Spec{Root: "/home/me/shop"}
	s := &spec.Service{Name: "web", Run: "./web", Build: &spec.Build{Command: "go build"}}
	c := ForImage(sp, s)
	raw, _ := c.Encode()
	if strings.Contains(string(raw), "/home/me") {
		t.Fatalf("image release carries the CLI's path: %s", raw)
	}
	if c.Service.Run != "" || c.Service.Port != spec.DefaultPort || s.Run != "./web" {
		t.Fatalf("container service = %+v (original %+v)", c.Service, s)
	}
	if ForArtifact(sp, s).Root != "/home/me/shop" {
		t.Fatal("artifact release lost its root")
	}
}

func FuzzDecodeValidate(f *testing.F) {
	f.Add([]byte(`{"service":{"name":"web","run":"x","count":2,"health":{},"deploy":{}}}`))
	f.Add([]byte(`{"service":{"name":"web","health":{},"deploy":{"strategy":"canary","linear":{"step":"10%","every":"1s"}}}}`))
	f.Add([]byte(`{"service":{"name":"web","deploy":{},"health":{"interval":"1s"}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := Decode(raw)
		if err != nil {
			return
		}
		if err := c.Validate(Limits{}); err != nil {
			return
		}
		// Whatever validates has every section a decision reads.
		if c.Service.Health == nil || c.Service.Deploy == nil || c.Service.Deploy.MaxSurge == nil ||
			c.Service.Deploy.MaxUnavailable == nil || c.Service.Deploy.Analysis == nil || c.Service.Health.Interval <= 0 {
			t.Fatalf("validated config lacks a section: %s", raw)
		}
		if _, err := c.Encode(); err != nil {
			t.Fatal(err)
		}
	})
}
