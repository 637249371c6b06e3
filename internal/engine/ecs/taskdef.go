package ecs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/berth-dev/berth/internal/spec"
)

// fargateMaxStopTimeout is the longest stopTimeout Fargate accepts.
const fargateMaxStopTimeout = 120

// release is one task-definition revision berth made, read back from AWS.
type release struct {
	ARN         string
	Family      string
	Revision    int
	Number      int // berth:release (the revision when untagged)
	Commit      string
	Set         string
	Fingerprint string
	Image       string
	CreatedAt   time.Time
	// def is the task definition as AWS described it.
	def *types.TaskDefinition
}

// errIncomplete is the error for an AWS answer that lacks what berth
// needs from it (AWS documents the field; a proxy or an outage may drop
// it): the operation stops there rather than act on a guess.
func errIncomplete(what string) error {
	return fmt.Errorf("AWS answered without %s; retry, and if it persists check the endpoint (AWS_ENDPOINT_URL) and the service's health", what)
}

func releaseOf(td *types.TaskDefinition, tags []types.Tag) release {
	m := ecsTags(tags)
	r := release{
		ARN:         aws.ToString(td.TaskDefinitionArn),
		Family:      aws.ToString(td.Family),
		Revision:    int(td.Revision),
		Commit:      m[TagCommit],
		Set:         m[TagSet],
		Fingerprint: m[TagFingerprint],
		CreatedAt:   aws.ToTime(td.RegisteredAt),
		def:         td,
	}
	r.Number = r.Revision
	if n, err := strconv.Atoi(m[TagRelease]); err == nil && n > 0 {
		r.Number = n
	}
	if len(td.ContainerDefinitions) > 0 {
		r.Image = aws.ToString(td.ContainerDefinitions[0].Image)
	}
	return r
}

func ecsTags(tags []types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func toECSTags(m map[string]string) []types.Tag {
	out := make([]types.Tag, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

// revisionOf is the revision number at the end of a task-definition ARN
// (…:task-definition/family:12), or 0.
func revisionOf(arn string) int {
	i := strings.LastIndex(arn, ":")
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(arn[i+1:])
	if err != nil {
		return 0
	}
	return n
}

// taskDefinition builds the task definition of one release of svc running
// image. Secret references must already be resolved to ARNs (valueFrom).
func (e *Engine) taskDefinition(svc *spec.Service, image string, secrets resolvedSecrets) *ecs.RegisterTaskDefinitionInput {
	valueFrom := secrets.ValueFrom
	c := types.ContainerDefinition{
		Name:      aws.String(svc.Name),
		Image:     aws.String(image),
		Essential: aws.Bool(true),
		LogConfiguration: &types.LogConfiguration{
			LogDriver: types.LogDriverAwslogs,
			Options: map[string]string{
				"awslogs-group":         e.logGroup(svc.Name),
				"awslogs-region":        e.region,
				"awslogs-stream-prefix": svc.Name,
			},
		},
	}
	if svc.Port > 0 {
		c.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(int32(svc.Port)), Protocol: types.TransportProtocolTcp}}
	}
	envNames := make([]string, 0, len(svc.Env))
	for k := range svc.Env {
		envNames = append(envNames, k)
	}
	sort.Strings(envNames)
	for _, k := range envNames {
		c.Environment = append(c.Environment, types.KeyValuePair{Name: aws.String(k), Value: aws.String(svc.Env[k])})
	}
	if svc.Port > 0 {
		c.Environment = append(c.Environment, types.KeyValuePair{Name: aws.String("PORT"), Value: aws.String(strconv.Itoa(svc.Port))})
	}
	if secrets.Version != "" {
		c.Environment = append(c.Environment, types.KeyValuePair{Name: aws.String("BERTH_SECRETS_VERSION"), Value: aws.String(secrets.Version)})
	}
	secretNames := make([]string, 0, len(valueFrom))
	for k := range valueFrom {
		secretNames = append(secretNames, k)
	}
	sort.Strings(secretNames)
	for _, k := range secretNames {
		c.Secrets = append(c.Secrets, types.Secret{Name: aws.String(k), ValueFrom: aws.String(valueFrom[k])})
	}
	if d := svc.Deploy; d != nil && d.Drain > 0 {
		stop := int32(min(fargateMaxStopTimeout, max(2, int(time.Duration(d.Drain).Seconds()))))
		c.StopTimeout = aws.Int32(stop)
	}
	// A service the ALB does not check gets a container health check.
	if h := svc.Health; h != nil && h.Path != "" && svc.Port > 0 && svc.Route == nil {
		hc := containerHealth(svc.Port, h)
		c.HealthCheck = &hc
	}
	in := &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(e.family(svc.Name)),
		NetworkMode:             types.NetworkModeAwsvpc,
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate},
		Cpu:                     aws.String(strconv.Itoa(svc.CPU)),
		Memory:                  aws.String(strconv.Itoa(svc.Memory)),
		ExecutionRoleArn:        aws.String(e.aws.ExecutionRole),
		ContainerDefinitions:    []types.ContainerDefinition{c},
	}
	if e.aws.TaskRole != "" {
		in.TaskRoleArn = aws.String(e.aws.TaskRole)
	}
	return in
}

// containerHealth is ECS's container health check for an HTTP path,
// within ECS's ranges (interval 5–300 s, timeout 2–60 s, retries 1–10,
// start period 0–300 s).
func containerHealth(port int, h *spec.Health) types.HealthCheck {
	interval := clampInt(int(time.Duration(h.Interval).Seconds()), 5, 300)
	timeout := clampInt(int(time.Duration(h.Timeout).Seconds()), 2, 60)
	url := fmt.Sprintf("http://127.0.0.1:%d%s", port, h.Path)
	return types.HealthCheck{
		Command:     []string{"CMD-SHELL", fmt.Sprintf("wget -q -O /dev/null %s || curl -fsS -o /dev/null %s || exit 1", url, url)},
		Interval:    aws.Int32(int32(interval)),
		Timeout:     aws.Int32(int32(min(timeout, interval))),
		Retries:     aws.Int32(int32(clampInt(h.Unhealthy, 1, 10))),
		StartPeriod: aws.Int32(int32(clampInt(int(time.Duration(h.Grace).Seconds()), 0, 300))),
	}
}

func clampInt(v, lo, hi int) int { return min(max(v, lo), hi) }

// fingerprint is a stable hash of what a task definition runs: the same
// fingerprint means the same release, so nothing is registered or rolled.
func fingerprint(in *ecs.RegisterTaskDefinitionInput) string {
	c := *in
	c.Tags = nil
	b, err := json.Marshal(c)
	if err != nil {
		// The input is plain data: marshalling cannot fail.
		panic("ecs: fingerprint: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// accountID is the caller's account (STS), asked once.
func (e *Engine) accountID(ctx context.Context) (string, error) {
	e.mu.Lock()
	acct := e.account
	e.mu.Unlock()
	if acct != "" {
		return acct, nil
	}
	out, err := e.c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", credentialsError(err)
	}
	e.mu.Lock()
	e.account = aws.ToString(out.Account)
	e.mu.Unlock()
	return aws.ToString(out.Account), nil
}

// credentialsError explains a failed identity check with the next step.
func credentialsError(err error) error {
	return fmt.Errorf("check AWS credentials: %w\n  set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) to a principal allowed by `berth aws policy`", err)
}

// resolvedSecrets are a service's secrets: and config: references as ECS
// reads them (valueFrom ARNs), and a digest of the versions they are at.
type resolvedSecrets struct {
	ValueFrom map[string]string
	// Version changes whenever a referenced value does: it goes into the
	// task definition (BERTH_SECRETS_VERSION), so a changed secret makes a
	// new release that rolls the service, and rolling back restores the
	// old Secrets Manager version (pinned in its valueFrom).
	Version string
}

// valueFrom resolves the service's secrets: and config: references to
// the ARNs ECS reads them from when a task starts, at their current
// versions.
func (e *Engine) valueFrom(ctx context.Context, svc *spec.Service) (resolvedSecrets, error) {
	out := resolvedSecrets{ValueFrom: map[string]string{}}
	refs := map[string]string{}
	for k, v := range svc.Config {
		refs[k] = v
	}
	for k, v := range svc.Secrets {
		refs[k] = v
	}
	if len(refs) == 0 {
		return out, nil
	}
	names := make([]string, 0, len(refs))
	for k := range refs {
		names = append(names, k)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		arn, version, err := e.secretARN(ctx, refs[name])
		if err != nil {
			return out, fmt.Errorf("secret %s of %s: %w", name, svc.Name, err)
		}
		out.ValueFrom[name] = arn
		fmt.Fprintf(h, "%s=%s@%s\n", name, refs[name], version)
	}
	out.Version = hex.EncodeToString(h.Sum(nil)[:6])
	return out, nil
}

// secretARN turns ssm:/path and secretsmanager:name[#key] into the ARN
// ECS reads, and the value's current version. A Secrets Manager version is
// pinned in the ARN; SSM cannot pin one there.
func (e *Engine) secretARN(ctx context.Context, ref string) (arn, version string, err error) {
	provider, rest, ok := strings.Cut(ref, ":")
	switch {
	case ok && provider == "ssm":
		acct, err := e.accountID(ctx)
		if err != nil {
			return "", "", err
		}
		res, err := e.c.ssm.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Option: aws.String("Equals"), Values: []string{rest}}}})
		if err != nil {
			return "", "", fmt.Errorf("describe SSM parameter %s: %w", rest, err)
		}
		if len(res.Parameters) == 0 {
			return "", "", fmt.Errorf("SSM has no parameter %s: create it (aws ssm put-parameter --name %s --type SecureString --value ...)", rest, rest)
		}
		return fmt.Sprintf("arn:aws:ssm:%s:%s:parameter%s", e.region, acct, rest), strconv.FormatInt(res.Parameters[0].Version, 10), nil
	case ok && provider == "secretsmanager":
		name, key, _ := strings.Cut(rest, "#")
		out, err := e.c.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
		if err != nil {
			var ae smithy.APIError
			if errors.As(err, &ae) && ae.ErrorCode() == "ResourceNotFoundException" {
				return "", "", fmt.Errorf("no secret %q in Secrets Manager: create it (aws secretsmanager create-secret --name %s)", name, name)
			}
			return "", "", fmt.Errorf("describe secret %s: %w", name, err)
		}
		for id, stages := range out.VersionIdsToStages {
			if slices.Contains(stages, "AWSCURRENT") {
				version = id
			}
		}
		// arn:…:secret:name-suffix:json-key:version-stage:version-id
		return aws.ToString(out.ARN) + ":" + key + "::" + version, version, nil
	}
	return "", "", fmt.Errorf("%q is a local secret: on ECS write ssm:/path or secretsmanager:name#key", ref)
}

// describeTaskDef reads one task definition (ARN or family) with its tags.
func (e *Engine) describeTaskDef(ctx context.Context, id string) (release, error) {
	out, err := e.c.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(id),
		Include:        []types.TaskDefinitionField{types.TaskDefinitionFieldTags},
	})
	if err != nil {
		return release{}, fmt.Errorf("describe task definition %s: %w", id, err)
	}
	if out.TaskDefinition == nil || aws.ToString(out.TaskDefinition.TaskDefinitionArn) == "" {
		return release{}, fmt.Errorf("describe task definition %s: %w", id, errIncomplete("the task definition or its ARN"))
	}
	return releaseOf(out.TaskDefinition, out.Tags), nil
}

// latestTaskDef is the newest revision of svc's family, if any.
func (e *Engine) latestTaskDef(ctx context.Context, svc string) (release, bool, error) {
	r, err := e.describeTaskDef(ctx, e.family(svc))
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && (ae.ErrorCode() == "ClientException" || ae.ErrorCode() == "InvalidParameterException") {
			return release{}, false, nil
		}
		return release{}, false, err
	}
	return r, true, nil
}

// releases lists the berth-made revisions of svc's family, newest first,
// at most limit of them (0: all).
func (e *Engine) releases(ctx context.Context, svc string, limit int) ([]release, error) {
	var arns []string
	p := ecs.NewListTaskDefinitionsPaginator(e.c.ecs, &ecs.ListTaskDefinitionsInput{
		FamilyPrefix: aws.String(e.family(svc)),
		Sort:         types.SortOrderDesc,
		Status:       types.TaskDefinitionStatusActive,
	})
	for p.HasMorePages() && (limit == 0 || len(arns) < limit) {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list task definitions of %s: %w", e.family(svc), err)
		}
		for _, a := range page.TaskDefinitionArns {
			// The prefix also matches longer families (web and web-admin).
			if strings.HasSuffix(a[:strings.LastIndex(a, ":")], "/"+e.family(svc)) {
				arns = append(arns, a)
			}
		}
	}
	if limit > 0 && len(arns) > limit {
		arns = arns[:limit]
	}
	out := make([]release, 0, len(arns))
	for _, a := range arns {
		r, err := e.describeTaskDef(ctx, a)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision > out[j].Revision })
	return out, nil
}

// register registers a new revision for a release, tagged with its
// number, commit, set and fingerprint.
func (e *Engine) register(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, svc string, number int, commit, set, fp string) (release, error) {
	tags := e.ownTags(svc)
	tags[TagRelease] = strconv.Itoa(number)
	tags[TagCommit] = commit
	tags[TagSet] = set
	tags[TagFingerprint] = fp
	in.Tags = toECSTags(tags)
	if e.dryRun {
		fmt.Fprintf(e.planOut, "register task definition %s (release %d)\n", aws.ToString(in.Family), number)
		return release{ARN: aws.ToString(in.Family) + ":(new)", Family: aws.ToString(in.Family), Number: number, Commit: commit, Set: set, Fingerprint: fp}, nil
	}
	out, err := e.c.ecs.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return release{}, fmt.Errorf("register task definition %s: %w", aws.ToString(in.Family), err)
	}
	if out.TaskDefinition == nil || aws.ToString(out.TaskDefinition.TaskDefinitionArn) == "" {
		return release{}, fmt.Errorf("register task definition %s: %w", aws.ToString(in.Family), errIncomplete("the task definition or its ARN"))
	}
	r := releaseOf(out.TaskDefinition, out.Tags)
	if r.Commit == "" { // an endpoint that does not echo tags
		r.Number, r.Commit, r.Set, r.Fingerprint = number, commit, set, fp
	}
	return r, nil
}
