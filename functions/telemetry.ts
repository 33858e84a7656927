/**
 * Task metrics for the CloudWatch dashboard and alarms (infra/monitoring.ts): Powertools Metrics in
 * embedded metric format, namespace POWERTOOLS_METRICS_NAMESPACE, service = POWERTOOLS_SERVICE_NAME (the
 * task label). Only on Lambda (AWS_LAMBDA_FUNCTION_NAME set); locally a no-op, so the terminal view of
 * `sluice dev` is not flooded with EMF lines.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { KinesisStreamEvent } from 'aws-lambda';
import { unpackFrameEntries } from '../shared/ports/framing.ts';

/** Documents in a Kinesis event (packed records hold many) and their bytes. */
export function eventSize(event: KinesisStreamEvent): { docs: number; bytes: number } {
  let docs = 0;
  let bytes = 0;
  for (const r of event.Records) {
    const data = Buffer.from(r.kinesis.data, 'base64');
    bytes += data.length;
    try {
      docs += unpackFrameEntries(data).length;
    } catch {
      docs += 1;
    }
  }
  return { docs, bytes };
}

export interface TaskMetrics {
  count(name: 'DocsIn' | 'DocsOut' | 'SchemaViolations', n: number): void;
  bytes(name: 'BytesIn' | 'BytesOut', n: number): void;
  /** Flush what was recorded during one invocation. */
  publish(): void;
}

const noop: TaskMetrics = { count() {}, bytes() {}, publish() {} };

export function taskMetrics(env: NodeJS.ProcessEnv = process.env): TaskMetrics {
  if (!env.AWS_LAMBDA_FUNCTION_NAME) return noop;
  const m = new Metrics();
  return {
    count: (name, n) => {
      if (n > 0) m.addMetric(name, MetricUnit.Count, n);
    },
    bytes: (name, n) => {
      if (n > 0) m.addMetric(name, MetricUnit.Bytes, n);
    },
    publish: () => m.publishStoredMetrics(),
  };
}

export type KinesisTaskHandler = (event: KinesisStreamEvent) => Promise<void>;

/**
 * The exported Lambda `handler` of a Kinesis-triggered task: the task is built at module scope (the
 * init phase) when deployed (SLUICE_TASK set; `sluice dev` imports the module without it), an init
 * failure surfaces on the first invocation rather than as an unhandled rejection, and each
 * invocation records documents and bytes in, then publishes its metrics.
 */
export function kinesisEntry(
  init: () => KinesisTaskHandler | Promise<KinesisTaskHandler>,
): KinesisTaskHandler {
  const metrics = taskMetrics();
  let ready: Promise<KinesisTaskHandler> | undefined = process.env.SLUICE_TASK
    ? Promise.resolve().then(init)
    : undefined;
  ready?.catch(() => undefined);
  return async (event) => {
    ready ??= Promise.resolve().then(init);
    const size = eventSize(event);
    metrics.count('DocsIn', size.docs);
    metrics.bytes('BytesIn', size.bytes);
    try {
      await (await ready)(event);
    } finally {
      metrics.publish();
    }
  };
}
