package registry_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-dev/berth/internal/registry"
)

func TestRegistryRoundTrip(t *testing.T) {
	disk, err := registry.NewOnDisk(slog.Default(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"memory", registry.New(slog.Default())},
		{"disk", disk},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- registry.ServeHandler(ctx, ln, tc.h) }()
			t.Cleanup(func() {
				cancel()
				if err := <-served; err != nil {
					t.Errorf("serve: %v", err)
				}
			})

			img, err := random.Image(1024, 2)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := name.ParseReference(fmt.Sprintf("%s/shop/web:abc123", ln.Addr()), name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			opCtx, opCancel := context.WithTimeout(ctx, 30*time.Second)
			defer opCancel()
			if err := remote.Write(ref, img, remote.WithContext(opCtx)); err != nil {
				t.Fatalf("push: %v", err)
			}
			got, err := remote.Image(ref, remote.WithContext(opCtx))
			if err != nil {
				t.Fatalf("pull: %v", err)
			}
			want, _ := img.Digest()
			gotDigest, err := got.Digest()
			if err != nil {
				t.Fatal(err)
			}
			if gotDigest != want {
				t.Fatalf("digest = %s, want %s", gotDigest, want)
			}
		})
	}
}

func TestServeStopsWithContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- registry.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/ = %d, want 200", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}
