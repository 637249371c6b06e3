package awsfake

import (
	"fmt"
	"strings"
	"time"
)

type scaleState struct {
	targets  map[string]*scalableTarget // by namespace|resource|dimension
	policies map[string]*scalingPolicy  // by target key|policy name
}

type scalableTarget struct {
	namespace, resource, dimension, arn string
	min, max                            int
	created                             time.Time
}

type scalingPolicy struct {
	key, name, arn, policyType string
	target                     *scalableTarget
	config                     map[string]any
	created                    time.Time
}

func newScaleState() *scaleState {
	return &scaleState{targets: map[string]*scalableTarget{}, policies: map[string]*scalingPolicy{}}
}

func scaleKey(ns, res, dim string) string { return ns + "|" + res + "|" + dim }

type scaleTargetRef struct {
	ServiceNamespace, ResourceId, ScalableDimension string
}

// checkECSTarget validates an ECS scalable target and returns its service.
func (s *Server) checkECSTarget(in scaleTargetRef) (*service, error) {
	if in.ServiceNamespace != "ecs" || in.ScalableDimension != "ecs:service:DesiredCount" {
		return nil, errorf("ValidationException", "awsfake models only ServiceNamespace ecs with ScalableDimension ecs:service:DesiredCount")
	}
	parts := strings.Split(in.ResourceId, "/")
	if len(parts) != 3 || parts[0] != "service" {
		return nil, errorf("ValidationException", "Unsupported resource ID %s; expected service/<cluster>/<service>", in.ResourceId)
	}
	_, svc, err := s.serviceByRef(parts[1], parts[2])
	if err != nil || svc.status != "ACTIVE" {
		return nil, errorf("ValidationException", "ECS service doesn't exist: %s", in.ResourceId)
	}
	return svc, nil
}

func (s *Server) scaleHandlers() map[string]jsonHandler {
	return map[string]jsonHandler{
		"RegisterScalableTarget": handle(func(in struct {
			scaleTargetRef
			MinCapacity, MaxCapacity *int
		}) (any, error) {
			svc, err := s.checkECSTarget(in.scaleTargetRef)
			if err != nil {
				return nil, err
			}
			key := scaleKey(in.ServiceNamespace, in.ResourceId, in.ScalableDimension)
			t := s.scale.targets[key]
			if t == nil {
				if in.MinCapacity == nil || in.MaxCapacity == nil {
					return nil, errorf("ValidationException", "MinCapacity and MaxCapacity are required to register a new scalable target")
				}
				t = &scalableTarget{namespace: in.ServiceNamespace, resource: in.ResourceId, dimension: in.ScalableDimension,
					arn: s.arn("application-autoscaling", "scalable-target/"+s.nextID(20)), created: s.now}
				s.scale.targets[key] = t
			}
			if in.MinCapacity != nil {
				t.min = *in.MinCapacity
			}
			if in.MaxCapacity != nil {
				t.max = *in.MaxCapacity
			}
			if t.min > t.max {
				return nil, errorf("ValidationException", "Minimum capacity cannot be greater than maximum capacity")
			}
			// Application Auto Scaling moves the desired count into range.
			if svc.desired < t.min || svc.desired > t.max {
				svc.desired = min(max(svc.desired, t.min), t.max)
				svc.deployments[0].desired = svc.desired
				svc.steadyEventAt = time.Time{}
			}
			return map[string]any{"ScalableTargetARN": t.arn}, nil
		}),
		"DescribeScalableTargets": handle(func(in struct {
			ServiceNamespace, ScalableDimension string
			ResourceIds                         []string
		}) (any, error) {
			out := []any{}
			for _, k := range sortedKeys(s.scale.targets) {
				t := s.scale.targets[k]
				if t.namespace != in.ServiceNamespace || (in.ScalableDimension != "" && t.dimension != in.ScalableDimension) ||
					len(in.ResourceIds) > 0 && !contains(in.ResourceIds, t.resource) {
					continue
				}
				out = append(out, map[string]any{"ServiceNamespace": t.namespace, "ResourceId": t.resource, "ScalableDimension": t.dimension,
					"MinCapacity": t.min, "MaxCapacity": t.max, "CreationTime": epoch(t.created), "ScalableTargetARN": t.arn,
					"RoleARN":        "arn:aws:iam::" + s.opts.Account + ":role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService",
					"SuspendedState": map[string]any{"DynamicScalingInSuspended": false, "DynamicScalingOutSuspended": false, "ScheduledScalingSuspended": false}})
			}
			return map[string]any{"ScalableTargets": out}, nil
		}),
		"DeregisterScalableTarget": handle(func(in scaleTargetRef) (any, error) {
			key := scaleKey(in.ServiceNamespace, in.ResourceId, in.ScalableDimension)
			if s.scale.targets[key] == nil {
				return nil, errorf("ObjectNotFoundException", "No scalable target registered for service namespace: %s, resource ID: %s, scalable dimension: %s", in.ServiceNamespace, in.ResourceId, in.ScalableDimension)
			}
			delete(s.scale.targets, key)
			for k, p := range s.scale.policies {
				if p.key == key {
					delete(s.scale.policies, k)
				}
			}
			return nil, nil
		}),
		"PutScalingPolicy": func(body []byte) (any, error) {
			var in struct {
				scaleTargetRef
				PolicyName, PolicyType string
			}
			var raw map[string]any
			if err := decodeJSON(body, &in); err != nil {
				return nil, err
			}
			if err := decodeJSON(body, &raw); err != nil {
				return nil, err
			}
			key := scaleKey(in.ServiceNamespace, in.ResourceId, in.ScalableDimension)
			t := s.scale.targets[key]
			if t == nil {
				return nil, errorf("ObjectNotFoundException", "No scalable target registered for service namespace: %s, resource ID: %s, scalable dimension: %s", in.ServiceNamespace, in.ResourceId, in.ScalableDimension)
			}
			typ := in.PolicyType
			if typ == "" {
				typ = "StepScaling"
			}
			cfgKey := "StepScalingPolicyConfiguration"
			if typ == "TargetTrackingScaling" {
				cfgKey = "TargetTrackingScalingPolicyConfiguration"
			}
			cfg, _ := raw[cfgKey].(map[string]any)
			if cfg == nil {
				return nil, errorf("ValidationException", "%s is required for policy type %s", cfgKey, typ)
			}
			pk := key + "|" + in.PolicyName
			p := s.scale.policies[pk]
			if p == nil {
				p = &scalingPolicy{key: key, name: in.PolicyName, target: t, created: s.now,
					arn: s.arn("autoscaling", fmt.Sprintf("scalingPolicy:%s:resource/%s:policyName/%s", s.nextID(20), in.ResourceId, in.PolicyName))}
				s.scale.policies[pk] = p
			}
			p.policyType, p.config = typ, cfg
			alarms := []any{}
			if typ == "TargetTrackingScaling" {
				for _, dir := range []string{"AlarmHigh", "AlarmLow"} {
					n := fmt.Sprintf("TargetTracking-%s-%s-%s", in.ResourceId, dir, p.arn[len(p.arn)-8:])
					alarms = append(alarms, map[string]any{"AlarmName": n, "AlarmARN": s.arn("cloudwatch", "alarm:"+n)})
				}
			}
			return map[string]any{"PolicyARN": p.arn, "Alarms": alarms}, nil
		},
		"DescribeScalingPolicies": handle(func(in struct {
			ServiceNamespace, ResourceId, ScalableDimension string
			PolicyNames                                     []string
		}) (any, error) {
			out := []any{}
			for _, k := range sortedKeys(s.scale.policies) {
				p := s.scale.policies[k]
				t := p.target
				if t.namespace != in.ServiceNamespace || in.ResourceId != "" && t.resource != in.ResourceId ||
					in.ScalableDimension != "" && t.dimension != in.ScalableDimension || len(in.PolicyNames) > 0 && !contains(in.PolicyNames, p.name) {
					continue
				}
				pj := map[string]any{"PolicyARN": p.arn, "PolicyName": p.name, "ServiceNamespace": t.namespace, "ResourceId": t.resource,
					"ScalableDimension": t.dimension, "PolicyType": p.policyType, "CreationTime": epoch(p.created), "Alarms": []any{}}
				if p.policyType == "TargetTrackingScaling" {
					pj["TargetTrackingScalingPolicyConfiguration"] = p.config
				} else {
					pj["StepScalingPolicyConfiguration"] = p.config
				}
				out = append(out, pj)
			}
			return map[string]any{"ScalingPolicies": out}, nil
		}),
		"DeleteScalingPolicy": handle(func(in struct {
			scaleTargetRef
			PolicyName string
		}) (any, error) {
			pk := scaleKey(in.ServiceNamespace, in.ResourceId, in.ScalableDimension) + "|" + in.PolicyName
			if s.scale.policies[pk] == nil {
				return nil, errorf("ObjectNotFoundException", "No scaling policy found for service namespace: %s, resource ID: %s, scalable dimension: %s, policy name: %s", in.ServiceNamespace, in.ResourceId, in.ScalableDimension, in.PolicyName)
			}
			delete(s.scale.policies, pk)
			return nil, nil
		}),
	}
}
