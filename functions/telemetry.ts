/**
 * Task metrics for the CloudWatch dashboard and alarms (infra/monitoring.ts): Powertools Metrics in
 * embedded metric format, namespace POWERTOOLS_METRICS_NAMESPACE, service = POWERTOOLS_SERVICE_NAME (the
 * task label). Only on Lambda (AWS_LAMBDA_FUNCTION_NAME set); elsewhere a no-op. The figures come from
 * the decoded batch (in) and the task's own counters (out), not from re-reading the event.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { KinesisStreamEvent } from 'aws-lambda';
import type { DocBatch } from '../shared/ports/events.ts';
import { kinesisBatch } from './edge.ts';

export interface TaskMetrics {
  count(name: 'DocsIn' | 'DocsOut' | 'DocsSkipped' | 'SchemaViolations' | 'TaskErrors', n: number): void;
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
 * A function's one-time setup (runtime, connector, database connection), started at module scope when
 * deployed (the init phase) and awaited by each invocation. A failure surfaces on the invocation, not as
 * an unhandled rejection, and the next invocation starts it again: a transient error (a secret throttled,
 * a database failing over, a fence) must not poison the warm container for its lifetime.
 */
export function retryingInit<T>(
  init: () => T | Promise<T>,
  eager = Boolean(process.env.SLUICE_TASK),
): () => Promise<T> {
  let ready: Promise<T> | undefined;
  const start = () => {
    const p = Promise.resolve().then(init);
    ready = p;
    p.catch(() => {
      if (ready === p) ready = undefined;
    });
    return p;
  };
  if (eager) start();
  return () => ready ?? start();
}

/** Running totals of a task; each invocation emits their change. */
export interface TaskCounters {
  docsOut: number;
  bytesOut?: number;
  /** Input documents dropped as already processed (derivations: re-published by a replayed upstream). */
  docsSkipped?: number;
}

/** A task that consumes one collection shard's batches: what a Kinesis-triggered function runs. */
export interface BatchTask {
  /** The collection a stream ARN belongs to (the runtime's stream map). */
  collectionOfArn(arn: string): string;
  onBatch(batch: DocBatch): Promise<unknown>;
  counters(): TaskCounters;
}

/**
 * The exported Lambda `handler` of a Kinesis-triggered task: the task is built at module scope (the
 * init phase) when deployed (SLUICE_TASK set), an init failure surfaces on the invocation rather than
 * as an unhandled rejection and is retried on the next one (a transient failure — a secret throttled,
 * a database failing over — must not poison the warm container); each invocation decodes the event at
 * the edge (edge.ts), runs the task on the batch and publishes documents and bytes in and out.
 */
export function kinesisEntry(init: () => BatchTask | Promise<BatchTask>): KinesisTaskHandler {
  const metrics = taskMetrics();
  const ready = retryingInit(init);
  // Structured (JSON) logs, service = the task label: CloudWatch Logs Insights can find every halt.
  const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'sluice' });
  return async (event) => {
    let batch: DocBatch | undefined;
    try {
      const task = await ready();
      batch = kinesisBatch(event, (arn) => task.collectionOfArn(arn));
      if (!batch) return;
      metrics.count('DocsIn', batch.docs.length);
      metrics.bytes('BytesIn', batch.bytes);
      const before = task.counters();
      await task.onBatch(batch);
      const after = task.counters();
      metrics.count('DocsOut', after.docsOut - before.docsOut);
      metrics.bytes('BytesOut', (after.bytesOut ?? 0) - (before.bytesOut ?? 0));
      metrics.count('DocsSkipped', (after.docsSkipped ?? 0) - (before.docsSkipped ?? 0));
    } catch (e) {
      // The mapping retries this batch (bisecting it down to the failing record) until it succeeds:
      // the shard stands still here. Say where, without document contents.
      const records = event.Records;
      logger.error('batch failed; the shard halts here and retries until the cause is fixed', {
        task: process.env.POWERTOOLS_SERVICE_NAME,
        collection: batch?.collection,
        shard: batch?.shardId,
        firstSequenceNumber: records[0]?.kinesis.sequenceNumber,
        lastSequenceNumber: records.at(-1)?.kinesis.sequenceNumber,
        records: records.length,
        documents: batch?.docs.length,
        error: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
      });
      metrics.count('TaskErrors', 1);
      throw e;
    } finally {
      metrics.publish();
    }
  };
}
