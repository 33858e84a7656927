/**
 * The packed record format: many documents in one Kinesis record (like the KPL aggregation format, but
 * JSON). Kinesis bills PUTs in 25 KB payload units per record, so 1,000 documents of 1 KB packed into
 * records of up to 1 MiB cost 40 units instead of 1,000.
 *
 * Layout (big-endian):
 *   magic   4 bytes  0x53 0x4C 0x43 0x01  ("SLC" + format version 1)
 *   repeat: length  4 bytes (uint32, bytes of the document)
 *           doc     `length` bytes of UTF-8 JSON
 *           olen    2 bytes (uint16, bytes of the origin; 0 = none)
 *           origin  `olen` bytes of UTF-8: where the document came from (`<source>@<position>`, see
 *                   position.ts `formatOrigin`), so consumers can drop re-published duplicates
 * A record without the magic prefix is read as a single JSON document, so records written by other
 * producers (e.g. `aws kinesis put-record` with a JSON payload) are accepted too.
 */

import { SluiceError } from '../errors.ts';
import type { Json } from '../json/types.ts';

export const FRAME_MAGIC = Buffer.from([0x53, 0x4c, 0x43, 0x01]);
export const FRAME_OVERHEAD = FRAME_MAGIC.length;
export const PER_DOC_OVERHEAD = 6;

export class FramingError extends SluiceError {
  readonly code = 'BadFrame';
  constructor(
    readonly offset: number,
    detail: string,
  ) {
    super(`malformed packed record at byte ${offset}: ${detail}`);
    this.name = 'FramingError';
  }
}

export interface FrameEntry {
  bytes: Buffer;
  origin?: string;
}

/** Pack already-serialized documents (Buffers, or entries with an origin) into one record payload. */
export function packFrame(docs: (Buffer | FrameEntry)[]): Buffer {
  const entries = docs.map((d) => (Buffer.isBuffer(d) ? { bytes: d, origin: undefined } : d));
  const origins = entries.map((e) => (e.origin ? Buffer.from(e.origin) : undefined));
  let size = FRAME_OVERHEAD;
  entries.forEach((e, i) => {
    size += PER_DOC_OVERHEAD + e.bytes.length + (origins[i]?.length ?? 0);
  });
  const out = Buffer.allocUnsafe(size);
  FRAME_MAGIC.copy(out, 0);
  let off = FRAME_OVERHEAD;
  entries.forEach((e, i) => {
    out.writeUInt32BE(e.bytes.length, off);
    e.bytes.copy(out, off + 4);
    off += 4 + e.bytes.length;
    const o = origins[i];
    if (o && o.length > 0xffff) throw new FramingError(off, `origin of ${o.length} bytes is too long`);
    out.writeUInt16BE(o?.length ?? 0, off);
    o?.copy(out, off + 2);
    off += 2 + (o?.length ?? 0);
  });
  return out;
}

/** The serialized documents (and their origins) of a record payload, in order. */
export function unpackFrameEntries(data: Uint8Array): FrameEntry[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < FRAME_OVERHEAD || !buf.subarray(0, FRAME_OVERHEAD).equals(FRAME_MAGIC))
    return [{ bytes: buf }];
  const out: FrameEntry[] = [];
  let off = FRAME_OVERHEAD;
  while (off < buf.length) {
    if (off + 4 > buf.length) throw new FramingError(off, 'truncated length prefix');
    const len = buf.readUInt32BE(off);
    if (off + 4 + len + 2 > buf.length)
      throw new FramingError(off, `document of ${len} bytes overruns the record`);
    const bytes = buf.subarray(off + 4, off + 4 + len);
    off += 4 + len;
    const olen = buf.readUInt16BE(off);
    if (off + 2 + olen > buf.length)
      throw new FramingError(off, `origin of ${olen} bytes overruns the record`);
    out.push(olen > 0 ? { bytes, origin: buf.toString('utf8', off + 2, off + 2 + olen) } : { bytes });
    off += 2 + olen;
  }
  return out;
}

export function unpackFrame(data: Uint8Array): Json[] {
  return unpackFrameEntries(data).map((e) => JSON.parse(e.bytes.toString('utf8')) as Json);
}

/**
 * The partition key of a record the journal packed (adapters/kinesis.ts): `<shardId>/p/<token>`, the shard
 * the record was packed for and a token of its own. Kinesis routes by ExplicitHashKey, so the partition
 * key is free to say this.
 *
 * Why consumers need it: a producer packs documents by its cached shard map; after a split (or merge) it
 * took for a shard that is now closed, the record lands in the ONE child owning its ExplicitHashKey, with
 * documents whose keys belong to the other child. Lambda reads the children at once, so such a key's
 * document there could be applied after its later documents in the right child (measured:
 * test/unit/adapters.test.ts "stale map"). Kinesis tells the producer where each record landed; a record
 * that landed anywhere but where it was packed for is void: every consumer drops it (`misrouted`) and the
 * producer sends its documents again on a fresh map (as the KPL re-sends user records that went to the
 * wrong shard, and the KCL drops them there). Exactly once holds (the void copy is never applied) and so
 * does per-key order (the copy sent again precedes the key's later documents on the right shard).
 *
 * Records of older producers (`<shardId>/<token>`, no `/p/`) and of other producers are never dropped:
 * they were not sent again.
 */
const PLANNED_KEY = /^(shardId-[0-9]+)\/p\/[A-Za-z0-9_-]+$/;

export function plannedPartitionKey(shardId: string, token: string): string {
  return `${shardId}/p/${token}`;
}

/** The record (its partition key) was packed for another shard than the one it is in: it is void. */
export function misrouted(partitionKey: string | undefined, shardId: string): boolean {
  if (!partitionKey) return false;
  const m = PLANNED_KEY.exec(partitionKey);
  return m !== null && m[1] !== shardId;
}

/** Kinesis' limit on one record's payload (data + partition key). */
export const MAX_RECORD_BYTES = 1024 * 1024;

/**
 * The largest serialized document that fits one record on its own (planRecords' default limit, less the
 * frame and the document's length prefix): what ingest checks before it answers, so an oversized
 * document is a 413 naming it rather than a failed append.
 */
export const MAX_DOCUMENT_BYTES = MAX_RECORD_BYTES - 256 - FRAME_OVERHEAD - PER_DOC_OVERHEAD;

export interface PlannedRecord {
  shardId: string;
  /** ExplicitHashKey for the record: the hash of its first document (inside the shard's range). */
  hashKey: string;
  payload: Buffer;
  docs: number;
}

export interface ShardRange {
  shardId: string;
  start: bigint;
  end: bigint;
}

/** The open shard whose inclusive hash range holds `hashKey`. */
export function shardFor(ranges: ShardRange[], hashKey: string): ShardRange | undefined {
  const h = BigInt(hashKey);
  for (const r of ranges) if (h >= r.start && h <= r.end) return r;
  return undefined;
}

/**
 * Group serialized documents by destination shard and pack each group, in order, into records of at
 * most `maxRecordBytes`. A document larger than the limit on its own is returned in `tooLarge`.
 * Records are returned in first-appearance order of their shard; within a shard, in document order.
 */
export function planRecords(
  docs: { hashKey: string; bytes: Buffer; origin?: string }[],
  ranges: ShardRange[],
  maxRecordBytes = MAX_RECORD_BYTES - 256,
): { records: PlannedRecord[]; tooLarge: number[]; unrouted: number[] } {
  const byShard = new Map<
    string,
    { range: ShardRange; items: { hashKey: string; bytes: Buffer; origin?: string }[] }
  >();
  const tooLarge: number[] = [];
  const unrouted: number[] = [];
  docs.forEach((d, i) => {
    if (FRAME_OVERHEAD + PER_DOC_OVERHEAD + d.bytes.length + (d.origin?.length ?? 0) > maxRecordBytes) {
      tooLarge.push(i);
      return;
    }
    const r = shardFor(ranges, d.hashKey);
    if (!r) {
      unrouted.push(i);
      return;
    }
    let g = byShard.get(r.shardId);
    if (!g) {
      g = { range: r, items: [] };
      byShard.set(r.shardId, g);
    }
    g.items.push(d);
  });
  const records: PlannedRecord[] = [];
  for (const { range, items } of byShard.values()) {
    let cur: FrameEntry[] = [];
    let size = FRAME_OVERHEAD;
    let first = '';
    const flush = () => {
      if (cur.length === 0) return;
      records.push({ shardId: range.shardId, hashKey: first, payload: packFrame(cur), docs: cur.length });
      cur = [];
      size = FRAME_OVERHEAD;
    };
    for (const it of items) {
      const add = PER_DOC_OVERHEAD + it.bytes.length + Buffer.byteLength(it.origin ?? '');
      if (size + add > maxRecordBytes) flush();
      if (cur.length === 0) first = it.hashKey;
      cur.push({ bytes: it.bytes, origin: it.origin });
      size += add;
    }
    flush();
  }
  return { records, tooLarge, unrouted };
}

/** Split [0, 2^128) evenly into `n` ranges (how Kinesis creates a stream's shards). */
export function evenRanges(n: number): { start: bigint; end: bigint }[] {
  const max = (1n << 128n) - 1n;
  const step = (1n << 128n) / BigInt(n);
  return Array.from({ length: n }, (_, i) => ({
    start: step * BigInt(i),
    end: i === n - 1 ? max : step * BigInt(i + 1) - 1n,
  }));
}
