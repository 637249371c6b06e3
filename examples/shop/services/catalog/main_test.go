package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/berth-dev/berth/examples/shop/packages/shopkit"
)

func TestCatalog(t *testing.T) {
	cfg := shopkit.Config{Prefix: "/catalog", Version: shopkit.Version{Service: "catalog", Release: "5", Commit: "abc"}}
	srv := httptest.NewServer(shopkit.New(cfg, slog.New(slog.DiscardHandler), shopkit.Hooks{}, routes).Handler())
	defer srv.Close()

	tests := []struct {
		path   string
		status int
		check  func(t *testing.T, body []byte)
	}{
		{"/catalog/items", 200, func(t *testing.T, b []byte) {
			var got Items
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got.Release != "5" || got.Service != "catalog" || len(got.Items) != 3 {
				t.Errorf("items = %+v", got)
			}
		}},
		// The host-only route (catalog.shop.localhost) sends paths without the prefix.
		{"/items", 200, nil},
		{"/catalog/items/sku-2", 200, func(t *testing.T, b []byte) {
			var got Item
			if err := json.Unmarshal(b, &got); err != nil || got.Name != "Enamel mug" {
				t.Errorf("item = %+v, %v", got, err)
			}
		}},
		{"/catalog/items/sku-9", 404, nil},
		{"/catalog/version", 200, nil},
		{"/health", 200, nil},
	}
	for _, tt := range tests {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		var body json.RawMessage
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tt.status {
			t.Fatalf("GET %s = %d (%v), want %d", tt.path, resp.StatusCode, err, tt.status)
		}
		if tt.check != nil {
			tt.check(t, body)
		}
	}
}
