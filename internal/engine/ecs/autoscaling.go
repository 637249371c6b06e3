package ecs

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
)

// scalableResource is the Application Auto Scaling resource id of a service.
func (e *Engine) scalableResource(svc string) string {
	return "service/" + e.cluster() + "/" + e.serviceName(svc)
}

// ensureAutoscaling registers the service's scalable target (min, max)
// and its target-tracking policy, named berth-<metric>, with lo as the
// minimum (the spec's, or the count berth scale asks for).
func (e *Engine) ensureAutoscaling(ctx context.Context, svc string, a *Autoscaling, tg string, lo int) error {
	if a == nil {
		return nil
	}
	res := e.scalableResource(svc)
	hi := max(a.Max, lo)
	err := e.mutate(fmt.Sprintf("register scalable target %s (%d–%d tasks)", res, lo, hi), func() error {
		_, err := e.c.aas.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{
			ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String(res), ScalableDimension: aastypes.ScalableDimensionECSServiceDesiredCount,
			MinCapacity: aws.Int32(int32(lo)), MaxCapacity: aws.Int32(int32(hi)),
		})
		if err != nil {
			return fmt.Errorf("register scalable target of %s: %w", svc, err)
		}
		return nil
	})
	if err != nil || a.Metric == "" {
		return err
	}
	spec := &aastypes.PredefinedMetricSpecification{PredefinedMetricType: aastypes.MetricType(a.Metric)}
	if a.Metric == string(aastypes.MetricTypeALBRequestCountPerTarget) {
		spec.ResourceLabel = aws.String(e.listenerLoadBalancer() + "/" + arnSuffix(tg, "targetgroup"))
	}
	return e.mutate(fmt.Sprintf("put target-tracking policy on %s: %s at %g", res, a.Metric, a.TargetValue), func() error {
		_, err := e.c.aas.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{
			PolicyName: aws.String("berth-" + a.Metric), ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String(res),
			ScalableDimension: aastypes.ScalableDimensionECSServiceDesiredCount, PolicyType: aastypes.PolicyTypeTargetTrackingScaling,
			TargetTrackingScalingPolicyConfiguration: &aastypes.TargetTrackingScalingPolicyConfiguration{
				TargetValue: aws.Float64(a.TargetValue), PredefinedMetricSpecification: spec,
				ScaleOutCooldown: aws.Int32(int32(a.ScaleOutCooldownS)), ScaleInCooldown: aws.Int32(int32(a.ScaleInCooldownS)),
			},
		})
		if err != nil {
			return fmt.Errorf("put scaling policy of %s: %w", svc, err)
		}
		return nil
	})
}

// deregisterAutoscaling removes the service's scalable target (and with
// it its policies); one that was never registered is no error.
func (e *Engine) deregisterAutoscaling(ctx context.Context, svc string) error {
	res := e.scalableResource(svc)
	return e.mutate("deregister scalable target "+res, func() error {
		_, err := e.c.aas.DeregisterScalableTarget(ctx, &aas.DeregisterScalableTargetInput{
			ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String(res), ScalableDimension: aastypes.ScalableDimensionECSServiceDesiredCount,
		})
		if err != nil && errorCode(err) != "ObjectNotFoundException" {
			return fmt.Errorf("deregister scalable target of %s: %w", svc, err)
		}
		return nil
	})
}
