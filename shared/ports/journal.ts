/**
 * Journal port: an append-only, sharded log per collection (a Kinesis stream on AWS).
 *
 * Documents are routed by the 128-bit hash of their packed collection key (`hashKey`, a decimal string,
 * Kinesis' ExplicitHashKey), so every document of one key lands on one shard and keeps its order.
 * Many documents bound for the same shard are packed into one record (see `framing.ts`); a document's
 * position is therefore (record sequence number, index inside the record), see `position.ts`.
 */

import { SluiceError } from '../errors.ts';
import type { Json } from '../json/types.ts';

export interface AppendDoc {
  /** Decimal string in [0, 2^128): the hash of the packed collection key (Kinesis ExplicitHashKey). */
  hashKey: string;
  doc: Json;
  /**
   * Where this document came from (`formatOrigin(source, position)`), stored beside it in the packed
   * record. A derivation sets it to the source document's position, so a consumer that tracks, per key,
   * the highest origin position applied per source drops documents re-published by a replay.
   */
  origin?: string;
}

export interface AppendResult {
  /** Records written (after packing). */
  records: number;
  /** Documents written. */
  docs: number;
  /** Per record written: the shard and sequence number (in the order the journal wrote them). */
  positions: { shardId: string; sequenceNumber: string; docs: number }[];
}

export interface ShardInfo {
  shardId: string;
  parentShardId?: string;
  adjacentParentShardId?: string;
  /** Inclusive hash key range, decimal strings. */
  startingHashKey: string;
  endingHashKey: string;
  /** A closed shard (after a split/merge) has an ending sequence number and takes no more writes. */
  closed: boolean;
}

/** One record of a shard, as read back (the shape a Kinesis event record carries). */
export interface JournalRecord {
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
  /** The record payload: a packed frame of documents (framing.ts). */
  data: Uint8Array;
  /** Milliseconds since the epoch when the journal accepted the record. */
  arrivalMs: number;
}

export interface ReadResult {
  records: JournalRecord[];
  /** How far behind the tip of the shard this read is, in ms (Kinesis MillisBehindLatest). */
  millisBehindLatest: number;
  /** The shard is closed and every record of it has been read. */
  endOfShard: boolean;
}

export interface Journal {
  /** Append documents to a collection's journal. Resolves only once every document is durably stored. */
  append(collection: string, docs: AppendDoc[]): Promise<AppendResult>;
  listShards(collection: string): Promise<ShardInfo[]>;
  /** Records of a shard strictly after `afterSequence` (from the start when undefined), at most `limit`. */
  read(
    collection: string,
    shardId: string,
    afterSequence: string | undefined,
    limit: number,
  ): Promise<ReadResult>;
}

export class JournalError extends SluiceError {
  readonly code: 'AppendFailed' | 'UnknownCollection' | 'RecordTooLarge' | 'UnknownShard';
  readonly collection: string;
  readonly detail: Record<string, Json>;
  constructor(
    code: JournalError['code'],
    collection: string,
    message: string,
    detail: Record<string, Json> = {},
  ) {
    super(`journal of ${collection}: ${message}`);
    this.name = 'JournalError';
    this.code = code;
    this.collection = collection;
    this.detail = detail;
  }
}
