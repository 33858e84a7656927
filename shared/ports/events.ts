/**
 * Decoding AWS-shaped Kinesis events (what Lambda's event-source mapping and the local emulator deliver)
 * into documents with their positions, and the keyed exactly-once fold used by every consumer that
 * keeps reduced state per key (the collection view and non-transactional materializations).
 */
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { SluiceError } from '../errors.ts';
import type { Json } from '../json/types.ts';
import { misrouted, unpackFrameEntries } from './framing.ts';
import type { JournalRecord } from './journal.ts';
import { encodePosition, parseOrigin } from './position.ts';

export interface SourceDoc {
  doc: Json;
  /** The shard of the stream this event came from. */
  shardId: string;
  sequenceNumber: string;
  /** Index of the document inside its packed record. */
  index: number;
  /** This document's own position in the stream (position.ts encoding). */
  streamPosition: string;
  /**
   * Dedup identity: `source` names where the document was first produced, `position` orders documents
   * of one source. The document's origin when it carries one (a derivation's output: the source
   * document it came from), else its own stream position under `<collection>/<shardId>`.
   */
  source: string;
  position: string;
  /** True when `source`/`position` come from the document's origin (it was published by a derivation). */
  hasOrigin?: boolean;
  arrivalMs: number;
}

export class EventDecodeError extends SluiceError {
  readonly code = 'BadEvent';
  constructor(
    readonly eventID: string,
    detail: string,
  ) {
    super(`Kinesis record ${eventID}: ${detail}`);
    this.name = 'EventDecodeError';
  }
}

/** `arn:aws:kinesis:<region>:<account>:stream/<name>` → `<name>`. */
export function streamOfArn(arn: string): string {
  const i = arn.indexOf(':stream/');
  return i < 0 ? arn : arn.slice(i + ':stream/'.length);
}

/**
 * A decoded batch: documents of one shard of one collection, in stream order — what every
 * stream-consuming task takes, whoever delivered it (Lambda's Kinesis event-source mapping through
 * functions/edge.ts, a journal read, a backfill from fragments).
 */
export interface DocBatch {
  collection: string;
  shardId: string;
  docs: SourceDoc[];
  /** Bytes of the records the documents came in (BytesIn). */
  bytes: number;
  /**
   * Parked documents applied again (ports/parking.ts), on a redrive shard: tasks apply them like any
   * batch, except what the original delivery already did for them (the persister's fragments).
   */
  redrive?: boolean;
  /**
   * One document of a batch that failed on a document error, applied again on its own (the `park`
   * policy isolating the failing document, functions/telemetry.ts). What a task does once per batch —
   * the persister's fragments, one object per batch and logical partition named by its records' sequence
   * numbers — it must not do per document (documents packed in one record share its sequence number, so
   * each would overwrite the batch's fragment with itself alone): it does it for the whole batch once
   * every document was applied or parked (BatchTask.afterIsolation).
   */
  isolated?: boolean;
}

/**
 * Decode one packed record's documents, appending them to `out`. A record the journal packed for another
 * shard (a stale shard map across a split or merge) is void and yields nothing: its producer sent its
 * documents again where they belong (framing.ts `misrouted`).
 */
function decodeRecord(
  out: SourceDoc[],
  collection: string,
  r: {
    id: string;
    shardId: string;
    sequenceNumber: string;
    partitionKey: string | undefined;
    data: Buffer;
    arrivalMs: number;
  },
): void {
  if (misrouted(r.partitionKey, r.shardId)) return;
  let entries: ReturnType<typeof unpackFrameEntries>;
  try {
    entries = unpackFrameEntries(r.data);
  } catch (e) {
    throw new EventDecodeError(r.id, (e as Error).message);
  }
  entries.forEach((e, index) => {
    let doc: Json;
    try {
      doc = JSON.parse(e.bytes.toString('utf8')) as Json;
    } catch (err) {
      throw new EventDecodeError(r.id, `document ${index} is not JSON: ${(err as Error).message}`);
    }
    const streamPosition = encodePosition(r.sequenceNumber, index);
    const origin = e.origin ? parseOrigin(e.origin) : undefined;
    out.push({
      doc,
      shardId: r.shardId,
      sequenceNumber: r.sequenceNumber,
      index,
      streamPosition,
      source: origin?.source ?? `${collection}/${r.shardId}`,
      position: origin?.position ?? streamPosition,
      hasOrigin: origin !== undefined,
      arrivalMs: r.arrivalMs,
    });
  });
}

/** The documents of a Kinesis event (as Lambda's event-source mapping delivers it) from `collection`. */
export function decodeEvent(event: KinesisStreamEvent, collection: string): SourceDoc[] {
  const out: SourceDoc[] = [];
  for (const r of event.Records)
    decodeRecord(out, collection, {
      id: r.eventID,
      shardId: r.eventID.slice(0, r.eventID.lastIndexOf(':')),
      sequenceNumber: r.kinesis.sequenceNumber,
      partitionKey: r.kinesis.partitionKey,
      data: Buffer.from(r.kinesis.data, 'base64'),
      arrivalMs: Math.round(r.kinesis.approximateArrivalTimestamp * 1000),
    });
  return out;
}

/** Journal records of one shard of `collection` (read from the stream directly) as a batch. */
export function decodeRecords(collection: string, records: JournalRecord[]): DocBatch {
  const docs: SourceDoc[] = [];
  let bytes = 0;
  for (const r of records) {
    const data = Buffer.from(r.data);
    bytes += data.length;
    decodeRecord(docs, collection, { id: `${r.shardId}:${r.sequenceNumber}`, ...r, data });
  }
  return { collection, shardId: records[0]?.shardId ?? '', docs, bytes };
}

/** The current state of one key: its document (undefined: absent or deleted) and positions applied. */
export interface KeyedState {
  doc: Json | undefined;
  applied: Record<string, string>;
}

export interface KeyedResult {
  /** Index of the key in the input grouping. */
  doc: Json | undefined;
  applied: Record<string, string>;
  /** Documents folded (0: everything was already applied, nothing to write). */
  folded: number;
}

/**
 * Fold documents of one key, in order, into its state with a full reduction, skipping every document
 * whose position is not beyond what is already applied for its source. Pure: `reduce` is the
 * collection's reducer (`Reducer.reduce(lhs, rhs, true)`: undefined when the root was deleted).
 */
export function foldKey(
  state: KeyedState | undefined,
  docs: SourceDoc[],
  reduce: (lhs: Json | undefined, rhs: Json) => Json | undefined,
): KeyedResult {
  let doc = state?.doc;
  const applied = { ...(state?.applied ?? {}) };
  let folded = 0;
  for (const d of docs) {
    const seen = applied[d.source];
    if (seen !== undefined && d.position <= seen) continue;
    doc = reduce(doc, d.doc);
    applied[d.source] = d.position;
    folded++;
  }
  return { doc, applied, folded };
}

/**
 * Journal records as the AWS-shaped Kinesis event an event-source mapping delivers (`eventID` =
 * `<shardId>:<sequenceNumber>`, base64 data), so handlers cannot tell the local stack or a backfill
 * from AWS. `role` names the invoking role in `invokeIdentityArn`.
 */
export function recordsToEvent(
  records: JournalRecord[],
  streamArn: string,
  role = 'sluice',
): KinesisStreamEvent {
  const awsRegion = streamArn.split(':')[3] ?? 'us-east-1';
  return {
    Records: records.map(
      (r): KinesisStreamRecord => ({
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: r.partitionKey,
          sequenceNumber: r.sequenceNumber,
          data: Buffer.from(r.data).toString('base64'),
          approximateArrivalTimestamp: r.arrivalMs / 1000,
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: `${r.shardId}:${r.sequenceNumber}`,
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: `arn:aws:iam::000000000000:role/${role}`,
        awsRegion,
        eventSourceARN: streamArn,
      }),
    ),
  };
}
