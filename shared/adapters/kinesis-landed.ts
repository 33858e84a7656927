/**
 * Appends whose answer was lost. Kinesis has no idempotent put: a PutRecords that Kinesis applied but
 * whose answer never arrived intact (a 500 after the write, a timeout, a reset connection) and that is
 * sent again lands twice, and the copy has a new sequence number, so a consumer that drops replays by
 * position (or a capture document without an origin) counts it twice. Gazette, Estuary's journal, drops
 * such copies at the reader by each producer's clock; here the writer settles it instead:
 *
 * - the SDK is kept from re-sending a PutRecords on its own after an answer that may hide an applied
 *   write (`noBlindRetry`): only answers that prove nothing was written (4xx: throttling, validation,
 *   access) and refused connections are left to its retries;
 * - each record carries a random token as its partition key (Kinesis routes by ExplicitHashKey, so the
 *   partition key is free), and before the journal sends records of an ambiguous call again it reads
 *   their shards from just before the call (`landed`): a record found there is taken as written, with the
 *   position Kinesis gave it, and only the others are sent again.
 *
 * What stays open: a request that timed out on our side but reaches Kinesis later than the grace given to
 * it (IN_FLIGHT_GRACE_MS) is not seen by the read and can still land twice.
 */
import { randomBytes } from 'node:crypto';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  type PutRecordsCommand,
  type PutRecordsCommandInput,
  type PutRecordsCommandOutput,
} from '@aws-sdk/client-kinesis';
import type { FinalizeRequestMiddleware } from '@smithy/types';
import { SluiceError } from '../errors.ts';
import { plannedPartitionKey } from '../ports/framing.ts';
import { JournalError, type ShardInfo } from '../ports/journal.ts';
import type { UsageMeter } from '../ports/usage.ts';

/** Wait after an unanswered call before reading for its records, so a request still in flight lands. */
export const IN_FLIGHT_GRACE_MS = 2000;
/** Read from this long before the call: Kinesis stamps arrival with its own clock. */
export const CLOCK_SKEW_MS = 5000;
/** GetRecords calls per shard a search may take before it gives up (each reads up to 10,000 records). */
const MAX_READS_PER_SHARD = 200;

/**
 * A PutRecords call failed in a way that may hide an applied write. Not an SDK-retryable error on
 * purpose: no `$metadata` status, no `code`, and the SDK's error (`error`) is not its `cause`, since the
 * SDK's retry classification follows `cause`.
 */
export class AmbiguousPutError extends SluiceError {
  /** The service answered (a 5xx), so the call is over; false for a timeout or a reset connection. */
  readonly answered: boolean;
  constructor(readonly error: unknown) {
    const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    super(`PutRecords may have been applied: ${e?.name ?? 'Error'}: ${e?.message ?? String(error)}`);
    this.name = 'AmbiguousPutError';
    this.answered = (e?.$metadata?.httpStatusCode ?? 0) >= 500;
  }
}

/** Nothing was written: the service refused the call (4xx), or the connection was never made. */
function provenUnapplied(e: unknown): boolean {
  const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0;
  if (status >= 400 && status < 500) return true;
  return (e as { code?: string }).code === 'ECONNREFUSED';
}

/**
 * Each attempt of `cmd` that fails without proof that nothing was written becomes an AmbiguousPutError,
 * which the SDK does not retry: the journal settles it with `landed` before sending anything again.
 */
export function noBlindRetry(cmd: PutRecordsCommand): PutRecordsCommand {
  // Placed after the SDK's retry middleware, so it sees (and re-labels) the error of every attempt.
  const settleFirst: FinalizeRequestMiddleware<PutRecordsCommandInput, PutRecordsCommandOutput> =
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (e) {
        if (provenUnapplied(e)) throw e;
        throw new AmbiguousPutError(e);
      }
    };
  cmd.middlewareStack.addRelativeTo(settleFirst, {
    relation: 'after',
    toMiddleware: 'retryMiddleware',
    name: 'sluiceNoBlindRetry',
  });
  return cmd;
}

/**
 * A fresh partition key for a record: the shard it was packed for (consumers drop a record found in
 * another: framing.ts `misrouted`) and a random token.
 */
export function recordToken(shardId: string): string {
  return plannedPartitionKey(shardId, randomBytes(12).toString('base64url'));
}

export interface Landed {
  shardId: string;
  sequenceNumber: string;
}

/**
 * Which of `records` (by partition-key token) are in the stream: every shard whose hash range holds one
 * of their hash keys (after a split, the child that took it) is read from `sinceMs` to its tip. Throws
 * when a shard cannot be read to its tip within MAX_READS_PER_SHARD calls: then nothing can be settled,
 * and sending again could double.
 */
export async function landed(
  client: KinesisClient,
  collection: string,
  streamName: string,
  shards: ShardInfo[],
  records: { token: string; hashKey: string }[],
  sinceMs: number,
  meter?: UsageMeter,
): Promise<Map<string, Landed>> {
  const want = new Set(records.map((r) => r.token));
  const found = new Map<string, Landed>();
  const hashes = records.map((r) => BigInt(r.hashKey));
  for (const s of shards) {
    const start = BigInt(s.startingHashKey);
    const end = BigInt(s.endingHashKey);
    if (!hashes.some((h) => h >= start && h <= end)) continue;
    const it = await client.send(
      new GetShardIteratorCommand({
        StreamName: streamName,
        ShardId: s.shardId,
        ShardIteratorType: 'AT_TIMESTAMP',
        Timestamp: new Date(sinceMs),
      }),
    );
    let iterator = it.ShardIterator;
    let reads = 0;
    while (iterator) {
      if (reads++ >= MAX_READS_PER_SHARD)
        throw new JournalError(
          'AppendFailed',
          collection,
          `a PutRecords may have been applied, and ${s.shardId} could not be read to its tip in ${MAX_READS_PER_SHARD} calls to find out; not sent again`,
          { shardId: s.shardId },
        );
      const res = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      meter?.add({ kinesisGetRecordsCalls: 1 });
      for (const r of res.Records ?? []) {
        if (r.PartitionKey && want.has(r.PartitionKey))
          found.set(r.PartitionKey, { shardId: s.shardId, sequenceNumber: r.SequenceNumber! });
      }
      if (found.size === want.size) return found;
      if ((res.Records?.length ?? 0) === 0 && (res.MillisBehindLatest ?? 0) === 0) break;
      iterator = res.NextShardIterator;
    }
  }
  return found;
}
