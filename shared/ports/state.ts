/**
 * StateStore port: the fully reduced document per collection key (the collection's current view),
 * plus per-shard checkpoints of the tasks (DynamoDB on AWS).
 *
 * Exactly once over at-least-once delivery: every state item records, per source shard, the highest
 * source position folded into it (`applied`). A writer loads items, folds only documents whose position
 * is beyond `applied[shard]`, and writes conditionally on the `applied` it loaded. A redelivered batch
 * therefore changes nothing, and a zombie writer racing a newer one loses the condition.
 */

import { SluiceError } from '../errors.ts';
import type { Json } from '../json/types.ts';
import { isRedriveSource } from './parking.ts';

export interface StateItem {
  /** The packed collection key (order-preserving bytes). */
  key: Buffer;
  /** The reduced document; undefined for a tombstone (deleted, kept so its `applied` still guards replays). */
  doc: Json | undefined;
  /** Per source shard id: the highest position (position.ts encoding) folded into `doc`. */
  applied: Record<string, string>;
  /**
   * Per source of `applied`: when (epoch seconds) its position last moved. Kept only by a store that
   * prunes (see {@link pruneApplied}); absent otherwise and on items written before.
   */
  appliedAt?: Record<string, number>;
}

export interface StateWrite {
  key: Buffer;
  /** The new fully reduced document, or `undefined` when a full reduction deleted it. */
  doc: Json | undefined;
  /** The `applied` map that was loaded (undefined: the item did not exist). The write is conditional on it. */
  expected: Record<string, string> | undefined;
  /** The new `applied` map to store. */
  applied: Record<string, string>;
  /** The loaded item's `appliedAt`, when it had one: the times of the entries this write leaves as they were. */
  appliedAt?: Record<string, number>;
}

export interface StateWriteResult {
  written: number;
  /** Keys (hex of the packed key) whose condition failed: a concurrent or earlier writer got there first. */
  conflicts: string[];
}

export interface StateStore {
  /** Load items of a collection by packed key; absent keys are missing from the map (map key: hex). */
  load(collection: string, keys: Buffer[]): Promise<Map<string, StateItem>>;
  /** Conditional writes, one per key. */
  write(collection: string, writes: StateWrite[]): Promise<StateWriteResult>;
  /** Every live (non-tombstone) item of a collection, in packed-key order. */
  scan(collection: string): AsyncIterable<StateItem>;
  /** Last committed checkpoint of a task on a shard (position.ts encoding), if any. */
  getCheckpoint(task: string, shardId: string): Promise<string | undefined>;
  /** Store a checkpoint; never moves backwards (a stale writer's older checkpoint is ignored). */
  putCheckpoint(task: string, shardId: string, position: string): Promise<void>;
  /** A derive task's origin watermarks on one input shard (see {@link OriginWatermarks}), if any. */
  getWatermarks(task: string, shard: string): Promise<OriginWatermarks | undefined>;
  /** Store origin watermarks; never moves backwards (ignored unless `upTo` is beyond the stored one). */
  putWatermarks(task: string, shard: string, marks: OriginWatermarks): Promise<void>;
}

/**
 * What a derive task has processed of one input shard (`<collection>/<shardId>`), for dropping documents
 * a replayed upstream derivation re-published: per origin source (ports/position.ts `parseOrigin`), the
 * highest origin position processed. `upTo` is the input position (position.ts encoding) of the last
 * record of the batch that produced these marks: it orders writes, so a stale writer cannot regress them.
 */
export interface OriginWatermarks {
  upTo: string;
  marks: Record<string, string>;
  /**
   * When each mark last moved (epoch seconds). Captures make an origin source per S3 object or ingest
   * request id, so marks would grow without end: a mark that has not moved for longer than any replay
   * can reach it is dropped (expireMarks). Marks written before this existed have none: stamped on load.
   */
  at?: Record<string, number>;
}

/** Move the mark of `source` to `position`, now. */
export function moveMark(w: OriginWatermarks, source: string, position: string, nowSeconds: number): void {
  w.marks[source] = position;
  if (!w.at) w.at = {};
  w.at[source] = nowSeconds;
}

/**
 * Drop the marks of `w` that have not moved for `horizonSeconds` (none when undefined), and stamp those
 * without a time with `nowSeconds`. Safe because a document can only come again while some stream holds
 * it (infra: the sources' replay window plus a day): an older source's copies can no longer arrive.
 * Redrive sources are kept, as pruneApplied keeps them.
 */
export function expireMarks(
  w: OriginWatermarks,
  nowSeconds: number,
  horizonSeconds: number | undefined,
): void {
  // The same rule as the keyed stores' `applied` maps: unknown times are stamped now, stale entries
  // (never a redrive source's) dropped.
  const at = stampApplied(w.marks, w.marks, w.at, nowSeconds);
  if (horizonSeconds === undefined) {
    w.at = at;
    return;
  }
  const kept = pruneApplied(w.marks, at, nowSeconds, horizonSeconds);
  w.marks = kept.applied;
  w.at = kept.at;
}

/**
 * The origin watermarks an input shard born of a reshard starts from, given its parents' (Kinesis
 * lineage: a split's one parent, a merge's two), so that a replayed upstream derivation's copies landing
 * in the child are still known as copies (shared/derive/task.ts). `undefined` when there is nothing to
 * inherit.
 *
 * Why it is safe (nothing new is taken for a copy): the mapping reads a child only after its parents are
 * fully processed, so their marks are final; an upstream task appends one source's outputs in origin
 * order, each shard's records in order (adapters/kinesis.ts: one in flight per shard, a record that lands
 * in another shard than it was packed for is void and sent again), so every document of a source whose
 * key is in a parent's hash range, up to the parent's mark, did land in that parent and was processed.
 * - split: the child's hash range lies inside its parent's: the parent's marks.
 * - merge: a document in the child belongs to either parent's range, so only what is below both parents'
 *   marks is known: per source, the lower of the two, and nothing for a source only one parent saw (the
 *   derive task decides a document between the two by its key's parent: task.ts seenByParent).
 */
export function inheritMarks(parents: (OriginWatermarks | undefined)[]): OriginWatermarks | undefined {
  if (parents.length === 0 || parents.some((p) => p === undefined)) return undefined;
  const ps = parents as OriginWatermarks[];
  const marks: Record<string, string> = {};
  const at: Record<string, number> = {};
  for (const source of Object.keys(ps[0].marks)) {
    if (ps.some((p) => p.marks[source] === undefined)) continue;
    let low = ps[0];
    for (const p of ps) if (p.marks[source] < low.marks[source]) low = p;
    marks[source] = low.marks[source];
    const t = low.at?.[source];
    if (t !== undefined) at[source] = t;
  }
  if (Object.keys(marks).length === 0) return undefined;
  return { upTo: '', marks, at };
}

/**
 * When each source of a new `applied` map last moved: an entry whose position is what was loaded keeps
 * its loaded time; a new or advanced entry (or one whose time is unknown: an item written before times
 * were kept) is stamped `now`. Unknown times err towards keeping an entry longer, never shorter.
 */
export function stampApplied(
  applied: Record<string, string>,
  loaded: Record<string, string> | undefined,
  loadedAt: Record<string, number> | undefined,
  now: number,
): Record<string, number> {
  const at: Record<string, number> = {};
  for (const [source, pos] of Object.entries(applied)) {
    const before = loadedAt?.[source];
    at[source] = loaded?.[source] === pos && before !== undefined ? before : now;
  }
  return at;
}

/**
 * Drop the `applied` entries that no redelivery can reach any more, so the maps do not grow with every
 * source shard a key has ever seen (shards are split and merged; each child is a new source).
 *
 * An entry guards against a redelivery of a document at or below its position. Its position last moved
 * when such a document was folded; documents of one key are folded in stream order, so every document it
 * guards was appended to the stream before that moment, and Kinesis (the mapping's retries, a bisect, a
 * halted shard resuming) redelivers nothing older than the stream's retention. `horizonSeconds` is set
 * longer than every way a document can come again (infra, SLUICE_APPLIED_HORIZON_SECONDS: a persister's
 * stream retention, plus its sources' for a derived collection — a derivation starting over re-publishes
 * what they hold with the same origins — + 1 day; a materialization re-backfills from fragments, so only
 * when its sources' fragments expire, after that + their retention + 1 day), so an entry that has not
 * moved for longer guards nothing. Redrive sources (ports/parking.ts) are kept: a parked document can be
 * redriven at any time, and their entry is what makes a repeated redrive change nothing; there are
 * only as many of them as shards that ever parked a document.
 */
export function pruneApplied(
  applied: Record<string, string>,
  at: Record<string, number>,
  now: number,
  horizonSeconds: number,
): { applied: Record<string, string>; at: Record<string, number>; pruned: string[] } {
  const keep: Record<string, string> = {};
  const keepAt: Record<string, number> = {};
  const pruned: string[] = [];
  for (const [source, pos] of Object.entries(applied)) {
    const t = at[source] ?? now;
    if (!isRedriveSource(source) && now - t > horizonSeconds) {
      pruned.push(source);
      continue;
    }
    keep[source] = pos;
    keepAt[source] = t;
  }
  return { applied: keep, at: keepAt, pruned };
}

export class StateError extends SluiceError {
  readonly code: 'StateWriteFailed' | 'ItemTooLarge' | 'SpillUnreadable';
  constructor(
    code: StateError['code'],
    readonly collection: string,
    readonly keyHex: string,
    message: string,
  ) {
    super(`state of ${collection} key ${keyHex}: ${message}`);
    this.name = 'StateError';
    this.code = code;
  }
}
