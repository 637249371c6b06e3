package ecs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/spec"
)

// Tag keys berth puts on everything it creates.
const (
	TagProject     = "berth:project"
	TagEnv         = "berth:env"
	TagService     = "berth:service"
	TagRelease     = "berth:release"
	TagCommit      = "berth:commit"
	TagSet         = "berth:set"
	TagFingerprint = "berth:fingerprint"
	// TagTaskDef, on an ECS service, names the task definition its
	// berth:release and berth:commit tags describe.
	TagTaskDef = "berth:taskdef"
)

// Errors callers can match with errors.Is.
var (
	// ErrNotOurs: a resource with the name berth would use exists and is
	// not tagged as berth's; berth never changes it.
	ErrNotOurs = errors.New("exists and was not created by berth")
	// ErrNotALB: the configured listener does not belong to an
	// Application Load Balancer.
	ErrNotALB = errors.New("listener is not an Application Load Balancer listener")
	// ErrNoRelease: the release or commit asked for has no task definition.
	ErrNoRelease = errors.New("no such release")
	// ErrUnsupported: the operation has no meaning on ECS (yet).
	ErrUnsupported = errors.New("not supported on the ecs engine")
	// ErrNotDeployed: the service has no ECS service yet.
	ErrNotDeployed = errors.New("not deployed")
)

// Config is what an Engine needs.
type Config struct {
	// Spec is the project's spec with the ecs environment applied
	// (spec.ForEnvironment): Spec.Env and Spec.AWS must be set.
	Spec *spec.Spec
	// AWS is the SDK configuration: LoadAWSConfig, or one tests build.
	AWS aws.Config
	// PollInterval is how often a deployment or a log is polled. Default 5s.
	PollInterval time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives debug detail. Default: discarded.
	Logger *slog.Logger
	// DryRun makes every mutating AWS call a line written to Plan instead.
	DryRun bool
	// Plan receives the changes a dry run would make. Default io.Discard.
	Plan io.Writer
}

// LoadAWSConfig loads the standard AWS configuration (environment,
// shared config and credentials files, AWS_PROFILE, AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE>), in region when it is not empty. Throttled
// calls are retried with backoff.
func LoadAWSConfig(ctx context.Context, region string) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.AddWithMaxAttempts(retry.NewStandard(), 8)
		}),
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("no AWS region: set aws.region in the environment, or AWS_REGION")
	}
	return cfg, nil
}

// clients is the one set of AWS clients an Engine uses.
type clients struct {
	ecs  *ecs.Client
	elb  *elb.Client
	ecr  *ecr.Client
	logs *cloudwatchlogs.Client
	sts  *sts.Client
	ssm  *ssm.Client
	sm   *secretsmanager.Client
	cw   *cloudwatch.Client
	aas  *aas.Client
}

// Engine runs a project's services on ECS. It implements engine.Engine.
type Engine struct {
	sp      *spec.Spec
	aws     *spec.AWS
	c       clients
	region  string
	poll    time.Duration
	now     func() time.Time
	log     *slog.Logger
	dryRun  bool
	planOut io.Writer

	mu        sync.Mutex
	deps      map[string]*deployment
	nextID    int
	account   string
	vpc       string // the listener's load balancer's VPC
	lbChecked bool
	// listenerURL is the configured listener's address through its
	// balancer's DNS name (scheme://dns[:port]), for smoke checks.
	listenerURL string
	// clusterReady is set once the cluster is known to exist.
	clusterReady bool
	// ecrHost and ecrKeychain are the ECR registry and its token, once asked.
	ecrHost     string
	ecrKeychain authn.Keychain
}

var _ engine.Engine = (*Engine)(nil)

// New returns an Engine for cfg.Spec's ecs environment.
func New(cfg Config) (*Engine, error) {
	if cfg.Spec == nil || cfg.Spec.AWS == nil {
		return nil, errors.New("ecs engine: the spec has no aws: block for this environment")
	}
	e := &Engine{
		sp:      cfg.Spec,
		aws:     cfg.Spec.AWS,
		region:  cfg.AWS.Region,
		poll:    cfg.PollInterval,
		now:     cfg.Now,
		log:     cfg.Logger,
		dryRun:  cfg.DryRun,
		planOut: cfg.Plan,
		deps:    map[string]*deployment{},
	}
	if e.poll <= 0 {
		e.poll = 5 * time.Second
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.planOut == nil {
		e.planOut = io.Discard
	}
	a := cfg.AWS
	e.c = clients{
		ecs:  ecs.NewFromConfig(a),
		elb:  elb.NewFromConfig(a),
		ecr:  ecr.NewFromConfig(a),
		logs: cloudwatchlogs.NewFromConfig(a),
		sts:  sts.NewFromConfig(a),
		ssm:  ssm.NewFromConfig(a),
		sm:   secretsmanager.NewFromConfig(a),
		cw:   cloudwatch.NewFromConfig(a),
		aas:  aas.NewFromConfig(a),
	}
	return e, nil
}

// names derives the names of what berth creates for a service.
func (e *Engine) family(svc string) string {
	return e.sp.Project + "-" + e.sp.Env + "-" + svc
}

// serviceName is the ECS service's name: the same as the family.
func (e *Engine) serviceName(svc string) string { return e.family(svc) }

func (e *Engine) logGroup(svc string) string {
	return "/berth/" + e.sp.Project + "/" + e.sp.Env + "/" + svc
}

func (e *Engine) cluster() string { return e.aws.Cluster }

// ownTags are the tags every resource of svc carries.
func (e *Engine) ownTags(svc string) map[string]string {
	return map[string]string{TagProject: e.sp.Project, TagEnv: e.sp.Env, TagService: svc}
}

// owned reports whether tags mark a resource as berth's, for this project
// and environment.
func (e *Engine) owned(tags map[string]string) bool {
	return tags[TagProject] == e.sp.Project && tags[TagEnv] == e.sp.Env
}

// mutate runs a mutating AWS call, or in a dry run writes what it would do.
func (e *Engine) mutate(what string, call func() error) error {
	if e.dryRun {
		fmt.Fprintln(e.planOut, what)
		return nil
	}
	e.log.Debug("aws", "change", what)
	return call()
}

// RolloutSecrets is not yet offered on ECS: ECS reads secrets when a task
// starts, so a changed value reaches a service with its next deploy.
func (e *Engine) RolloutSecrets(ctx context.Context, r api.SecretsRolloutRequest) (api.DeployResponse, error) {
	return api.DeployResponse{}, fmt.Errorf("roll out secrets: %w: ECS reads secrets when a task starts; `berth deploy --force SERVICE` restarts the services that use them", ErrUnsupported)
}

func (e *Engine) serviceSpec(name string) (*spec.Service, error) {
	s, ok := e.sp.Services[name]
	if !ok {
		return nil, fmt.Errorf("no service %q in %s", name, e.sp.Path)
	}
	return s, nil
}
