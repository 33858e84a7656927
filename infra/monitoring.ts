/**
 * One CloudWatch dashboard per catalog, one row per task, and alarms an on-call engineer can act on.
 *
 * Task metrics come from the handlers through Powertools Metrics (embedded metric format): namespace
 * POWERTOOLS_METRICS_NAMESPACE, dimension `service` = POWERTOOLS_SERVICE_NAME = the task label
 * (`capture:acmeCo/ingest`), metric names in SLUICE_METRICS. Lambda's own metrics (Errors, Throttles,
 * IteratorAge) and SQS queue depth come from AWS.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Metric names the handlers emit (Powertools `metrics.addMetric(name, unit, value)`). */
export const SLUICE_METRICS = {
  docsIn: 'DocsIn',
  docsOut: 'DocsOut',
  bytesIn: 'BytesIn',
  /** Persisters: gzipped fragment bytes written to S3 (functions/telemetry.ts, from the task's counters). */
  bytesOut: 'BytesOut',
  schemaViolations: 'SchemaViolations',
  /** Failed batches of a stream consumer (functions/telemetry.ts): each one a retry of a halted shard. */
  taskErrors: 'TaskErrors',
  /** Documents a `park` task set aside (functions/telemetry.ts): each one waits for `sluice redrive`. */
  docsParked: 'DocsParked',
  /** Parked documents applied again by `sluice redrive`. */
  docsRedriven: 'DocsRedriven',
} as const;

/** Alarm thresholds (documented in docs/deploy.md). */
export const ALARM_THRESHOLDS = {
  /** Function errors summed over 5 minutes: a handful means a stuck batch or a broken endpoint. */
  errorsPer5Min: 5,
  /** Max iterator age for 3 consecutive minutes: the task is falling behind its stream. */
  iteratorAgeMs: 10 * 60 * 1000,
  /** Any batch parked on the dead-letter queue means documents stopped flowing: page. */
  dlqMessages: 1,
  /** Any schema violation: the task stops advancing on it (never skipped silently). */
  schemaViolations: 1,
  /** Any parked document: it is not applied until someone redrives it. */
  docsParked: 1,
} as const;

export interface MonitoredTask {
  /** Task label (`derivation:acmeCo/totals`), also the Powertools service name. */
  label: string;
  fn: lambda.IFunction;
  /** On-failure destination of its event-source mappings or schedule. */
  dlq?: sqs.IQueue;
  /** Reads Kinesis through event-source mappings (has an iterator age). */
  streamConsumer: boolean;
  /** Its failure policy is `park`: it counts parked documents (DocsParked), with an alarm. */
  parks?: boolean;
}

export interface SluiceMonitoringProps {
  catalogName: string;
  metricsNamespace: string;
  alarmTopic?: sns.ITopic;
}

export class SluiceMonitoring extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];
  private readonly props: SluiceMonitoringProps;

  constructor(scope: Construct, id: string, props: SluiceMonitoringProps) {
    super(scope, id);
    this.props = props;
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: `# Sluice: ${props.catalogName}\nPer task: documents and bytes in/out, errors, iterator age, schema violations, dead-letter depth.`,
        width: 24,
        height: 2,
      }),
    );
  }

  private custom(task: MonitoredTask, name: string, label: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.props.metricsNamespace,
      metricName: name,
      dimensionsMap: { service: task.label },
      statistic: 'Sum',
      period: Duration.minutes(1),
      label,
    });
  }

  private alarm(id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, props);
    if (this.props.alarmTopic) {
      alarm.addAlarmAction(new cwActions.SnsAction(this.props.alarmTopic));
      alarm.addOkAction(new cwActions.SnsAction(this.props.alarmTopic));
    }
    this.alarms.push(alarm);
    return alarm;
  }

  /** Add a task's dashboard row and alarms. `id` must be stable (derived from the task name). */
  addTask(id: string, task: MonitoredTask): void {
    const errors = task.fn.metricErrors({ period: Duration.minutes(1), statistic: 'Sum', label: 'errors' });
    const throttles = task.fn.metricThrottles({
      period: Duration.minutes(1),
      statistic: 'Sum',
      label: 'throttles',
    });
    const iteratorAge = task.fn.metric('IteratorAge', {
      period: Duration.minutes(1),
      statistic: 'Maximum',
      label: 'iterator age (ms)',
    });
    const violations = this.custom(task, SLUICE_METRICS.schemaViolations, 'schema violations');
    const width = 4;
    const widgets: cloudwatch.IWidget[] = [
      new cloudwatch.GraphWidget({
        title: `${task.label}: documents`,
        left: [
          this.custom(task, SLUICE_METRICS.docsIn, 'in'),
          this.custom(task, SLUICE_METRICS.docsOut, 'out'),
        ],
        width,
      }),
      new cloudwatch.GraphWidget({
        // Every line here is a metric some function emits (functions/telemetry.ts): bytes out are the
        // persisters' fragment bytes; other tasks measure what they write in documents (DocsOut).
        title: `${task.label}: bytes`,
        left: [
          this.custom(task, SLUICE_METRICS.bytesIn, 'in'),
          ...(task.label.startsWith('persister:') ? [this.custom(task, SLUICE_METRICS.bytesOut, 'out')] : []),
        ],
        width,
      }),
      new cloudwatch.GraphWidget({
        title: `${task.label}: errors`,
        left: [
          errors,
          throttles,
          this.custom(task, SLUICE_METRICS.taskErrors, 'failed batches'),
          ...(task.parks
            ? [
                this.custom(task, SLUICE_METRICS.docsParked, 'parked docs'),
                this.custom(task, SLUICE_METRICS.docsRedriven, 'redriven docs'),
              ]
            : []),
        ],
        width,
      }),
      new cloudwatch.GraphWidget({
        title: `${task.label}: iterator age`,
        left: task.streamConsumer ? [iteratorAge] : [],
        width,
      }),
      new cloudwatch.GraphWidget({ title: `${task.label}: schema violations`, left: [violations], width }),
      new cloudwatch.GraphWidget({
        title: `${task.label}: dead-letter depth`,
        left: task.dlq
          ? [
              task.dlq.metricApproximateNumberOfMessagesVisible({
                period: Duration.minutes(1),
                label: 'messages',
              }),
            ]
          : [],
        width,
      }),
    ];
    this.dashboard.addWidgets(...widgets);

    this.alarm(`${id}:Errors`, {
      alarmDescription: `Sluice ${task.label}: ${ALARM_THRESHOLDS.errorsPer5Min}+ function errors in 5 minutes (see its log group).`,
      metric: task.fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: ALARM_THRESHOLDS.errorsPer5Min,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.alarm(`${id}:SchemaViolations`, {
      alarmDescription: `Sluice ${task.label}: documents violate the collection schema; the task does not advance past them.`,
      metric: new cloudwatch.Metric({
        namespace: this.props.metricsNamespace,
        metricName: SLUICE_METRICS.schemaViolations,
        dimensionsMap: { service: task.label },
        statistic: 'Sum',
        period: Duration.minutes(1),
      }),
      threshold: ALARM_THRESHOLDS.schemaViolations,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (task.streamConsumer) {
      this.alarm(`${id}:IteratorAge`, {
        alarmDescription: `Sluice ${task.label}: more than ${ALARM_THRESHOLDS.iteratorAgeMs / 60000} minutes behind its stream for 3 minutes.`,
        metric: task.fn.metric('IteratorAge', { period: Duration.minutes(1), statistic: 'Maximum' }),
        threshold: ALARM_THRESHOLDS.iteratorAgeMs,
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    if (task.parks) {
      this.alarm(`${id}:DocsParked`, {
        alarmDescription: `Sluice ${task.label}: documents were parked (not applied); list them with \`sluice parked ${task.label}\`, fix the cause, then \`sluice redrive ${task.label}\`.`,
        metric: this.custom(task, SLUICE_METRICS.docsParked, 'parked'),
        threshold: ALARM_THRESHOLDS.docsParked,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    if (task.dlq) {
      this.alarm(`${id}:DeadLetters`, {
        alarmDescription: `Sluice ${task.label}: a batch was parked on the dead-letter queue after bounded retries; inspect and redrive.`,
        metric: task.dlq.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
          statistic: 'Maximum',
        }),
        threshold: ALARM_THRESHOLDS.dlqMessages,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
  }
}
