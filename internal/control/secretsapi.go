package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/secrets"
)

// SecretStore keeps the versioned values services reference under
// secrets: and config:. Names are scoped (prod/DB_PASSWORD). Errors match
// the secrets package's sentinels (secrets.ErrNotFound, ErrInvalidName,
// ErrTooLarge).
type SecretStore interface {
	// Set stores value as the next version of name and returns it.
	Set(ctx context.Context, name string, value []byte) (int, error)
	// Get returns a version of name (0: the latest) and the version read.
	Get(ctx context.Context, name string, version int) ([]byte, int, error)
	// List describes every secret's latest version, without values.
	List(ctx context.Context) ([]api.Secret, error)
	// Delete removes every version of name.
	Delete(ctx context.Context, name string) error
}

// maxSecretBody bounds PUT /v1/secrets bodies: a value of at most 64 KiB,
// base64-encoded in JSON.
const maxSecretBody = 128 << 10

// secretRoutes serves /v1/secrets: list, set, read and delete values
// through the control plane, so no client opens its store.
func (s *Server) secretRoutes(mux *http.ServeMux) {
	store := func(w http.ResponseWriter) SecretStore {
		if s.cfg.Secrets == nil {
			writeJSON(w, http.StatusNotImplemented, api.Error{Error: "this control plane serves no secrets store", Hint: "manage secrets with the control plane stopped, or upgrade it"})
		}
		return s.cfg.Secrets
	}
	mux.HandleFunc("GET /v1/secrets", func(w http.ResponseWriter, r *http.Request) {
		st := store(w)
		if st == nil {
			return
		}
		list, err := st.List(r.Context())
		if err != nil {
			writeSecretErr(w, err)
			return
		}
		if list == nil {
			list = []api.Secret{}
		}
		writeJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("GET /v1/secrets/{name...}", func(w http.ResponseWriter, r *http.Request) {
		st := store(w)
		if st == nil {
			return
		}
		version := 0
		if v := r.URL.Query().Get("version"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				writeErr(w, fmt.Errorf("%w: version: %q is not a version number", ErrBadRequest, v))
				return
			}
			version = n
		}
		name := r.PathValue("name")
		val, got, err := st.Get(r.Context(), name, version)
		if err != nil {
			writeSecretErr(w, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, api.Secret{Name: name, Version: got, Value: val})
		clear(val)
	})
	mux.HandleFunc("PUT /v1/secrets/{name...}", func(w http.ResponseWriter, r *http.Request) {
		st := store(w)
		if st == nil {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxSecretBody)
		var req api.SecretValue
		if !readJSON(w, r, &req) {
			return
		}
		name := r.PathValue("name")
		version, err := st.Set(r.Context(), name, req.Value)
		clear(req.Value)
		if err != nil {
			writeSecretErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, api.Secret{Name: name, Version: version})
	})
	mux.HandleFunc("DELETE /v1/secrets/{name...}", func(w http.ResponseWriter, r *http.Request) {
		st := store(w)
		if st == nil {
			return
		}
		if err := st.Delete(r.Context(), r.PathValue("name")); err != nil {
			writeSecretErr(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// writeSecretErr answers a secrets store error (the secrets package's
// sentinels): 404 for a missing secret, 400 for a bad name or value, 500
// otherwise. Messages never hold values.
func writeSecretErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, secrets.ErrNotFound):
		writeJSON(w, http.StatusNotFound, api.Error{Error: err.Error(), Hint: "see `berth secret ls`"})
	case errors.Is(err, secrets.ErrInvalidName), errors.Is(err, secrets.ErrTooLarge):
		writeJSON(w, http.StatusBadRequest, api.Error{Error: err.Error()})
	default:
		writeErr(w, err)
	}
}
