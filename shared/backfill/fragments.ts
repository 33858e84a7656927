/**
 * Backfill: a new materialization binding (or a bumped `backfill` counter) first reads the collection's
 * history from its S3 fragments, then continues from the Kinesis position where the fragments end.
 *
 * Fragments are written by the persist task (shared/persist/task.ts) as gzipped JSON lines at
 * `<folder = prefix + collection + />/<partition fields…>/pivot=<shardId>/utc_date=…/utc_hour=…/<firstSeq>-<lastSeq>.json.gz`,
 * one object per (event batch, logical partition), covering whole Kinesis records firstSeq..lastSeq.
 *
 * The reader lists them, orders each shard's fragments by sequence number, skips fragments entirely
 * covered by ones already read (a retried persist batch with other boundaries), drops documents whose
 * `_meta/uuid` was already seen on that shard (partial overlaps; a partially overlapping fragment whose
 * documents carry no `_meta/uuid` is an error rather than a silent duplicate), and hands each fragment to the task as an
 * AWS-shaped Kinesis event: one packed record per fragment whose sequence number is the fragment's
 * `lastSeq`, so the task's checkpoint after the backfill is `(lastSeq, n-1)` per shard and the same
 * exactly-once machinery (skip positions at or before the checkpoint, fenced commit) applies.
 *
 * Then the runner resumes each shard's event-source mapping AFTER_SEQUENCE_NUMBER `resume[shardId]`
 * (shards without fragments: TRIM_HORIZON). Records up to lastSeq came from S3, records after it come from
 * Kinesis: no gap, no duplicate. Limits: the persister must not be behind Kinesis retention (otherwise
 * records between the last fragment and the trim horizon are lost: the reader reports `resume` so a
 * runner can check it against the shard's trim horizon), and with logical partitions the documents of
 * one batch are replayed partition by partition (per-key order holds when the partition fields are
 * part of the key, as Estuary requires for partitioned keys).
 */
import { gunzipSync } from 'node:zlib';
import { SluiceError } from '../errors.ts';
import { isObject, type Json } from '../json/types.ts';
import type { BlobStore } from '../ports/blob.ts';
import { type DocBatch, decodeRecords } from '../ports/events.ts';
import { packFrame } from '../ports/framing.ts';
import { padSequence } from '../ports/position.ts';

export interface FragmentRef {
  key: string;
  shardId: string;
  /** `field=value/…` of the logical partition ('' when the collection has none). */
  partition: string;
  firstSeq: string;
  lastSeq: string;
  /** Starts at or before the end of a fragment already read (a retried persist batch with other boundaries). */
  overlaps?: boolean;
}

export class FragmentError extends SluiceError {
  readonly code = 'BadFragment';
  constructor(
    readonly key: string,
    readonly line: number,
    detail: string,
  ) {
    super(`fragment ${key}${line ? `:${line}` : ''}: ${detail}`);
    this.name = 'FragmentError';
  }
}

const NAME =
  /^(?:(.*)\/)?pivot=([^/]+)\/utc_date=\d{4}-\d{2}-\d{2}\/utc_hour=\d{2}\/(\d+)-(\d+)\.json(?:\.gz)?$/;

/** Parse a fragment's object key (undefined when it is not a fragment of this collection). */
export function parseFragmentKey(folder: string, key: string): FragmentRef | undefined {
  const base = folder;
  if (!key.startsWith(base)) return undefined;
  const m = NAME.exec(key.slice(base.length));
  if (!m) return undefined;
  return {
    key,
    partition: m[1] ?? '',
    shardId: m[2] as string,
    firstSeq: m[3] as string,
    lastSeq: m[4] as string,
  };
}

/** The collection's fragments grouped by shard, each shard's in sequence order (covered ones skipped). */
export async function listFragments(blobs: BlobStore, folder: string): Promise<Map<string, FragmentRef[]>> {
  const all = (await blobs.list(folder))
    .map((k) => parseFragmentKey(folder, k))
    .filter((f): f is FragmentRef => f !== undefined);
  const byShard = new Map<string, FragmentRef[]>();
  for (const f of all) byShard.set(f.shardId, [...(byShard.get(f.shardId) ?? []), f]);
  for (const [shard, list] of byShard) {
    list.sort((a, b) => {
      const fa = padSequence(a.firstSeq);
      const fb = padSequence(b.firstSeq);
      if (fa !== fb) return fa < fb ? -1 : 1;
      const la = padSequence(a.lastSeq);
      const lb = padSequence(b.lastSeq);
      return la === lb ? (a.partition < b.partition ? -1 : 1) : la > lb ? -1 : 1; // longer first
    });
    // Skip a fragment entirely covered by an earlier one of the same partition.
    const maxLast = new Map<string, string>();
    const kept: FragmentRef[] = [];
    for (const f of list) {
      const seen = maxLast.get(f.partition);
      const last = padSequence(f.lastSeq);
      if (seen !== undefined && last <= seen) continue;
      maxLast.set(f.partition, seen !== undefined && seen > last ? seen : last);
      kept.push(seen !== undefined && padSequence(f.firstSeq) <= seen ? { ...f, overlaps: true } : f);
    }
    byShard.set(shard, kept);
  }
  return byShard;
}

async function readFragment(blobs: BlobStore, f: FragmentRef): Promise<Json[]> {
  const body = await blobs.get(f.key);
  if (!body) throw new FragmentError(f.key, 0, 'listed but missing');
  let text: string;
  try {
    text = new TextDecoder().decode(f.key.endsWith('.gz') ? gunzipSync(body) : body);
  } catch (err) {
    throw new FragmentError(f.key, 0, `not gzip: ${(err as Error).message}`);
  }
  const out: Json[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push(JSON.parse(line) as Json);
    } catch (err) {
      throw new FragmentError(f.key, i + 1, (err as Error).message);
    }
  });
  return out;
}

function uuidOf(d: Json): string | undefined {
  return isObject(d) && isObject(d._meta) && typeof d._meta.uuid === 'string' ? d._meta.uuid : undefined;
}

export interface BackfillResult {
  fragments: number;
  docs: number;
  /** Fragments not read because an earlier run already applied them (`after`). */
  skipped: number;
  /** Per shard: the last sequence number covered by fragments; resume Kinesis AFTER it. */
  resume: Record<string, string>;
}

export interface BackfillOptions {
  blobs: BlobStore;
  /** The collection's fragment folder (`…/<collection>/`, shared/persist/place.ts fragmentPlace). */
  folder: string;
  collection: string;
  /** Only these shards (default: all with fragments). */
  shards?: string[];
  /** Receives each persisted batch's documents, in per-shard order: e.g. `(b) => materializeTask.onBatch(b)`. */
  onBatch: (batch: DocBatch) => Promise<void>;
  /**
   * Resuming: per shard, the last sequence number already applied (the binding's own committed position).
   * Fragments ending at or before it are skipped without being read, so a backfill stopped midway (its
   * deadline, a crash) continues where it stopped instead of reading its whole history again.
   */
  after?: Record<string, string>;
  /** Before each fragment is read: the job renews its lease and checks its deadline here (it may throw to stop). */
  beforeFragment?: () => Promise<void>;
}

/** Replay the collection's fragment history into a task. */
export async function runBackfill(o: BackfillOptions): Promise<BackfillResult> {
  const byShard = await listFragments(o.blobs, o.folder);
  const result: BackfillResult = { fragments: 0, docs: 0, skipped: 0, resume: {} };
  for (const [shardId, list] of [...byShard].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (o.shards && !o.shards.includes(shardId)) continue;
    const uuids = new Set<string>();
    // The fragments of one persisted batch (one per logical partition, same firstSeq-lastSeq) make one
    // event: their documents share the batch's positions, so they must be applied together.
    const groups: FragmentRef[][] = [];
    for (const f of list) {
      const g = groups[groups.length - 1];
      if (g?.[0] && g[0].firstSeq === f.firstSeq && g[0].lastSeq === f.lastSeq) g.push(f);
      else groups.push([f]);
    }
    const done = o.after?.[shardId];
    const skipped: FragmentRef[] = [];
    for (const group of groups) {
      const f = group[0] as FragmentRef;
      if (done !== undefined && padSequence(f.lastSeq) <= padSequence(done)) {
        // Applied by an earlier run (its commit carried the binding's position up to f.lastSeq).
        skipped.push(...group);
        result.skipped += group.length;
        const prev = result.resume[shardId];
        if (prev === undefined || padSequence(f.lastSeq) > padSequence(prev))
          result.resume[shardId] = f.lastSeq;
        continue;
      }
      await o.beforeFragment?.();
      // A fragment overlapping skipped ones (a retried persist batch) is de-duplicated by the _meta/uuid
      // of those: read them back for their ids only (rare: only at such an overlap after a resume).
      for (const part of group) {
        if (!part.overlaps) continue;
        const first = padSequence(part.firstSeq);
        for (const s of skipped)
          if (s.partition === part.partition && padSequence(s.lastSeq) >= first)
            for (const d of await readFragment(o.blobs, s)) {
              const u = uuidOf(d);
              if (u !== undefined) uuids.add(u);
            }
      }
      skipped.length = 0;
      const docs: Json[] = [];
      for (const part of group) {
        const read = (await readFragment(o.blobs, part)).filter((d, i) => {
          const u = uuidOf(d);
          if (u === undefined) {
            if (part.overlaps) {
              throw new FragmentError(
                part.key,
                i + 1,
                'overlaps an earlier fragment and has no _meta/uuid to de-duplicate by',
              );
            }
            return true;
          }
          if (uuids.has(u)) return false;
          uuids.add(u);
          return true;
        });
        docs.push(...read);
      }
      const prev = result.resume[shardId];
      if (prev === undefined || padSequence(f.lastSeq) > padSequence(prev))
        result.resume[shardId] = f.lastSeq;
      if (docs.length === 0) continue;
      const data = packFrame(docs.map((d) => Buffer.from(JSON.stringify(d))));
      const record = { shardId, sequenceNumber: f.lastSeq, partitionKey: 'backfill', data, arrivalMs: 0 };
      // Positions as the persisted batch had them: the batch's last sequence number, documents by index.
      await o.onBatch(decodeRecords(o.collection, [record]));
      result.fragments += group.length;
      result.docs += docs.length;
    }
  }
  return result;
}
