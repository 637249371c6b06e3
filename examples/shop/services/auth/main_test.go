package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/examples/shop/packages/shopkit"
)

func newAuth(t *testing.T, secret string) *httptest.Server {
	t.Helper()
	cfg := shopkit.Config{
		Prefix:  "/auth",
		Version: shopkit.Version{Service: "auth", Release: "3"},
		LookupEnv: func(k string) (string, bool) {
			return secret, k == "AUTH_SECRET" && secret != ""
		},
	}
	srv := httptest.NewServer(shopkit.New(cfg, slog.New(slog.DiscardHandler), shopkit.Hooks{}, routes).Handler())
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
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

func login(t *testing.T, srv *httptest.Server, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/auth/login", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

func whoami(t *testing.T, srv *httptest.Server, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/auth/whoami", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return do(t, req)
}

func TestAuth_LoginThenWhoami(t *testing.T) {
	srv := newAuth(t, "s3cret")
	status, body := login(t, srv, `{"user":"ada","password":"x"}`)
	if status != http.StatusOK {
		t.Fatalf("login = %d %s", status, body)
	}
	var tok Token
	if err := json.Unmarshal([]byte(body), &tok); err != nil {
		t.Fatal(err)
	}
	if tok.User != "ada" || tok.Release != "3" || tok.Token == "" {
		t.Fatalf("token = %+v", tok)
	}
	if status, body := whoami(t, srv, tok.Token); status != http.StatusOK || !strings.Contains(body, `"user":"ada"`) {
		t.Errorf("whoami = %d %s", status, body)
	}

	// A token signed with another secret (a rotated AUTH_SECRET) is refused.
	other := newAuth(t, "")
	if status, _ := whoami(t, other, tok.Token); status != http.StatusUnauthorized {
		t.Errorf("whoami with a token of another secret = %d, want 401", status)
	}
}

func TestAuth_BadRequests(t *testing.T) {
	srv := newAuth(t, "s3cret")
	for _, body := range []string{``, `{`, `{"password":"x"}`} {
		if status, _ := login(t, srv, body); status != http.StatusBadRequest {
			t.Errorf("login %q = %d, want 400", body, status)
		}
	}
	for _, token := range []string{"", "garbage", "YWRh.00", "!!.00"} {
		if status, _ := whoami(t, srv, token); status != http.StatusUnauthorized {
			t.Errorf("whoami %q = %d, want 401", token, status)
		}
	}
}
