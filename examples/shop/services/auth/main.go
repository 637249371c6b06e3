// Command auth is the shop's login service, routed on /auth/. POST
// /auth/login issues a token signed with AUTH_SECRET (a berth secret);
// GET /auth/whoami checks one. Rotating the secret invalidates old tokens.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/examples/shop/packages/shopkit"
)

// devSecret signs tokens when AUTH_SECRET is unset; fine for a demo only.
const devSecret = "shop-dev-secret"

// Login is the body of POST /auth/login.
type Login struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// Token is the answer to a successful login.
type Token struct {
	Token   string `json:"token"`
	User    string `json:"user"`
	Release string `json:"release"`
}

func main() { shopkit.Main("auth", "/auth", routes) }

func routes(mux *http.ServeMux, app shopkit.App) {
	secret := app.Config.Getenv("AUTH_SECRET")
	if secret == "" {
		app.Log.Warn("AUTH_SECRET is not set; signing tokens with a development secret")
		secret = devSecret
	}
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		var in Login
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&in); err != nil || in.User == "" {
			shopkit.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": `want a JSON body {"user": "...", "password": "..."}`})
			return
		}
		// The demo accepts any password; the point is the signed token.
		shopkit.WriteJSON(w, http.StatusOK, Token{Token: sign(secret, in.User), User: in.User, Release: app.Config.Version.Release})
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		user, ok := verify(secret, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if !ok {
			shopkit.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or invalid bearer token"})
			return
		}
		shopkit.WriteJSON(w, http.StatusOK, map[string]string{"user": user})
	})
}

// sign makes the token "base64url(user).hex(hmac-sha256(secret, user))".
func sign(secret, user string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(user))
	return base64.RawURLEncoding.EncodeToString([]byte(user)) + "." + hex.EncodeToString(m.Sum(nil))
}

// verify returns the user a token was signed for.
func verify(secret, token string) (string, bool) {
	enc, _, ok := strings.Cut(token, ".")
	if !ok {
		return "", false
	}
	user, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || !hmac.Equal([]byte(sign(secret, string(user))), []byte(token)) {
		return "", false
	}
	return string(user), true
}
