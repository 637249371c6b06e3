// Command orders is the shop's order service, routed on /orders/. GET
// /orders/{id} prices an order from the catalog, reached through CATALOG_URL
// (berth points it at its router: ${BERTH_ROUTER_URL}/catalog), so a
// catalog deploy or outage shows in orders' answers.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/berth-dev/berth/examples/shop/packages/shopkit"
)

// catalogTimeout bounds one call to the catalog.
const catalogTimeout = 2 * time.Second

// errCatalog marks a failed call to the catalog; orders answers it with 502.
var errCatalog = errors.New("catalog unavailable")

// catalogItem and catalogItems are the parts of catalog's GET /items answer
// orders reads.
type catalogItem struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int    `json:"price_cents"`
}

type catalogItems struct {
	Release string        `json:"release"`
	Items   []catalogItem `json:"items"`
}

// Order is the answer to GET /orders/{id}.
type Order struct {
	ID             string        `json:"id"`
	Release        string        `json:"release"`
	CatalogRelease string        `json:"catalog_release"`
	Items          []catalogItem `json:"items"`
	TotalCents     int           `json:"total_cents"`
}

func main() {
	shopkit.Main("orders", "/orders", routes(&http.Client{Timeout: catalogTimeout}))
}

// routes serves orders, calling the catalog with client.
func routes(client *http.Client) shopkit.Register {
	return func(mux *http.ServeMux, app shopkit.App) {
		catalogURL := strings.TrimRight(app.Config.Getenv("CATALOG_URL"), "/")
		mux.HandleFunc("GET /{id}", func(w http.ResponseWriter, r *http.Request) {
			if catalogURL == "" {
				shopkit.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "CATALOG_URL is not set"})
				return
			}
			cat, err := fetchItems(r, client, catalogURL+"/items")
			if err != nil {
				app.Log.Warn("price order", "order", r.PathValue("id"), "err", err)
				shopkit.WriteJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
				return
			}
			o := Order{ID: r.PathValue("id"), Release: app.Config.Version.Release, CatalogRelease: cat.Release}
			// Every order holds the first two products: enough to show pricing.
			for _, it := range cat.Items[:min(2, len(cat.Items))] {
				o.Items = append(o.Items, it)
				o.TotalCents += it.PriceCents
			}
			shopkit.WriteJSON(w, http.StatusOK, o)
		})
	}
}

// fetchItems gets the catalog's items for the order request in, in its
// trace.
func fetchItems(in *http.Request, client *http.Client, url string) (catalogItems, error) {
	req, err := http.NewRequestWithContext(in.Context(), http.MethodGet, url, nil)
	if err != nil {
		return catalogItems{}, fmt.Errorf("%w: GET %s: %v", errCatalog, url, err)
	}
	shopkit.Propagate(in, req)
	resp, err := client.Do(req)
	if err != nil {
		return catalogItems{}, fmt.Errorf("%w: %v", errCatalog, err) // err names the method and URL
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return catalogItems{}, fmt.Errorf("%w: GET %s: status %s", errCatalog, url, resp.Status)
	}
	var cat catalogItems
	if err := json.NewDecoder(resp.Body).Decode(&cat); err != nil {
		return catalogItems{}, fmt.Errorf("%w: GET %s: decode: %v", errCatalog, url, err)
	}
	return cat, nil
}
