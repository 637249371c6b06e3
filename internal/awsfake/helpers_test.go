package awsfake_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"

	"github.com/berth-dev/berth/internal/awsfake"
)

// start runs a fake for the test and returns an SDK config aimed at it:
// static credentials, a region, BaseEndpoint, and the standard retryer
// with its backoff removed so throttling retries cost no wall time.
func start(t testing.TB, opts awsfake.Options) (*awsfake.Server, aws.Config) {
	t.Helper()
	srv := awsfake.New(opts)
	t.Cleanup(srv.Close)
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIAFAKE", "secret", "")),
		config.WithBaseEndpoint(srv.URL()),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
				o.RateLimiter = ratelimit.None
			})
		}),
	)
	if err != nil {
		t.Fatalf("load SDK config: %v", err)
	}
	return srv, cfg
}

// errCode is the AWS error code of err, or "" if it is not an API error.
func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// must returns v once the test has checked err: must(c.Op(ctx, in))(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
