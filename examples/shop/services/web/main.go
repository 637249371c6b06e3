// Command web is the shop's front page, on the router's default route: GET /
// is an HTML page listing the other services, GET /version its own build.
package main

import (
	"html/template"
	"net/http"

	"github.com/berth-dev/berth/examples/shop/packages/shopkit"
)

// link is one entry of the front page.
type link struct {
	Service, Method, Path, About string
}

var links = []link{
	{"auth", "POST", "/auth/login", `sign in: {"user": "ada"} → a token`},
	{"auth", "GET", "/auth/whoami", "who a bearer token belongs to"},
	{"catalog", "GET", "/catalog/items", "the products (also on catalog.shop.localhost/items)"},
	{"orders", "GET", "/orders/42", "an order priced by the catalog"},
	{"web", "GET", "/version", "this page's service, release and commit"},
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>shop</title></head>
<body>
<h1>shop</h1>
<p>Served by {{.Version.Service}}, release {{or .Version.Release "(none)"}}, commit {{or .Version.Commit "(none)"}}.</p>
<ul>
{{- range .Links}}
<li><code>{{.Method}} {{if eq .Method "GET"}}<a href="{{.Path}}">{{.Path}}</a>{{else}}{{.Path}}{{end}}</code> ({{.Service}}): {{.About}}</li>
{{- end}}
</ul>
</body>
</html>
`))

func main() { shopkit.Main("web", "/", routes) }

func routes(mux *http.ServeMux, app shopkit.App) {
	data := struct {
		Version shopkit.Version
		Links   []link
	}{app.Config.Version, links}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := page.Execute(w, data); err != nil {
			app.Log.Warn("render front page", "err", err)
		}
	})
}
