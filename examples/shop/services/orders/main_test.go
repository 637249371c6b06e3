package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/examples/shop/packages/shopkit"
)

// newOrders starts orders on loopback, pointed at catalogURL.
func newOrders(t *testing.T, catalogURL string, client *http.Client) *httptest.Server {
	t.Helper()
	cfg := shopkit.Config{
		Prefix:  "/orders",
		Version: shopkit.Version{Service: "orders", Release: "2"},
		LookupEnv: func(k string) (string, bool) {
			if k == "CATALOG_URL" && catalogURL != "" {
				return catalogURL, true
			}
			return "", false
		},
	}
	srv := httptest.NewServer(shopkit.New(cfg, slog.New(slog.DiscardHandler), shopkit.Hooks{}, routes(client)).Handler())
	t.Cleanup(srv.Close)
	return srv
}

func getOrder(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestOrders_PricesFromCatalog(t *testing.T) {
	gotPath := make(chan string, 1)
	catalog := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath <- r.URL.Path
		_, _ = io.WriteString(w, `{"service":"catalog","release":"9","items":[
			{"id":"a","name":"A","price_cents":100},{"id":"b","name":"B","price_cents":250},{"id":"c","name":"C","price_cents":1}]}`)
	}))
	defer catalog.Close()
	orders := newOrders(t, catalog.URL+"/catalog/", &http.Client{Timeout: time.Second})

	status, body := getOrder(t, orders.URL+"/orders/42")
	if status != http.StatusOK {
		t.Fatalf("GET /orders/42 = %d %s", status, body)
	}
	var o Order
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatal(err)
	}
	if o.ID != "42" || o.Release != "2" || o.CatalogRelease != "9" || len(o.Items) != 2 || o.TotalCents != 350 {
		t.Errorf("order = %+v", o)
	}
	if p := <-gotPath; p != "/catalog/items" {
		t.Errorf("catalog called at %q, want /catalog/items", p)
	}
}

func TestOrders_CatalogFailures(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close() // nothing listens there any more

	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer failing.Close()

	hung := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hung:
		}
	}))
	defer slow.Close()
	defer close(hung)

	tests := []struct {
		name, catalogURL string
		timeout          time.Duration
		wantStatus       int
		wantErr          string
	}{
		{"catalog down", downURL, time.Second, http.StatusBadGateway, "catalog unavailable"},
		{"catalog 500", failing.URL, time.Second, http.StatusBadGateway, "status 500"},
		{"catalog too slow", slow.URL, 50 * time.Millisecond, http.StatusBadGateway, "Timeout"},
		{"catalog not configured", "", time.Second, http.StatusInternalServerError, "CATALOG_URL is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orders := newOrders(t, tt.catalogURL, &http.Client{Timeout: tt.timeout})
			status, body := getOrder(t, orders.URL+"/orders/1")
			if status != tt.wantStatus || !strings.Contains(body, tt.wantErr) {
				t.Errorf("GET /orders/1 = %d %s, want %d containing %q", status, body, tt.wantStatus, tt.wantErr)
			}
		})
	}
}
