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

/** Persisters graphed together in one dashboard row (addPersisterRows). */
export const PERSISTERS_PER_ROW = 8;

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

  private alarm(scope: Construct, id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(scope, id, props);
    if (this.props.alarmTopic) {
      alarm.addAlarmAction(new cwActions.SnsAction(this.props.alarmTopic));
      alarm.addOkAction(new cwActions.SnsAction(this.props.alarmTopic));
    }
    this.alarms.push(alarm);
    return alarm;
  }

  /**
   * Add a task's dashboard row and alarms. `id` must be stable (derived from the task name). The alarms
   * go in `scope` (the task's own nested stack, where it has one), beside the function they watch.
   */
  addTask(id: string, task: MonitoredTask, scope: Construct = this): void {
    this.addRow(task);
    this.addAlarms(id, task, scope);
  }

  /**
   * Persisters, one per collection, share rows: each row graphs up to PERSISTERS_PER_ROW of them, a line
   * per collection, so that a catalog of hundreds of collections stays within a dashboard's 500 widgets.
   */
  addPersisterRows(tasks: MonitoredTask[]): void {
    const width = 24 / 5;
    for (let i = 0; i < tasks.length; i += PERSISTERS_PER_ROW) {
      const group = tasks.slice(i, i + PERSISTERS_PER_ROW);
      const name = (t: MonitoredTask) => t.label.replace(/^persister:/, '');
      const title =
        tasks.length <= PERSISTERS_PER_ROW
          ? 'persisters'
          : `persisters ${i + 1}–${i + group.length} of ${tasks.length}`;
      const minute = { period: Duration.minutes(1), statistic: 'Sum' };
      this.dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: `${title}: documents in`,
          left: group.map((t) => this.custom(t, SLUICE_METRICS.docsIn, name(t))),
          width,
        }),
        new cloudwatch.GraphWidget({
          title: `${title}: fragment bytes out`,
          left: group.map((t) => this.custom(t, SLUICE_METRICS.bytesOut, name(t))),
          width,
        }),
        new cloudwatch.GraphWidget({
          title: `${title}: errors`,
          left: group.flatMap((t) => [
            t.fn.metricErrors({ ...minute, label: `${name(t)} errors` }),
            this.custom(t, SLUICE_METRICS.taskErrors, `${name(t)} failed batches`),
            ...(t.parks
              ? [
                  this.custom(t, SLUICE_METRICS.docsParked, `${name(t)} parked docs`),
                  this.custom(t, SLUICE_METRICS.docsRedriven, `${name(t)} redriven docs`),
                ]
              : []),
          ]),
          width,
        }),
        new cloudwatch.GraphWidget({
          title: `${title}: iterator age (ms)`,
          left: group.map((t) =>
            t.fn.metric('IteratorAge', { period: Duration.minutes(1), statistic: 'Maximum', label: name(t) }),
          ),
          width,
        }),
        new cloudwatch.GraphWidget({
          title: `${title}: schema violations`,
          left: group.map((t) => this.custom(t, SLUICE_METRICS.schemaViolations, name(t))),
          width,
        }),
      );
    }
  }

  /** A task's own dashboard row: documents, bytes, errors, iterator age, violations, dead letters. */
  private addRow(task: MonitoredTask): void {
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
  }

  /** A task's alarms, in `scope`. */
  addAlarms(id: string, task: MonitoredTask, scope: Construct): void {
    this.alarm(scope, `${id}:Errors`, {
      alarmDescription: `Sluice ${task.label}: ${ALARM_THRESHOLDS.errorsPer5Min}+ function errors in 5 minutes (see its log group).`,
      metric: task.fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: ALARM_THRESHOLDS.errorsPer5Min,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.alarm(scope, `${id}:SchemaViolations`, {
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
      this.alarm(scope, `${id}:IteratorAge`, {
        alarmDescription: `Sluice ${task.label}: more than ${ALARM_THRESHOLDS.iteratorAgeMs / 60000} minutes behind its stream for 3 minutes.`,
        metric: task.fn.metric('IteratorAge', { period: Duration.minutes(1), statistic: 'Maximum' }),
        threshold: ALARM_THRESHOLDS.iteratorAgeMs,
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    if (task.parks) {
      this.alarm(scope, `${id}:DocsParked`, {
        alarmDescription: `Sluice ${task.label}: documents were parked (not applied); list them with \`sluice parked ${task.label}\`, fix the cause, then \`sluice redrive ${task.label}\`.`,
        metric: this.custom(task, SLUICE_METRICS.docsParked, 'parked'),
        threshold: ALARM_THRESHOLDS.docsParked,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    if (task.dlq) {
      this.alarm(scope, `${id}:DeadLetters`, {
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
