// Command catalog is the shop's product catalog, routed on /catalog/ (and on
// the host catalog.shop.localhost): GET /catalog/items lists the products.
package main

import (
	"net/http"

	"github.com/berth-dev/berth/examples/shop/packages/shopkit"
)

// Item is one product.
type Item struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int    `json:"price_cents"`
}

// Items is the catalog's answer to GET /items: the products and which
// release served them (orders reports it, so a deploy is visible end to end).
type Items struct {
	Service string `json:"service"`
	Release string `json:"release"`
	Items   []Item `json:"items"`
}

var items = []Item{
	{ID: "sku-1", Name: "Canvas tote", PriceCents: 1500},
	{ID: "sku-2", Name: "Enamel mug", PriceCents: 1200},
	{ID: "sku-3", Name: "Sticker pack", PriceCents: 400},
}

func main() { shopkit.Main("catalog", "/catalog", routes) }

func routes(mux *http.ServeMux, app shopkit.App) {
	v := app.Config.Version
	mux.HandleFunc("GET /items", func(w http.ResponseWriter, _ *http.Request) {
		shopkit.WriteJSON(w, http.StatusOK, Items{Service: v.Service, Release: v.Release, Items: items})
	})
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		for _, it := range items {
			if it.ID == r.PathValue("id") {
				shopkit.WriteJSON(w, http.StatusOK, it)
				return
			}
		}
		shopkit.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no item " + r.PathValue("id")})
	})
}
