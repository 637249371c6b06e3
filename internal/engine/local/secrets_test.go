package local_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/control"
	"github.com/berth-dev/berth/internal/engine/local"
	"github.com/berth-dev/berth/internal/engine/local/localtest"
	"github.com/berth-dev/berth/internal/secrets"
)

var _ control.SecretStore = local.DirectSecrets{}

// TestSecretsThroughTheEngine: with no control plane, a client with a
// state directory keeps secrets in that directory's store; once a control
// plane runs there, the same values are read, versioned and deleted
// through its API (a client without a state directory can only use the
// API), and missing names match secrets.ErrNotFound either way.
func TestSecretsThroughTheEngine(t *testing.T) {
	ctx := context.Background()
	state := t.TempDir()
	offline := local.New("unix://"+filepath.Join(state, "berth.sock"), "").WithState(state)
	v, err := offline.SetSecret(ctx, "prod/DB_PASSWORD", []byte("one"))
	if err != nil || v != 1 {
		t.Fatalf("set without a control plane: version %d, %v", v, err)
	}
	if _, err := local.New("unix://"+filepath.Join(state, "berth.sock"), "").ListSecrets(ctx); !errors.Is(err, local.ErrUnreachable) {
		t.Errorf("a client without a state directory and no control plane: %v, want ErrUnreachable", err)
	}

	plane := localtest.Start(t, "p", state)
	api := plane.Client() // no state directory: API only
	if v, err := api.SetSecret(ctx, "prod/DB_PASSWORD", []byte("two")); err != nil || v != 2 {
		t.Fatalf("set through the API: version %d, %v", v, err)
	}
	list, err := api.ListSecrets(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "prod/DB_PASSWORD" || list[0].Version != 2 || list[0].Value != nil {
		t.Fatalf("list through the API: %+v, %v", list, err)
	}
	for version, want := range map[int]string{0: "two", 1: "one", 2: "two"} {
		got, n, err := api.Secret(ctx, "prod/DB_PASSWORD", version)
		if err != nil || string(got) != want || n == 0 {
			t.Errorf("get version %d: %q (version %d), %v; want %q", version, got, n, err, want)
		}
	}
	if _, _, err := api.Secret(ctx, "prod/NOPE", 0); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("get a missing name through the API: %v, want secrets.ErrNotFound", err)
	}
	if _, err := api.SetSecret(ctx, "../bad name", []byte("x")); err == nil {
		t.Error("set with an invalid name: no error")
	}
	if err := api.DeleteSecret(ctx, "prod/DB_PASSWORD"); err != nil {
		t.Fatalf("delete through the API: %v", err)
	}
	if err := api.DeleteSecret(ctx, "prod/DB_PASSWORD"); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("delete twice: %v, want secrets.ErrNotFound", err)
	}
	if _, _, err := offline.Secret(ctx, "prod/DB_PASSWORD", 0); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("the state directory's store still has the deleted secret: %v", err)
	}
}
