package spec

import (
	"net/url"
	"strings"
	"testing"
)

// hostTargets are a routed service and an image service published on
// 127.0.0.1:15432, as the converter sees them.
func hostTargets() (*converter, *composeService, *composeService, *composeService) {
	c := &converter{names: map[string]string{}}
	api := &composeService{name: "api", compose: "api", Route: &Route{Path: "/api", StripPrefix: true}, hasPort: true}
	db := &composeService{name: "db", compose: "db", image: true, hasPort: true, Port: 5432, Ports: []PortMapping{{Host: 15432, Container: 5432}}}
	return c, &composeService{name: "web"}, api, db
}

func TestRewriteHost(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://api:8080", "${BERTH_ROUTER_URL}/api"},
		{"http://api:8080/v1/items?x=1", "${BERTH_ROUTER_URL}/api/v1/items?x=1"},
		{"https://user:pw@api/v1", "${BERTH_ROUTER_URL}/api/v1"},
		{"postgres://u:p@db:5432/app?sslmode=disable", "postgres://u:p@127.0.0.1:15432/app?sslmode=disable"},
		{"db:5432", "127.0.0.1:15432"},
		{"db", "127.0.0.1"},
		{"postgres://db/app", "postgres://127.0.0.1:15432/app"},
		{"http://dbx:1/", "http://dbx:1/"},       // another host
		{"http://my-api:1/", "http://my-api:1/"}, // another host
		{"/srv/db/data", "/srv/db/data"},         // a path, not a host
		{"api,db:5432", "api,127.0.0.1:15432"},   // api without a scheme is not rewritten to a URL
	} {
		c, web, api, db := hostTargets()
		got := c.rewriteHost(web, "X", c.rewriteHost(web, "X", tc.in, api), db)
		if got != tc.want {
			t.Errorf("rewrite %q = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzRewriteHost: rewriting never panics, leaves a value that does not
// name the service alone, and agrees with net/url: a URL whose host is the
// image service becomes one whose host is 127.0.0.1:15432 with the same
// scheme, user, path and query.
func FuzzRewriteHost(f *testing.F) {
	for _, s := range []string{"postgres://u:p@db:5432/app?x=1", "db:5432", "http://api:8080/x", "redis://db", "", "db", "x://@db:/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		c, web, _, db := hostTargets()
		got := c.rewriteHost(web, "X", v, db)
		if !strings.Contains(v, "db") && got != v {
			t.Fatalf("rewrite %q = %q, though it does not name db", v, got)
		}
		u, err := url.Parse(v)
		if err != nil || u.Hostname() != "db" || u.Opaque != "" || strings.Count(v, "db") != 1 || (u.Port() != "" && u.Port() != "5432") {
			return
		}
		if !strings.HasPrefix(v, u.Scheme+"://") {
			return
		}
		r, err := url.Parse(got)
		if err != nil {
			t.Fatalf("rewrite %q = %q, which does not parse: %v", v, got, err)
		}
		if r.Host != "127.0.0.1:15432" || r.Scheme != u.Scheme || r.User.String() != u.User.String() || r.Path != u.Path || r.RawQuery != u.RawQuery {
			t.Fatalf("rewrite %q = %q: host %q scheme %q user %q path %q query %q", v, got, r.Host, r.Scheme, r.User, r.Path, r.RawQuery)
		}
	})
}
