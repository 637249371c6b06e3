package ecs

import (
	"encoding/json"
	"fmt"
)

// PolicyInput names what the deploy role's policy is scoped to.
type PolicyInput struct {
	Project string
	Cluster string
	// Roles are the execution and task roles berth passes to ECS.
	Roles []string
}

type statement struct {
	Sid       string         `json:"Sid"`
	Effect    string         `json:"Effect"`
	Action    []string       `json:"Action"`
	Resource  any            `json:"Resource"`
	Condition map[string]any `json:"Condition,omitempty"`
}

// Policy is the least-privilege IAM policy (JSON) of the principal that
// runs berth against an ecs environment: reads where AWS allows no
// narrower scope, and changes only to what carries berth:project = the
// project (or is created with that tag), in the project's names.
func Policy(in PolicyInput) string {
	p := in.Project
	tagged := map[string]any{"StringEquals": map[string]string{"aws:ResourceTag/berth:project": p}}
	creating := map[string]any{"StringEquals": map[string]string{"aws:RequestTag/berth:project": p}}
	roles := any(in.Roles)
	if len(in.Roles) == 1 {
		roles = in.Roles[0]
	}
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []statement{
			{Sid: "Identity", Effect: "Allow", Action: []string{"sts:GetCallerIdentity"}, Resource: "*"},
			{Sid: "Read", Effect: "Allow", Resource: "*", Action: []string{
				"ecs:DescribeClusters", "ecs:DescribeServices", "ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions",
				"ecs:ListTasks", "ecs:DescribeTasks", "ecs:ListServiceDeployments", "ecs:DescribeServiceDeployments", "ecs:DescribeServiceRevisions",
				"cloudwatch:DescribeAlarms", "application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies",
				"elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeRules",
				"elasticloadbalancing:DescribeTags", "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes",
				"elasticloadbalancing:DescribeTargetHealth",
				"logs:DescribeLogGroups", "ecr:GetAuthorizationToken", "secretsmanager:DescribeSecret", "ssm:DescribeParameters",
			}},
			{Sid: "CreateCluster", Effect: "Allow", Action: []string{"ecs:CreateCluster"}, Resource: "*", Condition: creating},
			{Sid: "TaskDefinitions", Effect: "Allow", Action: []string{"ecs:RegisterTaskDefinition", "ecs:TagResource"}, Resource: "*", Condition: creating},
			{Sid: "CreateServices", Effect: "Allow", Action: []string{"ecs:CreateService", "ecs:TagResource"},
				Resource: fmt.Sprintf("arn:aws:ecs:*:*:service/%s/%s-*", in.Cluster, p), Condition: creating},
			{Sid: "ChangeOwnServices", Effect: "Allow", Action: []string{"ecs:UpdateService", "ecs:DeleteService", "ecs:TagResource", "ecs:StopServiceDeployment", "ecs:ContinueServiceDeployment"},
				Resource: []string{fmt.Sprintf("arn:aws:ecs:*:*:service/%s/%s-*", in.Cluster, p), fmt.Sprintf("arn:aws:ecs:*:*:service-deployment/%s/%s-*", in.Cluster, p)}, Condition: tagged},
			{Sid: "CreateTargetGroupsAndRules", Effect: "Allow", Action: []string{"elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:CreateRule", "elasticloadbalancing:AddTags"},
				Resource: "*", Condition: creating},
			{Sid: "ChangeOwnTargetGroupsAndRules", Effect: "Allow", Action: []string{
				"elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
				"elasticloadbalancing:ModifyRule", "elasticloadbalancing:SetRulePriorities", "elasticloadbalancing:DeleteRule",
			}, Resource: "*", Condition: tagged},
			{Sid: "Images", Effect: "Allow", Action: []string{
				"ecr:DescribeRepositories", "ecr:CreateRepository", "ecr:TagResource", "ecr:DescribeImages",
				"ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
				"ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
			}, Resource: fmt.Sprintf("arn:aws:ecr:*:*:repository/%s/*", p)},
			{Sid: "Logs", Effect: "Allow", Action: []string{"logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:TagResource", "logs:FilterLogEvents"},
				Resource: fmt.Sprintf("arn:aws:logs:*:*:log-group:/berth/%s/*", p)},
			{Sid: "Alarms", Effect: "Allow", Action: []string{"cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:TagResource"},
				Resource: fmt.Sprintf("arn:aws:cloudwatch:*:*:alarm:berth-%s-*", p)},
			{Sid: "Autoscaling", Effect: "Allow", Action: []string{
				"application-autoscaling:RegisterScalableTarget", "application-autoscaling:DeregisterScalableTarget",
				"application-autoscaling:PutScalingPolicy", "application-autoscaling:DeleteScalingPolicy",
			}, Resource: "*", Condition: map[string]any{"StringLike": map[string]string{"application-autoscaling:service-namespace": "ecs"}}},
			{Sid: "PassInfrastructureRole", Effect: "Allow", Action: []string{"iam:PassRole"}, Resource: "arn:aws:iam::*:role/*",
				Condition: map[string]any{"StringEquals": map[string]string{"iam:PassedToService": "ecs.amazonaws.com"}}},
			{Sid: "PassRoles", Effect: "Allow", Action: []string{"iam:PassRole"}, Resource: roles,
				Condition: map[string]any{"StringEquals": map[string]string{"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("ecs: policy: " + err.Error()) // plain data
	}
	return string(b) + "\n"
}
