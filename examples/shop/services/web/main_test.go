package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/examples/shop/packages/shopkit"
)

func TestWeb(t *testing.T) {
	cfg := shopkit.Config{Version: shopkit.Version{Service: "web", Release: "8", Commit: "c0ffee1"}}
	srv := httptest.NewServer(shopkit.New(cfg, slog.New(slog.DiscardHandler), shopkit.Hooks{}, routes).Handler())
	defer srv.Close()

	tests := []struct {
		path, wantType string
		status         int
		want           []string
	}{
		{"/", "text/html; charset=utf-8", 200, []string{"release 8", "commit c0ffee1", `href="/catalog/items"`, "/auth/login", `href="/orders/42"`}},
		{"/version", "application/json", 200, []string{`{"service":"web","release":"8","commit":"c0ffee1"}`}},
		{"/nope", "text/plain; charset=utf-8", 404, nil},
	}
	for _, tt := range tests {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != tt.wantType {
			t.Errorf("GET %s = %d %q, want %d %q", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.status, tt.wantType)
		}
		for _, w := range tt.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("GET %s: body lacks %q:\n%s", tt.path, w, b)
			}
		}
	}
}
