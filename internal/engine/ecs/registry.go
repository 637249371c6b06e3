package ecs

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-dev/berth/internal/engine"
)

// RegistryECR, as a spec's registry:, means the account's ECR registry in
// the environment's region.
const RegistryECR = "ecr"

var ecrHost = regexp.MustCompile(`^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// isECR reports whether registry names ECR: "ecr", empty, or an ECR host.
func isECR(registry string) bool {
	return registry == "" || registry == RegistryECR || ecrHost.MatchString(registry)
}

// platform is what Fargate tasks run unless told otherwise.
const platform = "linux/amd64"

// Target says the ECS engine runs images pulled from its registry: ECR
// (registry: ecr, an ECR host, or none) or any other OCI registry the
// spec names.
// It first checks the credentials and the listener, so a deploy that
// cannot work fails before anything is built or pushed.
func (e *Engine) Target(ctx context.Context) (engine.BuildTarget, error) {
	if err := e.preflight(ctx); err != nil {
		return engine.BuildTarget{}, err
	}
	host, _, err := e.registry(ctx)
	if err != nil {
		return engine.BuildTarget{}, err
	}
	return engine.BuildTarget{Kind: engine.TargetImage, Registry: host, Platform: platform, ImmutableTags: isECR(e.sp.Registry)}, nil
}

// PrepareImages creates the services' ECR repositories (tagged, with
// immutable tags) when they are missing and returns the credentials to
// push with: the ECR token, or the docker config for other registries.
func (e *Engine) PrepareImages(ctx context.Context, services []string) (authn.Keychain, error) {
	_, kc, err := e.registry(ctx)
	if err != nil {
		return nil, err
	}
	if isECR(e.sp.Registry) {
		for _, s := range services {
			if err := e.ensureRepository(ctx, s); err != nil {
				return nil, err
			}
		}
	}
	return kc, nil
}

// registry resolves the registry host and its credentials, once: with
// ECR, GetAuthorizationToken gives both.
func (e *Engine) registry(ctx context.Context) (string, authn.Keychain, error) {
	if !isECR(e.sp.Registry) {
		return e.sp.Registry, authn.DefaultKeychain, nil
	}
	e.mu.Lock()
	host, kc := e.ecrHost, e.ecrKeychain
	e.mu.Unlock()
	if kc != nil {
		return host, kc, nil
	}
	out, err := e.c.ecr.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return "", nil, fmt.Errorf("get an ECR token: %w", err)
	}
	if len(out.AuthorizationData) == 0 {
		return "", nil, fmt.Errorf("get an ECR token: ECR returned none")
	}
	ad := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(ad.AuthorizationToken))
	if err != nil {
		return "", nil, fmt.Errorf("decode the ECR token: %w", err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", nil, fmt.Errorf("decode the ECR token: not user:password")
	}
	host = aws.ToString(ad.ProxyEndpoint)
	if u, err := url.Parse(host); err == nil && u.Host != "" {
		host = u.Host
	}
	if ecrHost.MatchString(e.sp.Registry) {
		host = e.sp.Registry
	}
	kc = ecrKeychain{host: host, auth: authn.FromConfig(authn.AuthConfig{Username: user, Password: pass})}
	e.mu.Lock()
	e.ecrHost, e.ecrKeychain = host, kc
	e.mu.Unlock()
	return host, kc, nil
}

// ecrKeychain answers the ECR host with the token, anything else with
// the docker config.
type ecrKeychain struct {
	host string
	auth authn.Authenticator
}

// Resolve implements authn.Keychain.
func (k ecrKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if r.RegistryStr() == k.host {
		return k.auth, nil
	}
	return authn.DefaultKeychain.Resolve(r)
}

// repositoryName is a service's ECR repository (as build.Repository names it).
func (e *Engine) repositoryName(svc string) string {
	return strings.ToLower(e.sp.Project + "/" + svc)
}

// ensureRepository creates the service's ECR repository (immutable tags,
// scan on push, tagged) when it does not exist.
func (e *Engine) ensureRepository(ctx context.Context, svc string) error {
	name := e.repositoryName(svc)
	_, err := e.c.ecr.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{name}})
	if err == nil {
		return nil
	}
	if errorCode(err) != "RepositoryNotFoundException" {
		return fmt.Errorf("describe ECR repository %s: %w", name, err)
	}
	tags := []ecrtypes.Tag{}
	for _, t := range toECSTags(e.ownTags(svc)) {
		tags = append(tags, ecrtypes.Tag{Key: t.Key, Value: t.Value})
	}
	return e.mutate("create ECR repository "+name+" (immutable tags)", func() error {
		_, err := e.c.ecr.CreateRepository(ctx, &ecr.CreateRepositoryInput{
			RepositoryName:             aws.String(name),
			ImageTagMutability:         ecrtypes.ImageTagMutabilityImmutable,
			ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true},
			Tags:                       tags,
		})
		if err != nil && errorCode(err) != "RepositoryAlreadyExistsException" {
			return fmt.Errorf("create ECR repository %s: %w", name, err)
		}
		return nil
	})
}

// preflight checks, with reads only, what every deploy needs: working
// credentials and, when services are routed, an ALB listener.
func (e *Engine) preflight(ctx context.Context) error {
	if _, err := e.accountID(ctx); err != nil {
		return err
	}
	for _, n := range e.sp.Order {
		if e.sp.Services[n].Route != nil {
			_, err := e.checkListener(ctx)
			return err
		}
	}
	return nil
}
