package router

import (
	"fmt"
	"testing"
)

func TestMatch(t *testing.T) {
	r := New(Config{Logger: quietLogger(t)})
	defer r.Close()
	r.Publish(&Table{Version: 1, Routes: []Route{
		{Name: "api", PathPrefix: "/api"},
		{Name: "api-v2", PathPrefix: "/api/v2/"},
		{Name: "root", PathPrefix: "/"},
		{Name: "shop-host", Host: "Shop.Example.com"},
		{Name: "shop-api", Host: "shop.example.com", PathPrefix: "/api"},
		{Name: "urgent", PathPrefix: "/admin", Priority: 10},
		{Name: "admin-host", Host: "admin.example.com", PathPrefix: "/admin/panel"},
		{Name: "tie-path", PathPrefix: "/tie"},
		{Name: "tie-host", Host: "tie.example.com", PathPrefix: "/tie"},
	}})
	r2 := New(Config{Logger: quietLogger(t)})
	defer r2.Close()
	r2.Publish(&Table{Routes: []Route{
		{Name: "api", PathPrefix: "/api"},
		{Name: "fallback", Default: true},
	}})
	r3 := New(Config{Logger: quietLogger(t)})
	defer r3.Close()
	r3.Publish(&Table{Routes: []Route{{Name: "api", PathPrefix: "/api"}}})

	tests := []struct {
		r          *Router
		host, path string
		want       string
	}{
		{r, "x.test", "/api", "api"},
		{r, "x.test", "/api/", "api"},
		{r, "x.test", "/api/users", "api"},
		{r, "x.test", "/apiary", "root"},
		{r, "x.test", "/api/v2", "api-v2"},
		{r, "x.test", "/api/v2/items", "api-v2"},
		{r, "x.test", "/api/v20", "api"},
		{r, "x.test", "/", "root"},
		{r, "shop.example.com", "/", "shop-host"},
		{r, "SHOP.example.com:8080", "/cart", "shop-host"},
		{r, "shop.example.com", "/api/x", "shop-api"},
		{r, "shop.example.com", "/api/v2/x", "api-v2"},     // longer path-only prefix beats the host rule
		{r, "admin.example.com", "/admin/panel", "urgent"}, // priority beats longer prefix
		{r, "tie.example.com", "/tie", "tie-host"},         // same length: host rule wins
		{r, "other.example.com", "/tie/x", "tie-path"},
		{r, "[::1]:80", "/api", "api"},
		{r2, "x.test", "/apiary", "fallback"},
		{r2, "x.test", "/api/a", "api"},
		{r3, "x.test", "/apiary", ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s%s", tt.host, tt.path), func(t *testing.T) {
			rt := tt.r.table.Load().match(normalizeHost(tt.host), tt.path)
			got := ""
			if rt != nil {
				got = rt.name
			}
			if got != tt.want {
				t.Errorf("match(%q, %q) = %q, want %q", tt.host, tt.path, got, tt.want)
			}
		})
	}
}

func TestStripPath(t *testing.T) {
	tests := []struct{ prefix, in, want string }{
		{"/api", "/api", "/"},
		{"/api", "/api/", "/"},
		{"/api", "/api/x/y", "/x/y"},
		{"/", "/x", "/x"},
		{"", "/x", "/x"},
	}
	for _, tt := range tests {
		if got := stripPath(tt.prefix, tt.in); got != tt.want {
			t.Errorf("stripPath(%q, %q) = %q, want %q", tt.prefix, tt.in, got, tt.want)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	r := New(Config{})
	defer r.Close()
	var routes []Route
	for i := range 50 {
		routes = append(routes,
			Route{Name: fmt.Sprintf("svc%d", i), PathPrefix: fmt.Sprintf("/svc%d", i)},
			Route{Name: fmt.Sprintf("host%d", i), Host: fmt.Sprintf("h%d.example.com", i), PathPrefix: "/api"},
		)
	}
	routes = append(routes, Route{Name: "default", Default: true})
	r.Publish(&Table{Routes: routes})
	x := r.table.Load()
	cases := []struct{ name, host, path string }{
		{"path", "x.test", "/svc42/items/7"},
		{"host", "H7.example.com:443", "/api/orders"},
		{"default", "x.test", "/nothing/here"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if x.match(normalizeHost(c.host), c.path) == nil {
					b.Fatal("no match")
				}
			}
		})
	}
}
