/**
 * Decoding AWS-shaped Kinesis events (what Lambda's event-source mapping and the local emulator deliver)
 * into documents with their positions, and the keyed exactly-once fold used by every consumer that
 * keeps reduced state per key (the collection view and non-transactional materializations).
 */
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { Json } from '../json/types.ts';
import { unpackFrameEntries } from './framing.ts';
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

export class EventDecodeError extends Error {
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

export function decodeEvent(event: KinesisStreamEvent, collection: string): SourceDoc[] {
  const out: SourceDoc[] = [];
  for (const r of event.Records) {
    const shardId = r.eventID.slice(0, r.eventID.lastIndexOf(':'));
    const seq = r.kinesis.sequenceNumber;
    let entries: ReturnType<typeof unpackFrameEntries>;
    try {
      entries = unpackFrameEntries(Buffer.from(r.kinesis.data, 'base64'));
    } catch (e) {
      throw new EventDecodeError(r.eventID, (e as Error).message);
    }
    entries.forEach((e, index) => {
      let doc: Json;
      try {
        doc = JSON.parse(e.bytes.toString('utf8')) as Json;
      } catch (err) {
        throw new EventDecodeError(r.eventID, `document ${index} is not JSON: ${(err as Error).message}`);
      }
      const streamPosition = encodePosition(seq, index);
      const origin = e.origin ? parseOrigin(e.origin) : undefined;
      out.push({
        doc,
        shardId,
        sequenceNumber: seq,
        index,
        streamPosition,
        source: origin?.source ?? `${collection}/${shardId}`,
        position: origin?.position ?? streamPosition,
        hasOrigin: origin !== undefined,
        arrivalMs: Math.round(r.kinesis.approximateArrivalTimestamp * 1000),
      });
    });
  }
  return out;
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
