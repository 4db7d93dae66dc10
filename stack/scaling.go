package stack

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/appautoscaling"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/wsfargate/websocket-service/server/contract"
)

// scaling declares the service's scalable task count and one target
// tracking policy: live connections per task by default, or the seed's
// ALB request count per target.
func (b *builder) scaling(t *task, lb *loadBalancer) error {
	target, err := appautoscaling.NewTarget(b.ctx, b.name+"-tasks", &appautoscaling.TargetArgs{
		ServiceNamespace:  pulumi.String("ecs"),
		ScalableDimension: pulumi.String("ecs:service:DesiredCount"),
		ResourceId:        pulumi.Sprintf("service/%s/%s", t.cluster.Name, t.service.Name),
		MinCapacity:       pulumi.Int(b.cfg.MinTasks),
		MaxCapacity:       pulumi.Int(b.cfg.MaxTasks),
		Tags:              b.tags(),
	}, b.opts()...)
	if err != nil {
		return fmt.Errorf("scalable target: %w", err)
	}

	tracking := &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs{
		ScaleOutCooldown: pulumi.Int(b.cfg.ScaleOutCooldown),
		ScaleInCooldown:  pulumi.Int(b.cfg.ScaleInCooldown),
	}
	switch b.cfg.Scaling {
	case ScalingConnections:
		// Every task writes its open connection count as an EMF record
		// with the service name as dimension; CloudWatch merges the tasks'
		// records, so the Average is the mean per task.
		tracking.TargetValue = pulumi.Float64(float64(b.cfg.ConnectionsPerTask))
		tracking.CustomizedMetricSpecification = &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationArgs{
			Namespace:  pulumi.String(contract.MetricNamespace),
			MetricName: pulumi.String(contract.MetricConnections),
			Statistic:  pulumi.String("Average"),
			Dimensions: appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationDimensionArray{
				&appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationDimensionArgs{
					Name:  pulumi.String(contract.MetricDimension),
					Value: pulumi.String(b.physical),
				},
			},
		}
	case ScalingRequests:
		tracking.TargetValue = pulumi.Float64(float64(b.cfg.RequestsPerTarget))
		tracking.PredefinedMetricSpecification = &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs{
			PredefinedMetricType: pulumi.String("ALBRequestCountPerTarget"),
			ResourceLabel:        pulumi.Sprintf("%s/%s", lb.alb.ArnSuffix, lb.targetGroup.ArnSuffix),
		}
	default:
		return &ConfigError{Key: "scaling", Value: b.cfg.Scaling, Reason: "unknown scaling mode"}
	}

	_, err = appautoscaling.NewPolicy(b.ctx, b.name+"-"+b.cfg.Scaling, &appautoscaling.PolicyArgs{
		PolicyType:                               pulumi.String("TargetTrackingScaling"),
		ServiceNamespace:                         target.ServiceNamespace,
		ScalableDimension:                        target.ScalableDimension,
		ResourceId:                               target.ResourceId,
		TargetTrackingScalingPolicyConfiguration: tracking,
	}, b.opts()...)
	if err != nil {
		return fmt.Errorf("scaling policy: %w", err)
	}
	return nil
}
