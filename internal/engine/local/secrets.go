package local

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/secrets"
	"github.com/berth-dev/berth/internal/store"
)

// WithState lets the client manage secrets without a control plane: when
// none answers at its address, secret operations use the store in the
// state directory dir directly (the store's SQLite file and master key).
// A client of a remote control plane has no state directory.
func (c *Client) WithState(dir string) *Client {
	c.state = dir
	return c
}

// DirectSecrets is the local secrets store of a state directory, opened
// for each operation: what a control plane serves on /v1/secrets, and what
// the client uses when no control plane runs.
type DirectSecrets struct {
	// Store, when set, is the open store to use; otherwise the state
	// directory's state.db is opened per operation.
	Store *store.Store
	// State is the state directory (master key, state.db).
	State string
}

func (d DirectSecrets) open(ctx context.Context) (*secrets.Store, func(), error) {
	key, err := secrets.LoadKey(d.State)
	if err != nil {
		return nil, nil, err
	}
	if d.Store != nil {
		return secrets.New(d.Store, key), func() {}, nil
	}
	st, err := store.Open(ctx, filepath.Join(d.State, "state.db"))
	if err != nil {
		return nil, nil, fmt.Errorf("open state: %w", err)
	}
	return secrets.New(st, key), func() { _ = st.Close() }, nil
}

// Set implements control.SecretStore.
func (d DirectSecrets) Set(ctx context.Context, name string, value []byte) (int, error) {
	p, done, err := d.open(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	return p.Set(ctx, name, value)
}

// Get implements control.SecretStore.
func (d DirectSecrets) Get(ctx context.Context, name string, version int) ([]byte, int, error) {
	p, done, err := d.open(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	v, got, err := p.Get(ctx, name, version)
	return []byte(v), got, err
}

// List implements control.SecretStore.
func (d DirectSecrets) List(ctx context.Context) ([]api.Secret, error) {
	p, done, err := d.open(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	infos, err := p.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.Secret, len(infos))
	for i, in := range infos {
		out[i] = api.Secret{Name: in.Name, Version: in.Version, UpdatedAt: in.UpdatedAt}
	}
	return out, nil
}

// Delete implements control.SecretStore.
func (d DirectSecrets) Delete(ctx context.Context, name string) error {
	p, done, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	return p.Delete(ctx, name)
}

// direct reports whether a secret operation that failed with err should
// use the state directory's store instead: no control plane runs (and the
// client has a state directory), or the one that runs serves no store.
func (c *Client) direct(err error) bool {
	if c.state == "" {
		return false
	}
	var ae *APIError
	return errors.Is(err, ErrUnreachable) || errors.As(err, &ae) && ae.Status == http.StatusNotImplemented
}

// secretErr makes a control plane's "not found" answer match
// secrets.ErrNotFound, as the direct store's errors do.
func secretErr(err error) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return fmt.Errorf("%w: %w", secrets.ErrNotFound, err)
	}
	return err
}

func secretPath(name string) string {
	return "/v1/secrets/" + (&url.URL{Path: name}).EscapedPath()
}

// SetSecret implements engine.Secrets.
func (c *Client) SetSecret(ctx context.Context, name string, value []byte) (int, error) {
	var out api.Secret
	err := c.do(ctx, http.MethodPut, secretPath(name), api.SecretValue{Value: value}, &out)
	if c.direct(err) {
		return DirectSecrets{State: c.state}.Set(ctx, name, value)
	}
	return out.Version, secretErr(err)
}

// Secret implements engine.Secrets.
func (c *Client) Secret(ctx context.Context, name string, version int) ([]byte, int, error) {
	var out api.Secret
	path := secretPath(name)
	if version > 0 {
		path += "?version=" + strconv.Itoa(version)
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	if c.direct(err) {
		return DirectSecrets{State: c.state}.Get(ctx, name, version)
	}
	return out.Value, out.Version, secretErr(err)
}

// ListSecrets implements engine.Secrets.
func (c *Client) ListSecrets(ctx context.Context) ([]api.Secret, error) {
	var out []api.Secret
	err := c.do(ctx, http.MethodGet, "/v1/secrets", nil, &out)
	if c.direct(err) {
		return DirectSecrets{State: c.state}.List(ctx)
	}
	return out, secretErr(err)
}

// DeleteSecret implements engine.Secrets.
func (c *Client) DeleteSecret(ctx context.Context, name string) error {
	err := c.do(ctx, http.MethodDelete, secretPath(name), nil, nil)
	if c.direct(err) {
		return DirectSecrets{State: c.state}.Delete(ctx, name)
	}
	return secretErr(err)
}
