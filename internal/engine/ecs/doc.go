// Package ecs is the engine that runs a project's services on AWS ECS
// Fargate behind an existing Application Load Balancer. ECS schedules,
// heals and rolls out the tasks; this package plans, submits and follows,
// and reads releases, history and live commits back from AWS (task
// definition and service tags), so it keeps no local state.
//
// It owns, tagged berth:project, berth:env and berth:service, the ECR
// repositories, task-definition revisions, target groups, listener rules,
// ECS services and log groups it creates, and never changes anything
// untagged. The network, the ALB and its listener, and the IAM roles are
// expected to exist (docs/ecs.md).
//
// The engine is split by resource: taskdef.go (task definitions and
// releases), service.go (ECS services and deployments), follow.go
// (following a deployment to its outcome), loadbalancer.go (target groups
// and listener rules), registry.go (ECR), logs.go (CloudWatch Logs),
// verify.go and policy.go.
package ecs
