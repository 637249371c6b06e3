// Package awsfake is an in-process, wire-level fake of the AWS APIs berth's
// ECS engine calls: ECS, ECR, SSM Parameter Store, Secrets Manager,
// CloudWatch Logs, Application Auto Scaling (AWS JSON 1.1, routed by
// X-Amz-Target), CloudWatch alarms (RPC v2 CBOR or AWS JSON 1.0), and ELBv2
// and STS (awsQuery: form-encoded requests, XML responses and AWS's error
// XML).
//
// A Server listens on 127.0.0.1 like httptest.Server. Point the real
// aws-sdk-go-v2 clients at URL() through BaseEndpoint or AWS_ENDPOINT_URL and
// their real serializers, retries and error mapping run against it.
//
// The fake keeps state and simulates what berth depends on, on a clock the
// test controls: ECS tasks go PROVISIONING → PENDING → RUNNING → healthy in
// their target groups, rolling deployments replace tasks within the service's
// maximum/minimum percentages, and the deployment circuit breaker fails (and
// optionally rolls back) a revision whose tasks keep stopping. Nothing moves
// unless the test calls Advance or Step, or sets Options.AutoAdvance so that
// every API call moves the clock.
//
// CloudWatch is served both over Smithy RPC v2 CBOR (what the SDK's
// cloudwatch client speaks by default) and over AWS JSON 1.0 (a client
// switched with o.Protocol = awsjson.New10(...)).
//
// Only what berth calls is modelled; each operation's shapes follow the SDK
// (ecs v1.105.1, elasticloadbalancingv2 v1.64.0, ...) response snapshots.
package awsfake
