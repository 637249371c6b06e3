package ecs

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/berth-dev/berth/internal/api"
)

// errSecretsInAWS explains where secrets live on ECS.
func errSecretsInAWS(op, name string) error {
	return fmt.Errorf("%s %s: %w: on ECS secrets live in SSM Parameter Store or Secrets Manager; set them there (e.g. aws ssm put-parameter --type SecureString --name /PROJECT/ENV/%s) and reference them as ssm:/path or secretsmanager:name#key; berth deploy then rolls the services that use a changed value", op, name, ErrUnsupported, name)
}

// SetSecret is not berth's to do on ECS: secrets live in AWS.
func (e *Engine) SetSecret(ctx context.Context, name string, value []byte) (int, error) {
	return 0, errSecretsInAWS("set secret", name)
}

// Secret is not read by berth on ECS: ECS reads secrets when tasks start.
func (e *Engine) Secret(ctx context.Context, name string, version int) ([]byte, int, error) {
	return nil, 0, errSecretsInAWS("read secret", name)
}

// DeleteSecret is not berth's to do on ECS.
func (e *Engine) DeleteSecret(ctx context.Context, name string) error {
	return errSecretsInAWS("delete secret", name)
}

// ListSecrets lists the SSM parameters and Secrets Manager secrets the
// services reference, each at its current version (never a value). A
// Secrets Manager version is an id, not a number: it lists as 0.
func (e *Engine) ListSecrets(ctx context.Context) ([]api.Secret, error) {
	refs := map[string]bool{}
	for _, n := range e.sp.Order {
		svc := e.sp.Services[n]
		for _, m := range []map[string]string{svc.Secrets, svc.Config} {
			for _, ref := range m {
				refs[ref] = true
			}
		}
	}
	names := make([]string, 0, len(refs))
	for r := range refs {
		names = append(names, r)
	}
	sort.Strings(names)
	var out []api.Secret
	for _, ref := range names {
		_, version, err := e.secretARN(ctx, ref)
		if err != nil {
			return nil, err
		}
		n, _ := strconv.Atoi(version)
		out = append(out, api.Secret{Name: ref, Version: n})
	}
	return out, nil
}
