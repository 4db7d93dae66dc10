package stack

import (
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/wsfargate/websocket-service/server/contract"
)

// Alarm windows.
const (
	// alarmPeriod is the period of the rate and spike alarms: five minutes
	// smooths single bad minutes without hiding an incident for long.
	alarmPeriod = 300
	// healthyPeriods minutes without a healthy target raise the alarm.
	healthyPeriods = 2
	// atMaxPeriods of alarmPeriod at the task maximum (15 minutes) mean
	// scaling has run out of room.
	atMaxPeriods = 3
)

// alarmTopic declares, when alarmEmail is set, the SNS topic the alarms
// notify and the email subscription to it, and returns the topic's ARN
// (nil without alarmEmail: the alarms then only change state).
//
// The topic is encrypted with a customer managed KMS key rather than the
// AWS managed alias/aws/sns: CloudWatch must encrypt what it publishes,
// and the managed key's policy, which cannot be changed, does not let it,
// so alarm notifications to a topic under alias/aws/sns fail.
func (b *builder) alarmTopic() (pulumi.StringInput, error) {
	if b.cfg.AlarmEmail == "" {
		return nil, nil
	}
	policy, err := marshalPolicy(policyDocument{Version: policyVersion, Statement: []statement{
		// The account administers the key through IAM, as with the
		// default key policy; without this the key is unmanageable.
		{Sid: "AccountAdministers", Effect: "Allow", Principal: &principal{AWS: []string{"arn:aws:iam::" + b.account + ":root"}}, Action: []string{"kms:*"}, Resource: []string{"*"}},
		{Sid: "CloudWatchAlarmsPublish", Effect: "Allow", Principal: &principal{Service: []string{"cloudwatch.amazonaws.com"}}, Action: []string{"kms:Decrypt", "kms:GenerateDataKey*"}, Resource: []string{"*"}},
	}})
	if err != nil {
		return nil, err
	}
	keyArgs := &kms.KeyArgs{
		Description:       pulumi.String("Encrypts the alarm topic of " + b.physical),
		EnableKeyRotation: pulumi.Bool(true),
		Policy:            pulumi.String(policy),
		Tags:              b.tags(),
	}
	if b.cfg.ForceDestroy {
		keyArgs.DeletionWindowInDays = pulumi.Int(7) // the shortest KMS allows
	}
	key, err := kms.NewKey(b.ctx, b.name+"-alarms", keyArgs, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("alarm topic key: %w", err)
	}
	topic, err := sns.NewTopic(b.ctx, b.name+"-alarms", &sns.TopicArgs{
		DisplayName:    pulumi.String(b.physical + " alarms"),
		KmsMasterKeyId: key.Arn,
		Tags:           b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("alarm topic: %w", err)
	}
	_, err = sns.NewTopicSubscription(b.ctx, b.name+"-alarms-email", &sns.TopicSubscriptionArgs{
		Topic:    topic.Arn,
		Protocol: pulumi.String("email"),
		Endpoint: pulumi.String(b.cfg.AlarmEmail),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("alarm email subscription: %w", err)
	}
	return topic.Arn, nil
}

// alarms declares the service's alarms: no healthy target, too many 5xx
// responses, a spike of slow-consumer evictions, and the task count stuck
// at its maximum. With a topic, each notifies on entering and leaving the
// alarm state.
func (b *builder) alarms(t *task, lb *loadBalancer, topic pulumi.StringInput) error {
	var actions pulumi.Array
	if topic != nil {
		actions = pulumi.Array{topic}
	}
	alarm := func(suffix string, args *cloudwatch.MetricAlarmArgs) error {
		args.Name = pulumi.String(b.physical + "-" + suffix)
		args.AlarmActions, args.OkActions = actions, actions
		args.Tags = b.tags()
		if _, err := cloudwatch.NewMetricAlarm(b.ctx, b.name+"-"+suffix, args, b.opts()...); err != nil {
			return fmt.Errorf("alarm %s: %w", suffix, err)
		}
		return nil
	}
	targetGroup := pulumi.StringMap{"TargetGroup": lb.targetGroup.ArnSuffix, "LoadBalancer": lb.alb.ArnSuffix}
	loadBalancer := pulumi.StringMap{"LoadBalancer": lb.alb.ArnSuffix}

	if err := alarm("no-healthy-targets", &cloudwatch.MetricAlarmArgs{
		AlarmDescription:   pulumi.String("No task behind the load balancer is healthy: every WebSocket upgrade fails."),
		Namespace:          pulumi.String(albNamespace),
		MetricName:         pulumi.String("HealthyHostCount"),
		Dimensions:         targetGroup,
		Statistic:          pulumi.String("Minimum"),
		Period:             pulumi.Int(60),
		EvaluationPeriods:  pulumi.Int(healthyPeriods),
		ComparisonOperator: pulumi.String("LessThanThreshold"),
		Threshold:          pulumi.Float64(1),
		// No data means no registered target either.
		TreatMissingData: pulumi.String("breaching"),
	}); err != nil {
		return err
	}

	// Load balancer and target 5xx over all requests, in percent; a
	// period without requests counts as 0 %.
	sum := func(id, name string) cloudwatch.MetricAlarmMetricQueryInput {
		return &cloudwatch.MetricAlarmMetricQueryArgs{
			Id: pulumi.String(id),
			Metric: &cloudwatch.MetricAlarmMetricQueryMetricArgs{
				Namespace:  pulumi.String(albNamespace),
				MetricName: pulumi.String(name),
				Dimensions: loadBalancer,
				Stat:       pulumi.String("Sum"),
				Period:     pulumi.Int(alarmPeriod),
			},
			ReturnData: pulumi.Bool(false),
		}
	}
	if err := alarm("5xx-rate", &cloudwatch.MetricAlarmArgs{
		AlarmDescription: pulumi.String("More than " + strconv.Itoa(b.cfg.Alarm5xxPercent) + " % of the load balancer's requests got a 5xx response over 5 minutes."),
		MetricQueries: cloudwatch.MetricAlarmMetricQueryArray{
			sum("requests", "RequestCount"),
			sum("target5xx", "HTTPCode_Target_5XX_Count"),
			sum("elb5xx", "HTTPCode_ELB_5XX_Count"),
			&cloudwatch.MetricAlarmMetricQueryArgs{
				Id:         pulumi.String("rate"),
				Expression: pulumi.String("IF(FILL(requests, 0) > 0, 100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / FILL(requests, 1), 0)"),
				Label:      pulumi.String("5xx % of requests"),
				ReturnData: pulumi.Bool(true),
			},
		},
		EvaluationPeriods:  pulumi.Int(1),
		ComparisonOperator: pulumi.String("GreaterThanThreshold"),
		Threshold:          pulumi.Float64(float64(b.cfg.Alarm5xxPercent)),
		TreatMissingData:   pulumi.String("notBreaching"),
	}); err != nil {
		return err
	}

	if err := alarm("evictions", &cloudwatch.MetricAlarmArgs{
		AlarmDescription:   pulumi.String("More than " + strconv.Itoa(b.cfg.AlarmEvictions) + " slow consumers were evicted in 5 minutes: clients cannot keep up with the broadcast rate."),
		Namespace:          pulumi.String(contract.MetricNamespace),
		MetricName:         pulumi.String(contract.MetricEvictions),
		Dimensions:         pulumi.StringMap{contract.MetricDimension: t.service.Name},
		Statistic:          pulumi.String("Sum"),
		Period:             pulumi.Int(alarmPeriod),
		EvaluationPeriods:  pulumi.Int(1),
		ComparisonOperator: pulumi.String("GreaterThanThreshold"),
		Threshold:          pulumi.Float64(float64(b.cfg.AlarmEvictions)),
		// Tasks write the counter every minute; no data means no tasks,
		// which the healthy-target alarm reports.
		TreatMissingData: pulumi.String("notBreaching"),
	}); err != nil {
		return err
	}

	// Running at the maximum is the normal state of a fixed-size service,
	// and without Container Insights the task count is not published.
	if b.cfg.MaxTasks == b.cfg.MinTasks || b.cfg.ContainerInsights == "disabled" {
		return nil
	}
	return alarm("tasks-at-max", &cloudwatch.MetricAlarmArgs{
		AlarmDescription:   pulumi.String("The service has run at maxTasks (" + strconv.Itoa(b.cfg.MaxTasks) + ") for 15 minutes: scaling has no room left; raise maxTasks or connectionsPerTask."),
		Namespace:          pulumi.String(insightsNamespace),
		MetricName:         pulumi.String("RunningTaskCount"),
		Dimensions:         pulumi.StringMap{"ClusterName": t.cluster.Name, "ServiceName": t.service.Name},
		Statistic:          pulumi.String("Minimum"),
		Period:             pulumi.Int(alarmPeriod),
		EvaluationPeriods:  pulumi.Int(atMaxPeriods),
		ComparisonOperator: pulumi.String("GreaterThanOrEqualToThreshold"),
		Threshold:          pulumi.Float64(float64(b.cfg.MaxTasks)),
		TreatMissingData:   pulumi.String("notBreaching"),
	})
}
