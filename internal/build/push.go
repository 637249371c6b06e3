package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/daemon"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// parseRef parses an image reference; registries on loopback are spoken to
// over plain http.
func parseRef(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	if isLoopbackRegistry(r.Context().RegistryStr()) {
		return name.ParseReference(ref, name.Insecure)
	}
	return r, nil
}

// Push uploads the local image tagged ref to its registry and returns the
// manifest digest. When the registry's ref already points at that digest
// nothing is sent and pushed is false; when the manifest is already in the
// repository under another tag, only the tag is written (no layers).
func (b *Builder) Push(ctx context.Context, ref string) (digest string, pushed bool, err error) {
	r, err := parseRef(ref)
	if err != nil {
		return "", false, fmt.Errorf("push: %w", err)
	}
	tag, ok := r.(name.Tag)
	if !ok {
		return "", false, fmt.Errorf("push %s: a tag is required, not a digest", ref)
	}
	img, err := daemon.Image(tag, daemon.WithContext(ctx), daemon.WithFileBufferedOpener())
	if err != nil {
		return "", false, fmt.Errorf("push %s: read local image: %w", ref, err)
	}
	dgst, err := img.Digest()
	if err != nil {
		return "", false, fmt.Errorf("push %s: compute digest: %w", ref, err)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(b.keychain)}

	if desc, err := remote.Head(tag, opts...); err == nil && desc.Digest == dgst {
		b.log.Info("image already pushed", "image", ref, "digest", dgst)
		return dgst.String(), false, nil
	}
	if _, err := remote.Head(tag.Context().Digest(dgst.String()), opts...); err == nil {
		if err := remote.Tag(tag, img, opts...); err != nil {
			return "", false, fmt.Errorf("push %s: tag %s: %w", ref, dgst, err)
		}
		b.log.Info("image tagged in registry", "image", ref, "digest", dgst)
		return dgst.String(), true, nil
	}
	if err := remote.Write(tag, img, opts...); err != nil {
		return "", false, fmt.Errorf("push %s: %w", ref, err)
	}
	b.log.Info("image pushed", "image", ref, "digest", dgst)
	return dgst.String(), true, nil
}

// Pull fetches ref (a tag or, preferably, a digest reference) into the local
// engine. The engine does the pull, so a digest reference resolves locally
// afterwards; engines treat loopback registries as insecure by default.
func (b *Builder) Pull(ctx context.Context, ref string) error {
	r, err := parseRef(ref)
	if err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	auth, err := b.registryAuth(r)
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	rc, err := b.cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, b.engineError("image pull", err))
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var m buildMessage
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("pull %s: read progress: %w", ref, err)
		}
		if m.Error != "" || m.ErrorDetail != nil {
			msg := m.Error
			if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
				msg = m.ErrorDetail.Message
			}
			return fmt.Errorf("pull %s: %s", ref, msg)
		}
	}
	b.log.Info("image pulled", "image", ref)
	return nil
}

// registryAuth encodes the keychain's credentials for r's registry the way
// the engine expects them; "" for anonymous access.
func (b *Builder) registryAuth(r name.Reference) (string, error) {
	a, err := b.keychain.Resolve(r.Context())
	if err != nil {
		return "", fmt.Errorf("resolve credentials for %s: %w", r.Context().RegistryStr(), err)
	}
	if a == authn.Anonymous {
		return "", nil
	}
	cfg, err := a.Authorization()
	if err != nil {
		return "", fmt.Errorf("credentials for %s: %w", r.Context().RegistryStr(), err)
	}
	return registry.EncodeAuthConfig(registry.AuthConfig{
		Username:      cfg.Username,
		Password:      cfg.Password,
		Auth:          cfg.Auth,
		IdentityToken: cfg.IdentityToken,
		RegistryToken: cfg.RegistryToken,
		ServerAddress: r.Context().RegistryStr(),
	})
}
