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
  count(name: 'DocsIn' | 'DocsOut' | 'DocsSkipped' | 'SchemaViolations', n: number): void;
  bytes(name: 'BytesIn', n: number): void;
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

/** A task's handler, with the count of documents it wrote so far (for DocsOut). */
export type CountingHandler = KinesisTaskHandler & {
  docsOut?: () => number;
  /** Input documents dropped as already processed (derivations: re-published by a replayed upstream). */
  docsSkipped?: () => number;
};

/**
 * The exported Lambda `handler` of a Kinesis-triggered task: the task is built at module scope (the
 * init phase) when deployed (SLUICE_TASK set), an init failure surfaces on the invocation rather than
 * as an unhandled rejection and is retried on the next one (a transient failure — a secret throttled,
 * a database failing over — must not poison the warm container), and each invocation records documents
 * and bytes in and documents out, then publishes its metrics.
 */
export function kinesisEntry(init: () => CountingHandler | Promise<CountingHandler>): KinesisTaskHandler {
  const metrics = taskMetrics();
  const start = () => {
    const p = Promise.resolve().then(init);
    p.catch(() => {
      if (ready === p) ready = undefined;
    });
    return p;
  };
  let ready: Promise<CountingHandler> | undefined = process.env.SLUICE_TASK ? start() : undefined;
  return async (event) => {
    ready ??= start();
    const size = eventSize(event);
    metrics.count('DocsIn', size.docs);
    metrics.bytes('BytesIn', size.bytes);
    try {
      const h = await ready;
      const before = h.docsOut?.() ?? 0;
      const skippedBefore = h.docsSkipped?.() ?? 0;
      await h(event);
      metrics.count('DocsOut', (h.docsOut?.() ?? 0) - before);
      metrics.count('DocsSkipped', (h.docsSkipped?.() ?? 0) - skippedBefore);
    } finally {
      metrics.publish();
    }
  };
}
