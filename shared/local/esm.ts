/**
 * An event-source-mapping emulator with the semantics of Lambda's Kinesis event-source mapping
 * (architecture.md "Delivery semantics"), driving a handler with AWS-shaped events:
 * - per shard, batches in order (ParallelizationFactor 1); a child shard starts only after its
 *   parent(s) are fully processed;
 * - batch size and batching window;
 * - the checkpoint (persisted through the StateStore, so a restart resumes) advances only after the
 *   invocation succeeded;
 * - ReportBatchItemFailures: resume from the lowest failed sequence number (an unknown identifier
 *   fails the whole batch, as on AWS);
 * - on a function error: with bisect, split the batch in halves (not consuming retries) down to single
 *   records; retry up to MaximumRetryAttempts; a batch whose records are older than
 *   MaximumRecordAgeInSeconds, or that exhausted its retries, goes to the on-failure destination and the
 *   shard moves on.
 */
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { SluiceError } from '../errors.ts';
import { recordsToEvent } from '../ports/events.ts';
import { misrouted, unpackFrameEntries } from '../ports/framing.ts';
import type { Journal, JournalRecord, ShardInfo } from '../ports/journal.ts';
import { padSequence } from '../ports/position.ts';
import type { StateStore } from '../ports/state.ts';
import type { UsageMeter } from '../ports/usage.ts';

export type KinesisHandler = (
  event: KinesisStreamEvent,
) => Promise<KinesisStreamBatchResponse | undefined> | Promise<void>;

export interface OnFailureRecord {
  task: string;
  shardId: string;
  startSequenceNumber: string;
  endSequenceNumber: string;
  batchSize: number;
  reason: 'RetryAttemptsExhausted' | 'RecordAgeExceeded';
  error: string;
  approximateArrivalOfFirstRecord: string;
}

export interface EsmOptions {
  /** Name of the mapping (the task); checkpoints are stored under `esm:<task>:<collection>`. */
  task: string;
  collection: string;
  /** Stream ARN put into events' eventSourceARN. */
  streamArn: string;
  journal: Journal;
  checkpoints: StateStore;
  handler: KinesisHandler;
  batchSize?: number;
  /** MaximumBatchingWindowInSeconds, in ms (default 0: invoke with what the poll returned). */
  batchWindowMs?: number;
  /** MaximumRetryAttempts (default: unlimited, as AWS's -1). */
  maxRetryAttempts?: number;
  /** MaximumRecordAgeInSeconds (default: unlimited). */
  maxRecordAgeSeconds?: number;
  bisectOnError?: boolean;
  reportBatchItemFailures?: boolean;
  onFailure?: (r: OnFailureRecord) => Promise<void>;
  /**
   * Poll interval when every shard is idle (default 1000 ms, Lambda's: it polls each shard about once
   * a second). `nudge()` cuts it short when records are put through the runner, so only a put it
   * cannot see (a client writing straight into the emulator) waits for it, as on AWS. It was 50 ms:
   * idle, the six mappings of the bench's flow then kept ≈ 0.3 of the two cores busy reading empty
   * shards (runner 1.8 and kinesalite 1.1 CPU-seconds per idle 10 s; 0.35 and 0.20 at 1 s).
   */
  idlePollMs?: number;
  retryBackoffMs?: number;
  meter?: UsageMeter;
  memoryMb?: number;
  now?: () => number;
  /**
   * Called before each checkpoint write; a crash test throws here: a CrashError to die "after the effect,
   * before the checkpoint", a CheckpointLostError to lose only that checkpoint (the batch comes again).
   */
  beforeCheckpoint?: (shardId: string, lastSequence: string) => void | Promise<void>;
  /** Observer for the terminal view and tests. */
  onEvent?: (e: EsmEvent) => void;
}

export type EsmEvent =
  | { kind: 'invoke'; shardId: string; records: number; ms: number; ok: boolean; error?: string }
  | { kind: 'checkpoint'; shardId: string; sequenceNumber: string; millisBehindLatest: number }
  | { kind: 'failure'; record: OnFailureRecord };

/** Where a shard stands still: the record that keeps failing (Estuary's "halt"), until it succeeds. */
export interface ShardHalt {
  shardId: string;
  sequenceNumber: string;
  error: string;
  /** Failed attempts on that record so far. */
  attempts: number;
  sinceMs: number;
}

/**
 * `drain()` found a shard halted at a record that kept failing (it would retry forever, as the
 * deployed mapping does): the test or CLI learns where and why instead of waiting.
 */
export class MappingHaltedError extends SluiceError {
  readonly code = 'Halted';
  constructor(
    readonly task: string,
    readonly halt: ShardHalt,
  ) {
    super(
      `${task} halted at ${halt.shardId} sequence ${halt.sequenceNumber} after ${halt.attempts} attempts: ${halt.error}`,
    );
    this.name = 'MappingHaltedError';
  }
}

/** Failed attempts on one record after which `drain()` reports the halt instead of retrying on. */
export const DRAIN_HALT_ATTEMPTS = 3;

/** Thrown by a `beforeCheckpoint` hook to simulate the process dying: the mapping stops at once. */
export class CrashError extends SluiceError {
  readonly code = 'InjectedCrash';
  constructor(readonly point: string) {
    super(`injected crash at ${point}`);
    this.name = 'CrashError';
  }
}

/**
 * Thrown by a `beforeCheckpoint` hook: the poller that ran the batch died after the function returned,
 * before it stored the checkpoint, and another poller took the shard over from the stored checkpoint —
 * Lambda then delivers the batch, fully applied, again. The mapping lives on (unlike CrashError): the
 * shard's next poll starts from the last checkpoint written, so a test sees the redelivery at once.
 */
export class CheckpointLostError extends SluiceError {
  readonly code = 'InjectedCheckpointLoss';
  constructor(readonly point: string) {
    super(`injected loss of the checkpoint at ${point}`);
    this.name = 'CheckpointLostError';
  }
}

function countDocs(records: JournalRecord[]): number {
  let n = 0;
  for (const r of records) {
    if (misrouted(r.partitionKey, r.shardId)) continue; // void: its documents were sent again
    try {
      n += unpackFrameEntries(r.data).length;
    } catch {
      n += 1;
    }
  }
  return n;
}

/** Like Promise.all, but waits for every shard before rethrowing the first failure (nothing left in flight). */
async function settleAll<T>(ps: Promise<T>[]): Promise<T[]> {
  const rs = await Promise.allSettled(ps);
  const failed = rs.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return rs.map((r) => (r as PromiseFulfilledResult<T>).value);
}

interface ShardState {
  info: ShardInfo;
  checkpoint: string | undefined;
  done: boolean;
  /** The poll of this shard under way (the loop's or drain()'s): there is never more than one. */
  polling?: Promise<number>;
}

/**
 * A synchronous invocation's payload is at most 6 MB, and Lambda's Kinesis poller cuts a batch there
 * whatever the batch size (packed records of up to 1 MiB reach it in a few records). The event
 * carries each record's data base64-encoded, plus ≈ 500 bytes of metadata per record.
 */
export const MAX_EVENT_BYTES = 6 * 1024 * 1024;
const RECORD_OVERHEAD_BYTES = 512;

/** The longest prefix of `records` whose event stays within MAX_EVENT_BYTES (always at least one record). */
export function withinPayloadLimit(records: JournalRecord[]): JournalRecord[] {
  let bytes = 0;
  for (let i = 0; i < records.length; i++) {
    bytes += Math.ceil(records[i].data.length / 3) * 4 + RECORD_OVERHEAD_BYTES;
    if (bytes > MAX_EVENT_BYTES && i > 0) return records.slice(0, i);
  }
  return records;
}

/** Idle poll of a shard (Lambda's cadence); a put the runner sees wakes the mapping at once. */
const IDLE_POLL_MS = 1000;

/**
 * While waiting out a batching window: re-read at least this often even without a nudge (a put the
 * runner sees re-reads at once).
 */
const WINDOW_REPOLL_MS = 1000;

/**
 * The same while drain() runs (tests, `runner.drain()`): it ends a window at the first re-read that
 * finds nothing new, so this is how long it gives a put in flight to land before that re-read.
 */
const DRAIN_REPOLL_MS = 250;

export class EventSourceMapping {
  private stopping = false;
  /** While `drain()` runs: give up on a halted record after DRAIN_HALT_ATTEMPTS instead of retrying on. */
  private draining = false;
  /** Shards held at a failing record (cleared when it succeeds). */
  readonly halts = new Map<string, ShardHalt>();
  private loop: Promise<void> | undefined;
  private readonly shards = new Map<string, ShardState>();
  /** The last error seen (handler or polling), for the terminal view. */
  lastError: string | undefined;
  /** Set when the mapping died of an error (a CrashError from a hook, or a journal/state failure). */
  failure: Error | undefined;
  readonly stats = {
    invocations: 0,
    records: 0,
    /** Documents inside the delivered records (packed records hold many). */
    docs: 0,
    errors: 0,
    failures: 0,
    millisBehindLatest: 0,
    /** Age of the last delivered record when it was delivered (Lambda's IteratorAge); 0 when idle. */
    iteratorAgeMs: 0,
    /** Checkpoints lost by injection (CheckpointLostError): batches delivered again. */
    lostCheckpoints: 0,
  };

  /** Puts seen so far (nudge() counts them): a wait started before the latest put ends at once. */
  private nudges = 0;
  /** Waits that a put ends early. */
  private readonly waiters = new Set<() => void>();

  constructor(private readonly o: EsmOptions) {}

  /** The stream read (its name). */
  get collection(): string {
    return this.o.collection;
  }

  /**
   * Records were just put into the stream (the runner sees every PutRecords on the wire): end idle
   * waits and batching-window waits now. Lambda's poller keeps a shard's GetRecords going; here a
   * put wakes the mapping, so it need not re-read every stream every few milliseconds, which costs
   * the emulators' CPU that the functions need, and ingest → materialized latency stays low.
   */
  nudge(): void {
    this.nudges++;
    for (const wake of [...this.waiters]) wake();
  }

  /** Waits up to `ms`, or until a put after `seen` (a value of `nudges` taken before the last read). */
  private untilPut(seen: number, ms: number): Promise<void> {
    if (this.nudges !== seen || ms <= 0 || this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  private get checkpointTask(): string {
    return `esm:${this.o.task}:${this.o.collection}`;
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run().catch((e: Error) => {
      this.failure = e;
    });
  }

  /** Stop after in-flight invocations finish (no checkpoint is lost: it is written before stop resolves). */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const wake of [...this.waiters]) wake();
    await this.loop;
  }

  private async refreshShards(): Promise<void> {
    for (const info of await this.o.journal.listShards(this.o.collection)) {
      const cur = this.shards.get(info.shardId);
      if (cur) {
        cur.info = info;
        continue;
      }
      const cp = await this.o.checkpoints.getCheckpoint(this.checkpointTask, info.shardId);
      this.shards.set(info.shardId, {
        info,
        checkpoint: cp?.replace(/^0+(?=[0-9])/, ''),
        done: false,
      });
    }
  }

  private parentsDone(s: ShardState): boolean {
    for (const p of [s.info.parentShardId, s.info.adjacentParentShardId]) {
      if (p && this.shards.has(p) && !this.shards.get(p)!.done) return false;
    }
    return true;
  }

  private async run(): Promise<void> {
    let lastRefresh = 0;
    while (!this.stopping) {
      try {
        if (Date.now() - lastRefresh > 1000) {
          await this.refreshShards();
          lastRefresh = Date.now();
        }
        const ready = [...this.shards.values()].filter((s) => !s.done && this.parentsDone(s));
        const seen = this.nudges;
        const delivered = await settleAll(ready.map((s) => this.pollShard(s)));
        if (delivered.every((n) => n === 0)) await this.untilPut(seen, this.o.idlePollMs ?? IDLE_POLL_MS);
      } catch (e) {
        if (e instanceof CrashError) throw e;
        // A journal or checkpoint-store failure (the handler's own errors are handled in deliver):
        // keep the mapping alive, as Lambda's poller does, and try again shortly.
        this.stats.errors++;
        this.lastError = e instanceof Error ? e.message : String(e);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Poll every ready shard once and deliver what is there (tests drive the mapping this way). */
  async pollOnce(): Promise<number> {
    await this.refreshShards();
    const ready = [...this.shards.values()].filter((s) => !s.done && this.parentsDone(s));
    const n = await settleAll(ready.map((s) => this.pollShard(s)));
    return n.reduce((a, b) => a + b, 0);
  }

  /**
   * Poll until every shard is idle (everything currently in the journal has been delivered). A shard
   * halted at a record that fails DRAIN_HALT_ATTEMPTS times throws MappingHaltedError (nothing past the
   * record is delivered or checkpointed; `run()` would keep retrying it).
   */
  async drain(): Promise<void> {
    this.draining = true;
    try {
      for (;;) {
        const moved = await this.pollOnce();
        const halt = [...this.halts.values()].find((h) => h.attempts >= DRAIN_HALT_ATTEMPTS);
        if (halt && this.o.maxRetryAttempts === undefined) throw new MappingHaltedError(this.o.task, halt);
        if (moved === 0) return;
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * One poll of a shard at a time: `drain()` (tests, `runner.drain()`) and the polling loop (`start()`)
   * may run together, and two polls would read from the same checkpoint and deliver the same batch twice
   * at once, out of order with each other (Lambda runs one batch of a shard at a time,
   * ParallelizationFactor 1). A poll started while another runs waits for it and returns what it delivered.
   */
  private pollShard(s: ShardState): Promise<number> {
    if (s.polling) return s.polling;
    const p = this.pollShardNow(s).finally(() => {
      s.polling = undefined;
    });
    s.polling = p;
    return p;
  }

  private async pollShardNow(s: ShardState): Promise<number> {
    const batchSize = this.o.batchSize ?? 100;
    let seen = this.nudges;
    const first = await this.o.journal.read(this.o.collection, s.info.shardId, s.checkpoint, batchSize);
    let records = first.records;
    let behind = first.millisBehindLatest;
    const window = this.o.batchWindowMs ?? 0;
    if (window > 0 && records.length > 0 && records.length < batchSize) {
      const until = Date.now() + window;
      while (records.length < batchSize && Date.now() < until && !this.stopping) {
        // Re-read when something was put (or every WINDOW_REPOLL_MS for puts the runner does not see).
        const repoll = this.draining ? DRAIN_REPOLL_MS : WINDOW_REPOLL_MS;
        await this.untilPut(seen, Math.min(repoll, until - Date.now()));
        seen = this.nudges;
        const more = await this.o.journal.read(
          this.o.collection,
          s.info.shardId,
          records.at(-1)!.sequenceNumber,
          batchSize - records.length,
        );
        records = records.concat(more.records);
        behind = more.millisBehindLatest;
        // drain() delivers what is in the stream now: once a read finds nothing new, waiting out the
        // rest of the window (10 s for persisters) would only stall it (the batch is the same).
        if (this.draining && more.records.length === 0) break;
        // A full payload ends the window, as on Lambda.
        if (withinPayloadLimit(records).length < records.length) break;
      }
    }
    records = withinPayloadLimit(records);
    this.stats.millisBehindLatest = behind;
    this.stats.iteratorAgeMs =
      records.length > 0 ? Math.max(0, Date.now() - records[records.length - 1].arrivalMs) : 0;
    if (records.length === 0) {
      if (first.endOfShard) s.done = true;
      return 0;
    }
    await this.deliver(s, records, 0);
    this.o.onEvent?.({
      kind: 'checkpoint',
      shardId: s.info.shardId,
      sequenceNumber: s.checkpoint ?? '',
      millisBehindLatest: behind,
    });
    return records.length;
  }

  private toEvent(records: JournalRecord[]): KinesisStreamEvent {
    return recordsToEvent(records, this.o.streamArn, this.o.task);
  }

  /** Store the shard's checkpoint; false when it was lost (CheckpointLostError): stop, deliver again. */
  private async checkpoint(s: ShardState, seq: string): Promise<boolean> {
    try {
      await this.o.beforeCheckpoint?.(s.info.shardId, seq);
    } catch (e) {
      if (!(e instanceof CheckpointLostError)) throw e;
      this.stats.lostCheckpoints++;
      return false;
    }
    await this.o.checkpoints.putCheckpoint(this.checkpointTask, s.info.shardId, padSequence(seq));
    s.checkpoint = seq;
    return true;
  }

  /**
   * Deliver records (in order) until all are checkpointed or sent to the on-failure destination. Returns
   * false when it stopped early (the mapping is stopping): then nothing after the first undelivered
   * record may be delivered or checkpointed, or a restart would resume past it.
   */
  private async deliver(s: ShardState, records: JournalRecord[], retriesUsed: number): Promise<boolean> {
    let attempt = retriesUsed;
    let pending = records;
    while (pending.length > 0) {
      const maxAge = this.o.maxRecordAgeSeconds;
      const now = (this.o.now ?? Date.now)();
      if (maxAge !== undefined && now - pending[0].arrivalMs > maxAge * 1000) {
        await this.fail(s, pending, 'RecordAgeExceeded', 'record older than MaximumRecordAgeInSeconds');
        return true;
      }
      const started = Date.now();
      let error: string | undefined;
      let failedFrom: number | undefined;
      try {
        const res = await this.o.handler(this.toEvent(pending));
        const failures = (this.o.reportBatchItemFailures ?? true) && res ? (res.batchItemFailures ?? []) : [];
        if (failures.length > 0) {
          const idx = failures.map((f) => pending.findIndex((r) => r.sequenceNumber === f.itemIdentifier));
          if (idx.some((i) => i < 0)) {
            error = `batchItemFailures names an unknown record: ${JSON.stringify(failures)}`;
            failedFrom = 0;
          } else {
            failedFrom = Math.min(...idx);
            error = `partial batch failure from ${pending[failedFrom].sequenceNumber}`;
          }
        }
      } catch (e) {
        if (e instanceof CrashError) throw e;
        error = describeInvokeError(e);
        failedFrom = 0;
      }
      const ms = Date.now() - started;
      this.o.meter?.lambda(ms, this.o.memoryMb ?? 1024);
      this.stats.invocations++;
      this.o.onEvent?.({
        kind: 'invoke',
        shardId: s.info.shardId,
        records: pending.length,
        ms,
        ok: !error,
        error,
      });
      if (failedFrom === undefined) {
        this.halts.delete(s.info.shardId);
        this.stats.records += pending.length;
        this.stats.docs += countDocs(pending);
        // A lost checkpoint: the next poll reads from the stored one (nothing after it may be delivered now).
        return this.checkpoint(s, pending.at(-1)!.sequenceNumber);
      }
      this.stats.errors++;
      this.lastError = error;
      if (failedFrom > 0) {
        // Everything before the first failed record succeeded: checkpoint it, retry from the failure.
        this.stats.records += failedFrom;
        this.stats.docs += countDocs(pending.slice(0, failedFrom));
        if (!(await this.checkpoint(s, pending[failedFrom - 1].sequenceNumber))) return false;
        pending = pending.slice(failedFrom);
        attempt++;
      } else if ((this.o.bisectOnError ?? true) && pending.length > 1) {
        const half = Math.ceil(pending.length / 2);
        if (!(await this.deliver(s, pending.slice(0, half), attempt))) return false;
        pending = pending.slice(half);
        continue;
      } else {
        attempt++;
        // One record that cannot be split further keeps failing: the shard stands still here.
        const prev = this.halts.get(s.info.shardId);
        const same = prev?.sequenceNumber === pending[0].sequenceNumber;
        this.halts.set(s.info.shardId, {
          shardId: s.info.shardId,
          sequenceNumber: pending[0].sequenceNumber,
          error: error ?? 'failed',
          attempts: same ? prev.attempts + 1 : 1,
          sinceMs: same ? prev.sinceMs : Date.now(),
        });
        // Without a retry limit nothing will ever move this record on: drain reports the halt.
        if (
          this.draining &&
          this.o.maxRetryAttempts === undefined &&
          (this.halts.get(s.info.shardId)?.attempts ?? 0) >= DRAIN_HALT_ATTEMPTS
        )
          return false;
      }
      // No MaximumRetryAttempts: retry until the records expire (AWS's default, -1).
      if (this.o.maxRetryAttempts !== undefined && attempt > this.o.maxRetryAttempts) {
        await this.fail(s, pending, 'RetryAttemptsExhausted', error ?? 'failed');
        return true;
      }
      await new Promise((r) => setTimeout(r, Math.min(1000, (this.o.retryBackoffMs ?? 20) * 2 ** attempt)));
      if (this.stopping) return false;
    }
    return true;
  }

  private async fail(
    s: ShardState,
    records: JournalRecord[],
    reason: OnFailureRecord['reason'],
    error: string,
  ): Promise<void> {
    const record: OnFailureRecord = {
      task: this.o.task,
      shardId: s.info.shardId,
      startSequenceNumber: records[0].sequenceNumber,
      endSequenceNumber: records.at(-1)!.sequenceNumber,
      batchSize: records.length,
      reason,
      error,
      approximateArrivalOfFirstRecord: new Date(records[0].arrivalMs).toISOString(),
    };
    this.stats.failures++;
    await this.o.onFailure?.(record);
    this.o.onEvent?.({ kind: 'failure', record });
    await this.checkpoint(s, record.endSequenceNumber);
  }
}

/**
 * A failed invocation as Lambda's console shows it: `errorType: errorMessage`. A sandboxed function's
 * error (sandbox/function.ts FunctionError) also names the function in its message, and the halt line
 * of `sluice dev` then spent a third of its width on `Type: <function>: Type:` before the cause.
 */
export function describeInvokeError(e: unknown): string {
  const lambda = e as { errorType?: unknown; errorMessage?: unknown };
  if (typeof lambda.errorType === 'string' && typeof lambda.errorMessage === 'string')
    return `${lambda.errorType}: ${lambda.errorMessage}`;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
