/**
 * Journal on Kinesis Data Streams (one stream per collection).
 *
 * Appends: documents are routed by their ExplicitHashKey (hash of the packed collection key) to the open
 * shard owning that hash, packed per shard into records of up to ~1 MiB (framing.ts), and sent with
 * PutRecords within AWS limits (500 records, 5 MiB per call). Per-key order across retries: one call
 * carries at most ONE record per shard, and a shard's next record is sent only after its previous one
 * succeeded, so a partial failure (only failed records are retried, exponential backoff with full
 * jitter) never lets a later record of a shard overtake an earlier one. Throttling of the whole call
 * (ProvisionedThroughputExceeded, LimitExceeded, KMS throttling) is retried the same way. A call whose
 * answer may hide an applied write (a 5xx, a timeout, a reset connection) is never sent again blindly:
 * the records of it found in the stream are taken as written, and only the rest are sent again
 * (kinesis-landed.ts), so a lost answer does not append a document twice.
 *
 * Resharding: a record packed on a stale shard map (a shard split or merged since the map was read) lands
 * in the one shard owning its ExplicitHashKey, possibly with documents of keys another child owns. Each
 * record's partition key names the shard it was packed for; a record Kinesis put in another shard is void
 * (every consumer drops it: framing.ts `misrouted`), and its documents are sent again with everything
 * not yet sent, re-planned on a fresh map, before any later document of their keys.
 */
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
  type PutRecordsRequestEntry,
  type Shard,
} from '@aws-sdk/client-kinesis';
import {
  MAX_RECORD_BYTES,
  type PlannedRecord,
  planRecords,
  type ShardRange,
  shardFor,
} from '../ports/framing.ts';
import {
  type AppendDoc,
  type AppendResult,
  type Journal,
  JournalError,
  type ReadResult,
  type ShardInfo,
} from '../ports/journal.ts';
import type { UsageMeter } from '../ports/usage.ts';
import {
  AmbiguousPutError,
  CLOCK_SKEW_MS,
  IN_FLIGHT_GRACE_MS,
  landed,
  noBlindRetry,
  recordToken,
} from './kinesis-landed.ts';

export interface KinesisJournalOptions {
  client: KinesisClient;
  /** Stream name of a collection. */
  streamName: (collection: string) => string;
  meter?: UsageMeter;
  /** Attempts per record before the append fails (default 12). */
  maxAttempts?: number;
  /** Base backoff in ms (default 25); attempt n waits random(0, base * 2^n) capped at maxBackoffMs. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  maxRecordBytes?: number;
  sleep?: (ms: number) => Promise<void>;
}

const RETRYABLE = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'KMSThrottlingException',
  'InternalFailure',
  'ServiceUnavailable',
  'ThrottlingException',
]);

const MAX_CALL_RECORDS = 500;
const MAX_CALL_BYTES = 5 * 1024 * 1024;
/** How long a producer trusts its cached shard map (shardRanges). */
const RANGES_TTL_MS = 60_000;

/**
 * Which of `indices` (documents, in order) each planned record holds: planRecords packs each shard's
 * documents in order into consecutive records, `docs` at a time.
 */
function recordDocs(
  records: PlannedRecord[],
  indices: Iterable<number>,
  docs: { hashKey: string }[],
  ranges: ShardRange[],
  out: Map<PlannedRecord, number[]>,
): void {
  const byShard = new Map<string, number[]>();
  for (const i of indices) {
    const r = shardFor(ranges, docs[i].hashKey);
    if (!r) continue;
    const list = byShard.get(r.shardId);
    if (list) list.push(i);
    else byShard.set(r.shardId, [i]);
  }
  for (const [shardId, list] of byShard) {
    let at = 0;
    for (const r of records.filter((x) => x.shardId === shardId)) {
      out.set(r, list.slice(at, at + r.docs));
      at += r.docs;
    }
  }
}

export class KinesisJournal implements Journal {
  private readonly ranges = new Map<string, { ranges: ShardRange[]; at: number }>();
  private readonly iterators = new Map<string, string>();
  private readonly sleep: (ms: number) => Promise<void>;
  /** Retries performed (records re-sent after a partial failure or a throttled call). */
  retries = 0;
  /** Records of calls whose answer was lost that were found in the stream, so not sent again. */
  settled = 0;
  /** Records that landed in another shard than they were packed for (void), their documents sent again. */
  misrouted = 0;

  constructor(private readonly opts: KinesisJournalOptions) {
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Create the stream when missing and wait until it is ACTIVE (provisioning). */
  async ensureStream(collection: string, shardCount: number): Promise<void> {
    const StreamName = this.opts.streamName(collection);
    try {
      await this.opts.client.send(new CreateStreamCommand({ StreamName, ShardCount: shardCount }));
    } catch (e) {
      if ((e as Error).name !== 'ResourceInUseException') throw e;
    }
    for (let i = 0; i < 200; i++) {
      const d = await this.opts.client.send(new DescribeStreamSummaryCommand({ StreamName }));
      if (d.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
      await this.sleep(25);
    }
    throw new JournalError('UnknownCollection', collection, `stream ${StreamName} did not become ACTIVE`);
  }

  /**
   * The open shards' hash ranges, cached for RANGES_TTL_MS: after a split (on-demand streams split on
   * their own) a stale map packs documents of both children into one record, which lands in one child.
   * Such a record is void (consumers drop it, see the header) and its documents are sent again; a ShardId
   * mismatch on a put refreshes the map and re-plans everything not yet sent (append), so it happens at
   * most once per stale shard and append.
   */
  private async shardRanges(collection: string, refresh = false): Promise<ShardRange[]> {
    const cached = this.ranges.get(collection);
    if (cached && !refresh && Date.now() - cached.at < RANGES_TTL_MS) return cached.ranges;
    const shards = await this.listShards(collection);
    const open = shards
      .filter((s) => !s.closed)
      .map((s) => ({ shardId: s.shardId, start: BigInt(s.startingHashKey), end: BigInt(s.endingHashKey) }));
    this.ranges.set(collection, { ranges: open, at: Date.now() });
    return open;
  }

  async append(collection: string, docs: AppendDoc[]): Promise<AppendResult> {
    if (docs.length === 0) return { records: 0, docs: 0, positions: [] };
    const serialized = docs.map((d) => ({
      hashKey: d.hashKey,
      bytes: Buffer.from(JSON.stringify(d.doc)),
      origin: d.origin,
    }));
    let ranges = await this.shardRanges(collection);
    let plan = planRecords(serialized, ranges, this.opts.maxRecordBytes ?? MAX_RECORD_BYTES - 256);
    if (plan.unrouted.length > 0) {
      ranges = await this.shardRanges(collection, true);
      plan = planRecords(serialized, ranges, this.opts.maxRecordBytes ?? MAX_RECORD_BYTES - 256);
    }
    if (plan.tooLarge.length > 0)
      throw new JournalError('RecordTooLarge', collection, `document ${plan.tooLarge[0]} exceeds 1 MiB`, {
        index: plan.tooLarge[0],
        bytes: serialized[plan.tooLarge[0]].bytes.length,
      });
    if (plan.unrouted.length > 0)
      throw new JournalError('AppendFailed', collection, 'no open shard owns the hash key', {
        hashKey: docs[plan.unrouted[0]].hashKey,
      });

    // Per shard, a queue of records to send in order.
    const queues = new Map<string, PlannedRecord[]>();
    const enqueue = (records: PlannedRecord[]) => {
      for (const r of records) {
        const q = queues.get(r.shardId);
        if (q) q.push(r);
        else queues.set(r.shardId, [r]);
      }
    };
    enqueue(plan.records);
    // Which documents each planned record holds: worked out only after a reshard, to re-plan the unsent.
    let docsOf: Map<PlannedRecord, number[]> | undefined;
    const planned = { records: plan.records, indices: [...serialized.keys()], ranges };
    let resharded = false;
    const attempts = new Map<PlannedRecord, number>();
    const positions: AppendResult['positions'] = [];
    const StreamName = this.opts.streamName(collection);
    const maxAttempts = this.opts.maxAttempts ?? 12;
    // Each record's partition key is a token of its own, the same on every attempt: after an ambiguous
    // failure, the records found in the stream by it are written (kinesis-landed.ts).
    const tokens = new Map<PlannedRecord, string>();
    const tokenOf = (r: PlannedRecord) => {
      const t = tokens.get(r) ?? recordToken(r.shardId);
      tokens.set(r, t);
      return t;
    };
    // Records that landed in another shard than they were packed for: void, their documents go again.
    const misplaced: PlannedRecord[] = [];
    const written = (r: PlannedRecord, shardId: string, sequenceNumber: string) => {
      this.opts.meter?.kinesisPut(r.payload.length + tokenOf(r).length);
      if (shardId !== r.shardId) {
        // Its shard was split or merged since the map was read: the record may hold documents of a
        // key that another child owns, which Lambda could apply after that key's later documents there.
        resharded = true;
        misplaced.push(r);
        this.misrouted++;
      } else positions.push({ shardId, sequenceNumber, docs: r.docs });
      const q = queues.get(r.shardId)!;
      q.shift();
      if (q.length === 0) queues.delete(r.shardId);
    };
    while (queues.size > 0) {
      // One record per shard per call, bounded by the call limits.
      const batch: PlannedRecord[] = [];
      let bytes = 0;
      for (const q of queues.values()) {
        const r = q[0];
        const size = r.payload.length + tokenOf(r).length;
        if (batch.length >= MAX_CALL_RECORDS || bytes + size > MAX_CALL_BYTES) break;
        batch.push(r);
        bytes += size;
      }
      const backoff = Math.max(0, ...batch.map((r) => attempts.get(r) ?? 0));
      if (backoff > 0) await this.sleep(this.backoffMs(backoff));
      const entries: PutRecordsRequestEntry[] = batch.map((r) => ({
        Data: r.payload,
        // Routing uses ExplicitHashKey; the partition key (required, ignored for routing) is the token.
        PartitionKey: tokenOf(r),
        ExplicitHashKey: r.hashKey,
      }));
      let failed: PlannedRecord[] = [];
      const sentAt = Date.now();
      try {
        const res = await this.opts.client.send(
          noBlindRetry(new PutRecordsCommand({ StreamName, Records: entries })),
        );
        const out = res.Records ?? [];
        batch.forEach((r, i) => {
          const o = out[i];
          if (!o || o.ErrorCode || !o.SequenceNumber) {
            if (o?.ErrorCode && !RETRYABLE.has(o.ErrorCode) && o.ErrorCode !== 'InternalFailure')
              throw new JournalError('AppendFailed', collection, `record rejected: ${o.ErrorCode}`, {
                errorCode: o.ErrorCode,
                errorMessage: o.ErrorMessage ?? null,
              });
            failed.push(r);
            return;
          }
          written(r, o.ShardId ?? r.shardId, o.SequenceNumber);
        });
      } catch (e) {
        if (e instanceof JournalError) throw e;
        if (e instanceof AmbiguousPutError) {
          // Some or all of the batch may be in the stream: find which before sending any of it again.
          if (!e.answered) await this.sleep(IN_FLIGHT_GRACE_MS);
          const found = await landed(
            this.opts.client,
            collection,
            StreamName,
            await this.listShards(collection),
            batch.map((r) => ({ token: tokenOf(r), hashKey: r.hashKey })),
            sentAt - CLOCK_SKEW_MS,
            this.opts.meter,
          );
          for (const r of batch) {
            const at = found.get(tokenOf(r));
            if (at) written(r, at.shardId, at.sequenceNumber);
            else failed.push(r);
          }
          this.settled += found.size;
        } else {
          // What noBlindRetry lets through proves nothing was written: a throttle or a refusal (4xx), a
          // refused connection (a 5xx, a timeout or a reset arrives as AmbiguousPutError above).
          const refused = (e as { code?: string }).code === 'ECONNREFUSED';
          if (!RETRYABLE.has((e as Error).name) && !refused) throw e;
          failed = batch;
        }
      }
      if (resharded) {
        // The map was stale (a split or merge): re-read it and re-plan the documents of the void records
        // and every document not yet sent, so no further record mixes documents of different shards. In
        // document order: a key's void documents go before its unsent ones.
        resharded = false;
        if (!docsOf) {
          docsOf = new Map();
          recordDocs(planned.records, planned.indices, serialized, planned.ranges, docsOf);
        }
        const held = docsOf;
        const unsent = [...misplaced, ...[...queues.values()].flat()]
          .flatMap((r) => held.get(r) ?? [])
          .sort((a, b) => a - b);
        misplaced.length = 0;
        ranges = await this.shardRanges(collection, true);
        const again = planRecords(
          unsent.map((i) => serialized[i]),
          ranges,
          this.opts.maxRecordBytes ?? MAX_RECORD_BYTES - 256,
        );
        queues.clear();
        recordDocs(again.records, unsent, serialized, ranges, docsOf);
        enqueue(again.records);
        // Records not yet accepted were re-planned: their attempts start again.
        failed = failed.filter((r) => queues.get(r.shardId)?.includes(r));
      }
      for (const r of failed) {
        const n = (attempts.get(r) ?? 0) + 1;
        if (n >= maxAttempts)
          throw new JournalError('AppendFailed', collection, `record for ${r.shardId} failed ${n} times`, {
            shardId: r.shardId,
            attempts: n,
          });
        attempts.set(r, n);
        this.retries++;
      }
    }
    return { records: plan.records.length, docs: docs.length, positions };
  }

  private backoffMs(attempt: number): number {
    const base = this.opts.baseBackoffMs ?? 25;
    const cap = this.opts.maxBackoffMs ?? 2000;
    return Math.random() * Math.min(cap, base * 2 ** attempt);
  }

  async listShards(collection: string): Promise<ShardInfo[]> {
    const StreamName = this.opts.streamName(collection);
    const shards: Shard[] = [];
    let NextToken: string | undefined;
    do {
      const res = await this.opts.client.send(
        new ListShardsCommand(NextToken ? { NextToken } : { StreamName }),
      );
      shards.push(...(res.Shards ?? []));
      NextToken = res.NextToken;
    } while (NextToken);
    return shards.map((s) => ({
      shardId: s.ShardId!,
      parentShardId: s.ParentShardId,
      adjacentParentShardId: s.AdjacentParentShardId,
      startingHashKey: s.HashKeyRange!.StartingHashKey!,
      endingHashKey: s.HashKeyRange!.EndingHashKey!,
      closed: s.SequenceNumberRange?.EndingSequenceNumber !== undefined,
    }));
  }

  /**
   * Records of a shard that arrived since `sinceMs` (an AT_TIMESTAMP iterator), at most `limit`: the
   * newest part of a journal without reading it from the start (the web console's live tail).
   */
  async readSince(collection: string, shardId: string, sinceMs: number, limit: number): Promise<ReadResult> {
    const StreamName = this.opts.streamName(collection);
    const it = await this.opts.client.send(
      new GetShardIteratorCommand({
        StreamName,
        ShardId: shardId,
        ShardIteratorType: 'AT_TIMESTAMP',
        Timestamp: new Date(sinceMs),
      }),
    );
    if (!it.ShardIterator) return { records: [], millisBehindLatest: 0, endOfShard: true };
    const res = await this.opts.client.send(
      new GetRecordsCommand({ ShardIterator: it.ShardIterator, Limit: Math.min(10_000, limit) }),
    );
    this.opts.meter?.add({ kinesisGetRecordsCalls: 1 });
    return {
      records: (res.Records ?? []).map((r) => ({
        shardId,
        sequenceNumber: r.SequenceNumber!,
        partitionKey: r.PartitionKey ?? '',
        data: r.Data ?? new Uint8Array(),
        arrivalMs: r.ApproximateArrivalTimestamp?.getTime() ?? 0,
      })),
      millisBehindLatest: res.MillisBehindLatest ?? 0,
      endOfShard: !res.NextShardIterator,
    };
  }

  async read(
    collection: string,
    shardId: string,
    afterSequence: string | undefined,
    limit: number,
  ): Promise<ReadResult> {
    const StreamName = this.opts.streamName(collection);
    const itKey = `${StreamName}\u0000${shardId}\u0000${afterSequence ?? ''}`;
    let iterator = this.iterators.get(itKey);
    this.iterators.delete(itKey);
    if (!iterator) {
      const it = await this.opts.client.send(
        new GetShardIteratorCommand(
          afterSequence === undefined
            ? { StreamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }
            : {
                StreamName,
                ShardId: shardId,
                ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
                StartingSequenceNumber: afterSequence,
              },
        ),
      );
      iterator = it.ShardIterator;
    }
    if (!iterator) return { records: [], millisBehindLatest: 0, endOfShard: true };
    let res: GetRecordsCommandOutput;
    try {
      res = await this.opts.client.send(
        new GetRecordsCommand({ ShardIterator: iterator, Limit: Math.min(10_000, limit) }),
      );
    } catch (e) {
      if ((e as Error).name === 'ExpiredIteratorException')
        return this.read(collection, shardId, afterSequence, limit);
      throw e;
    }
    this.opts.meter?.add({ kinesisGetRecordsCalls: 1 });
    const records = (res.Records ?? []).map((r) => ({
      shardId,
      sequenceNumber: r.SequenceNumber!,
      partitionKey: r.PartitionKey ?? '',
      data: r.Data ?? new Uint8Array(),
      arrivalMs: r.ApproximateArrivalTimestamp?.getTime() ?? 0,
    }));
    const last = records.at(-1)?.sequenceNumber ?? afterSequence;
    if (res.NextShardIterator)
      this.iterators.set(`${StreamName}\u0000${shardId}\u0000${last ?? ''}`, res.NextShardIterator);
    return {
      records,
      millisBehindLatest: res.MillisBehindLatest ?? 0,
      endOfShard: !res.NextShardIterator,
    };
  }
}
