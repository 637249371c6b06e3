package ecs

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Check is one line of `berth verify`: what was checked, whether it
// passed, what was found, and the fix when it did not pass.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Verify checks, without changing anything, that what the environment
// expects exists and is usable: credentials, cluster, listener, roles,
// secrets, registry and free route priorities.
func (e *Engine) Verify(ctx context.Context) []Check {
	var out []Check
	add := func(c Check) { out = append(out, c) }
	acct, err := e.accountID(ctx)
	if err != nil {
		add(Check{Name: "credentials", Detail: firstLine(err), Fix: "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY to a principal with `berth aws policy`"})
		return out // nothing else can be asked
	}
	add(Check{Name: "credentials", OK: true, Detail: fmt.Sprintf("account %s, region %s", acct, e.region)})

	cl, err := e.c.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{e.cluster()}})
	switch {
	case err != nil:
		add(Check{Name: "cluster", Detail: firstLine(err), Fix: "allow ecs:DescribeClusters (berth aws policy)"})
	case len(cl.Clusters) == 0 || aws.ToString(cl.Clusters[0].Status) != "ACTIVE":
		add(Check{Name: "cluster", OK: true, Detail: fmt.Sprintf("%s does not exist yet: the first deploy creates it", e.cluster())})
	default:
		add(Check{Name: "cluster", OK: true, Detail: e.cluster() + " is active"})
	}

	net := fmt.Sprintf("subnets %s; security groups %s", strings.Join(e.aws.Subnets, ", "), strings.Join(e.aws.SecurityGroups, ", "))
	if len(e.aws.Subnets) == 0 {
		add(Check{Name: "network", Detail: "no subnets", Fix: "set aws.subnets to the private subnets tasks run in"})
	} else {
		add(Check{Name: "network", OK: true, Detail: net + " (ECS checks them when tasks start)"})
	}

	if e.aws.Listener != "" {
		if vpc, err := e.checkListener(ctx); err != nil {
			add(Check{Name: "listener", Detail: firstLine(err), Fix: "set aws.listener to the ARN of an HTTP(S) listener of an Application Load Balancer"})
		} else {
			add(Check{Name: "listener", OK: true, Detail: fmt.Sprintf("ALB listener in %s", vpc)})
			out = append(out, e.verifyPriorities(ctx)...)
		}
	}

	for _, r := range []struct{ key, arn string }{{"execution_role", e.aws.ExecutionRole}, {"task_role", e.aws.TaskRole}} {
		switch {
		case r.arn == "" && r.key == "task_role":
		case !strings.HasPrefix(r.arn, "arn:") || !strings.Contains(r.arn, ":role/"):
			add(Check{Name: r.key, Detail: fmt.Sprintf("%q is not an IAM role ARN", r.arn), Fix: "set aws." + r.key + " to arn:aws:iam::ACCOUNT:role/NAME"})
		default:
			add(Check{Name: r.key, OK: true, Detail: r.arn})
		}
	}

	out = append(out, e.verifySecrets(ctx)...)

	if isECR(e.sp.Registry) {
		if _, err := e.c.ecr.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{}); err != nil {
			add(Check{Name: "registry", Detail: firstLine(err), Fix: "allow ecr:GetAuthorizationToken (berth aws policy)"})
		} else {
			add(Check{Name: "registry", OK: true, Detail: "ECR answers with a push token"})
		}
	} else {
		add(Check{Name: "registry", OK: true, Detail: e.sp.Registry + " (credentials from the docker config)"})
	}
	return out
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// verifyPriorities checks that the project's rule priorities are not held
// by rules berth did not create.
func (e *Engine) verifyPriorities(ctx context.Context) []Check {
	rules, err := e.listenerRules(ctx)
	if err != nil {
		return []Check{{Name: "route priorities", Detail: firstLine(err), Fix: "allow elasticloadbalancing:DescribeRules and DescribeTags"}}
	}
	taken := map[int]string{}
	for _, r := range rules {
		if !e.owned(r.tags) {
			taken[r.priority] = r.arn
		}
	}
	var out []Check
	prios := e.Priorities()
	names := make([]string, 0, len(prios))
	for n := range prios {
		names = append(names, n)
	}
	sort.Strings(names)
	bad := false
	for _, n := range names {
		want := []int{prios[n]}
		if r, err := e.rolloutFor(e.sp.Services[n], count(e.sp.Services[n])); err == nil && progressive(r) {
			want = append(want, prios[n]-1) // its preview rule's
		}
		for _, p := range want {
			if arn, ok := taken[p]; ok {
				bad = true
				out = append(out, Check{Name: "route priority " + n, Detail: fmt.Sprintf("priority %d is held by %s, which berth did not create", p, arn),
					Fix: fmt.Sprintf("move that rule out of %d–%d (the block of %s/%s)", e.blockStart(), e.blockStart()+priorityBlock-1, e.sp.Project, e.sp.Env)})
			}
		}
	}
	if !bad {
		out = append(out, Check{Name: "route priorities", OK: true, Detail: fmt.Sprintf("%d–%d free of rules berth did not create", e.blockStart(), e.blockStart()+priorityBlock-1)})
	}
	return out
}

// verifySecrets checks every referenced SSM parameter and Secrets
// Manager secret exists.
func (e *Engine) verifySecrets(ctx context.Context) []Check {
	var out []Check
	seen := map[string]bool{}
	for _, n := range e.sp.Order {
		svc := e.sp.Services[n]
		refs := map[string]string{}
		for k, v := range svc.Secrets {
			refs[k] = v
		}
		for k, v := range svc.Config {
			refs[k] = v
		}
		keys := make([]string, 0, len(refs))
		for k := range refs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ref := refs[k]
			if seen[ref] {
				continue
			}
			seen[ref] = true
			name := "secret " + ref
			provider, rest, _ := strings.Cut(ref, ":")
			switch provider {
			case "ssm":
				res, err := e.c.ssm.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Option: aws.String("Equals"), Values: []string{rest}}}})
				switch {
				case err != nil:
					out = append(out, Check{Name: name, Detail: firstLine(err), Fix: "allow ssm:DescribeParameters"})
				case len(res.Parameters) == 0:
					out = append(out, Check{Name: name, Detail: "no such SSM parameter", Fix: fmt.Sprintf("aws ssm put-parameter --name %s --type SecureString --value ...", rest)})
				default:
					out = append(out, Check{Name: name, OK: true, Detail: "exists; the execution role needs ssm:GetParameters on it"})
				}
			case "secretsmanager":
				if arn, _, err := e.secretARN(ctx, ref); err != nil {
					out = append(out, Check{Name: name, Detail: firstLine(err), Fix: "create the secret, or fix the reference in berth.yaml"})
				} else {
					out = append(out, Check{Name: name, OK: true, Detail: arn + "; the execution role needs secretsmanager:GetSecretValue on it"})
				}
			default:
				out = append(out, Check{Name: name, Detail: "a local secret: ECS cannot read it", Fix: "store it in SSM (ssm:/path) or Secrets Manager (secretsmanager:name#key)"})
			}
		}
	}
	return out
}
