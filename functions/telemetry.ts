/**
 * Task metrics for the CloudWatch dashboard and alarms (infra/monitoring.ts): Powertools Metrics in
 * embedded metric format, namespace POWERTOOLS_METRICS_NAMESPACE, service = POWERTOOLS_SERVICE_NAME (the
 * task label). Only on Lambda (AWS_LAMBDA_FUNCTION_NAME set); elsewhere a no-op. The figures come from
 * the decoded batch (in) and the task's own counters (out), not from re-reading the event.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import type { Runtime } from '../shared/config/runtime.ts';
import type { DocBatch, SourceDoc } from '../shared/ports/events.ts';
import {
  describeError,
  documentError,
  ParkingLot,
  type RedriveResult,
  redriveBatches,
  whereParked,
} from '../shared/ports/parking.ts';
import { kinesisBatch } from './edge.ts';

export interface TaskMetrics {
  count(
    name:
      | 'DocsIn'
      | 'DocsOut'
      | 'DocsSkipped'
      | 'SchemaViolations'
      | 'TaskErrors'
      | 'DocsParked'
      | 'DocsRedriven',
    n: number,
  ): void;
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

/**
 * What `sluice redrive` invokes a stream task's function with: apply its parked documents again
 * (ports/parking.ts). The answer is a RedriveResult.
 */
export interface RedriveEvent {
  sluiceRedrive: Record<string, never>;
}

export function isRedriveEvent(e: unknown): e is RedriveEvent {
  return typeof e === 'object' && e !== null && 'sluiceRedrive' in e;
}

export type KinesisTaskHandler = (
  event: KinesisStreamEvent | RedriveEvent,
) => Promise<undefined | RedriveResult | KinesisStreamBatchResponse>;

/** A materialization's batch that waited for its binding's backfill job to finish (BackfillInProgress). */
function waitsForBackfill(e: unknown): boolean {
  return (
    e instanceof Error && e.name === 'BackfillError' && (e as { code?: string }).code === 'BackfillInProgress'
  );
}

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
  /** Where documents it cannot process are parked (`park` policy, SLUICE_PARKED); undefined: it halts. */
  parking?: ParkingLot;
  /**
   * After a failed batch's documents were each applied or parked on their own (`isolated`): what the
   * task does once per batch and left out of the isolated applications (the persister's fragments).
   */
  afterIsolation?(batch: DocBatch): Promise<void>;
  /**
   * A document of the batch was just parked (the ones before it applied or parked): record it as handled,
   * so that the batch delivered again (the isolation cut short by an outage) does not apply it beside
   * its redrive. A document error it throws is taken as nothing to record. Undefined: the task's
   * bookkeeping does not need it.
   */
  onParked?(batch: DocBatch, doc: SourceDoc): Promise<void>;
}

/** What a redrive of a task that halts (no SLUICE_PARKED) answers: `task` names it when the label cannot. */
export function noParkingPlace(task: string): Error {
  return new Error(
    `${process.env.POWERTOOLS_SERVICE_NAME ?? task}: no parking place (SLUICE_PARKED): its failure policy is halt, nothing is ever parked`,
  );
}

/** The task's parking lot when its failure policy is `park` (SLUICE_PARKED set by the stack). */
export function parkingOf(rt: Runtime): ParkingLot | undefined {
  const p = rt.env.parked;
  const label = process.env.POWERTOOLS_SERVICE_NAME ?? rt.env.task ?? 'task';
  return p ? new ParkingLot(rt.blobs(p.bucket), p.prefix, label) : undefined;
}

type Log = Pick<Logger, 'warn' | 'error' | 'info'>;

/**
 * Apply a batch; under `park`, when it fails on a document error, apply its documents one by one and
 * park each that fails on its own (only that one: its neighbours in the packed record are applied).
 * Any other failure is thrown: the shard halts. Returns how many documents were parked.
 */
async function applyOrPark(task: BatchTask, batch: DocBatch, log: Log): Promise<number> {
  try {
    await task.onBatch(batch);
    return 0;
  } catch (e) {
    if (!task.parking || !documentError(e)) throw e;
  }
  let parked = 0;
  for (const d of batch.docs) {
    try {
      await task.onBatch({ ...batch, docs: [d], bytes: 0, isolated: true });
    } catch (e) {
      if (!documentError(e)) throw e;
      const key = await task.parking.park(batch.collection, d, e);
      // After the park, not before: a crash in between applies it again on the retry if it then passes
      // (beside its redrive), where the other order would lose it. A document whose mark fails on its own
      // (its key cannot be extracted, the store refuses its item) cannot be applied by a retry either:
      // nothing to record.
      await task.onParked?.(batch, d).catch((err: unknown) => {
        if (!documentError(err)) throw err;
      });
      parked++;
      log.warn('document parked; the shard goes on (redrive it with `sluice redrive`)', {
        task: task.parking.task,
        collection: batch.collection,
        shard: batch.shardId,
        sequenceNumber: d.sequenceNumber,
        index: d.index,
        parked: key,
        error: describeError(e),
      });
    }
  }
  await task.afterIsolation?.(batch);
  return parked;
}

/**
 * Apply the task's parked documents again, shard by shard in position order, removing each once
 * applied; a shard stops at its first document that fails again (parked again with the new error), so
 * that nothing after it is applied before it.
 */
async function redrive(task: BatchTask, log: Log): Promise<RedriveResult> {
  const lot = task.parking;
  if (!lot) throw noParkingPlace('this task');
  const result: RedriveResult = { redriven: 0, remaining: 0, failures: [] };
  for (const { batch, keys, records } of redriveBatches(await lot.list())) {
    let done = 0;
    try {
      await task.onBatch(batch);
      done = keys.length;
    } catch (e) {
      if (!documentError(e)) throw e;
      for (const [i, d] of batch.docs.entries()) {
        try {
          await task.onBatch({ ...batch, docs: [d] });
          done++;
        } catch (err) {
          if (!documentError(err)) throw err;
          await lot.park(batch.collection, d, err, (records[i].redriveAttempts ?? 0) + 1);
          result.failures.push({
            collection: batch.collection,
            shardId: records[i].shardId,
            position: d.streamPosition,
            where: whereParked(records[i]),
            error: describeError(err),
          });
          break;
        }
      }
    }
    for (const k of keys.slice(0, done)) await lot.remove(k);
    result.redriven += done;
    result.remaining += keys.length - done;
  }
  log.info('redrive done', { task: lot.task, ...result });
  return result;
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
    if (isRedriveEvent(event)) {
      const task = await ready();
      const before = task.counters();
      try {
        const result = await redrive(task, logger);
        metrics.count('DocsRedriven', result.redriven);
        metrics.count('DocsOut', task.counters().docsOut - before.docsOut);
        return result;
      } finally {
        metrics.publish();
      }
    }
    let batch: DocBatch | undefined;
    try {
      const task = await ready();
      batch = kinesisBatch(event, (arn) => task.collectionOfArn(arn));
      if (!batch) return;
      const before = task.counters();
      const parked = await applyOrPark(task, batch, logger);
      // Counted once the batch is through: a halted shard's retries deliver its documents again and
      // again, and docs in would read as throughput where nothing moves (TaskErrors counts those).
      metrics.count('DocsIn', batch.docs.length);
      metrics.bytes('BytesIn', batch.bytes);
      metrics.count('DocsParked', parked);
      const after = task.counters();
      metrics.count('DocsOut', after.docsOut - before.docsOut);
      metrics.bytes('BytesOut', (after.bytesOut ?? 0) - (before.bytesOut ?? 0));
      metrics.count('DocsSkipped', (after.docsSkipped ?? 0) - (before.docsSkipped ?? 0));
    } catch (e) {
      const records = event.Records;
      if (waitsForBackfill(e)) {
        // Not a failure: a new binding's backfill job is still running (materialize/task.ts), and the
        // batch waited for it as long as the invocation allowed. Hand the whole batch back (a partial
        // batch response from its first record) so the mapping delivers it again, without a function
        // error that would page someone: the iterator age shows the wait.
        logger.info('waiting for a backfill; the batch is delivered again', {
          task: process.env.POWERTOOLS_SERVICE_NAME,
          collection: batch?.collection,
          shard: batch?.shardId,
          firstSequenceNumber: records[0]?.kinesis.sequenceNumber,
        });
        return { batchItemFailures: [{ itemIdentifier: records[0]?.kinesis.sequenceNumber ?? '' }] };
      }
      // The mapping retries this batch (bisecting it down to the failing record) until it succeeds:
      // the shard stands still here. Say where, without document contents.
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
    return undefined;
  };
}
