package release

import (
	"maps"
	"testing"

	"github.com/berth-dev/berth/internal/spec"
)

func TestDependencyURLs(t *testing.T) {
	sp, err := spec.Parse("berth.yaml", []byte(`project: p
services:
  web:
    run: ./web
    route: {path: /}
    depends_on: [user-api, db, cache, worker, catalog]
    env:
      CATALOG_URL: http://elsewhere
  user-api:
    run: ./api
    route: {path: /api/}
  catalog:
    run: ./catalog
    route: {path: /catalog}
  worker:
    run: ./worker
    health: none
  db:
    image: postgres:16
    port: 5432
    health: {tcp: true}
  cache:
    image: redis:7
    port: 6379
    ports: ["16379:6379"]
    health: {tcp: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := dependencyURLs(sp, sp.Services["web"]).Env
	want := map[string]string{
		"USER_API_URL": "${BERTH_ROUTER_URL}/api",
		"DB_URL":       "tcp://127.0.0.1:5432",
		"CACHE_URL":    "tcp://127.0.0.1:16379",
		"CATALOG_URL":  "http://elsewhere", // the spec's own value wins
	}
	if !maps.Equal(got, want) {
		t.Errorf("env = %q\nwant  %q", got, want)
	}
	if sp.Services["web"].Env["DB_URL"] != "" {
		t.Errorf("dependencyURLs changed the spec's service")
	}
}
