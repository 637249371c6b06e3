package shopkit

import (
	"errors"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name   string
		svc    string
		prefix string
		env    map[string]string
		check  func(t *testing.T, c Config)
	}{
		{
			name: "defaults", svc: "catalog", prefix: "/catalog/",
			check: func(t *testing.T, c Config) {
				if c.Addr != "0.0.0.0:8080" {
					t.Errorf("Addr = %q, want 0.0.0.0:8080", c.Addr)
				}
				if c.Prefix != "/catalog" {
					t.Errorf("Prefix = %q, want /catalog", c.Prefix)
				}
				if c.Version != (Version{Service: "catalog"}) {
					t.Errorf("Version = %+v", c.Version)
				}
				if c.DebugEnv || c.Chaos != (Chaos{}) || c.Drain != DefaultDrain {
					t.Errorf("knobs not off by default: %+v", c)
				}
			},
		},
		{
			name: "environment wins", svc: "catalog", prefix: "/catalog",
			env: map[string]string{
				"PORT": "9001", "SHOP_HOST": "127.0.0.1", "SHOP_PREFIX": "shop/catalog",
				"BERTH_SERVICE": "catalog-canary", "BERTH_RELEASE": "7", "BERTH_COMMIT": "abc1234",
				"SHOP_DEBUG_ENV": "1", "CHAOS_HEALTH": "fail", "CHAOS_ERROR_RATE": "0.3",
				"CHAOS_LATENCY": "200ms", "CHAOS_EXIT_AFTER": "5s", "SHOP_DRAIN": "2s",
			},
			check: func(t *testing.T, c Config) {
				if c.Addr != "127.0.0.1:9001" || c.Prefix != "/shop/catalog" || !c.DebugEnv || c.Drain != 2*time.Second {
					t.Errorf("got %+v", c)
				}
				if want := (Version{"catalog-canary", "7", "abc1234"}); c.Version != want {
					t.Errorf("Version = %+v, want %+v", c.Version, want)
				}
				if want := (Chaos{FailHealth: true, ErrorRate: 0.3, Latency: 200 * time.Millisecond, ExitAfter: 5 * time.Second}); c.Chaos != want {
					t.Errorf("Chaos = %+v, want %+v", c.Chaos, want)
				}
				if got := c.Getenv("CHAOS_LATENCY"); got != "200ms" {
					t.Errorf("Getenv = %q", got)
				}
			},
		},
		{
			name: "empty SHOP_PREFIX puts the service on the root", svc: "web", prefix: "/web",
			env: map[string]string{"SHOP_PREFIX": ""},
			check: func(t *testing.T, c Config) {
				if c.Prefix != "" {
					t.Errorf("Prefix = %q, want empty", c.Prefix)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(tt.svc, tt.prefix, envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadConfig_Invalid(t *testing.T) {
	for _, env := range []map[string]string{
		{"PORT": "http"},
		{"PORT": "70000"},
		{"CHAOS_HEALTH": "yes"},
		{"CHAOS_ERROR_RATE": "30%"},
		{"CHAOS_ERROR_RATE": "1.5"},
		{"CHAOS_LATENCY": "200"},
		{"CHAOS_EXIT_AFTER": "-1s"},
	} {
		if _, err := LoadConfig("x", "", envOf(env)); !errors.Is(err, ErrConfig) {
			t.Errorf("LoadConfig(%v) error = %v, want ErrConfig", env, err)
		}
	}
}
