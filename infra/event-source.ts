/**
 * Kinesis event-source mapping settings of every stream consumer (persisters, derivations,
 * materializations), in one place. `SluiceCatalog` writes them into the template; the local stack
 * (`sluice dev`, shared/local/assembly/runner.ts) reads each mapping's settings from the synthesized
 * template, never from this module, so what runs locally cannot differ from what is deployed.
 *
 * Failure policy. Estuary's rule: a task never skips a document; it halts at a failing one and resumes
 * once the cause is fixed. That is `halt`, the default: a failing batch is bisected down to the failing
 * record (ReportBatchItemFailures checkpoints everything before it) and retried until it succeeds
 * (MaximumRetryAttempts -1, MaximumRecordAgeInSeconds -1): the shard waits there, its iterator age
 * grows and the iterator-age and error alarms fire. Fix the cause (code, data, permissions) and the
 * shard moves on by itself, nothing lost. Keep the stream's retention longer than your reaction time:
 * a record that expires from the stream is gone whatever the mapping says.
 *
 * The other policy is per task, not per mapping: `park` (SluiceCatalogProps.onFailure) sets aside only
 * the failing document, in the task's function (shared/ports/parking.ts); its mapping still halts on
 * anything else. There is no policy that skips: Sluice had a `dead-letter` opt-in that sent a failing
 * batch's shard and sequence range to an SQS queue and moved on — those documents could never be
 * re-driven (the task's positions had moved past them) and the stream expired them. Synth now refuses it.
 */
import { Duration } from 'aws-cdk-lib';

/** What a mapping does with a batch its function keeps failing: retry until fixed, never skip. */
export type FailurePolicy = { policy: 'halt' };

export interface EventSourceSettings {
  batchSize: number;
  /**
   * MaximumBatchingWindowInSeconds of derivations and materializations (on the ingest → materialized
   * path). Default 0, Lambda's own: a batch is invoked as soon as the poller has records, so each hop
   * adds at most the poll interval (about a second on AWS with standard iterators; milliseconds on the
   * local stack). A window of W seconds gathers W seconds of documents per invocation instead: fewer
   * invocations and per-batch writes (checkpoints, one write per key per batch) at low and middling
   * rates, for up to W more seconds per hop (`-c eventSource='{"maxBatchingWindow":5}'`).
   */
  maxBatchingWindow: Duration;
  /**
   * MaximumBatchingWindowInSeconds of persisters (S3 fragments and the collection's reduced view), off
   * the ingest → materialized path. Each persister invocation writes one fragment per collection and
   * partition (an S3 PUT, $5 per million) and one reduced-view write per key in the batch, so below a
   * batch's worth of documents per window the cost per document is set by the window: at 10 docs/s a
   * 1 s window costs ≈ $1 per million documents in S3 PUTs alone, 10 s ≈ $0.10. The price is lag:
   * fragments and the reduced view (`sluice read`, the console's collection page) trail by up to the window.
   */
  persisterBatchingWindow: Duration;
  /** Split a failing batch in two and retry each half, down to the failing record. */
  bisectBatchOnError: boolean;
  /** Handlers report the first failed record; the mapping checkpoints everything before it. */
  reportBatchItemFailures: boolean;
  failure: FailurePolicy;
  /**
   * Concurrent batches per shard; records of one partition key stay in order. Must be 1 when the catalog
   * has derivations (their origin watermarks assume one batch per shard at a time) or materializations
   * (they skip what a shard's committed position covers).
   */
  parallelizationFactor: number;
}

/** The mapping defaults of every stream consumer (override per stack with `SluiceCatalogProps.eventSource`). */
export const DEFAULT_EVENT_SOURCE: EventSourceSettings = {
  batchSize: 500,
  maxBatchingWindow: Duration.seconds(0),
  persisterBatchingWindow: Duration.seconds(10),
  bisectBatchOnError: true,
  reportBatchItemFailures: true,
  failure: { policy: 'halt' },
  parallelizationFactor: 1,
};

/**
 * `MaximumRetryAttempts` / `MaximumRecordAgeInSeconds` of every mapping: AWS's "infinite" (-1), written
 * explicitly rather than left out, so that updating a stack deployed with bounded values (an earlier
 * `dead-letter` opt-in) really resets them.
 */
export const RETRY_FOREVER = { retryAttempts: -1, maxRecordAgeSeconds: -1 } as const;
