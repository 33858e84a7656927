/**
 * StateStore port: the fully reduced document per collection key (the collection's current view),
 * plus per-shard checkpoints of the tasks (DynamoDB on AWS).
 *
 * Exactly once over at-least-once delivery: every state item records, per source shard, the highest
 * source position folded into it (`applied`). A writer loads items, folds only documents whose position
 * is beyond `applied[shard]`, and writes conditionally on the `applied` it loaded. A redelivered batch
 * therefore changes nothing, and a zombie writer racing a newer one loses the condition.
 */
import type { Json } from '../json/types.ts';

export interface StateItem {
  /** The packed collection key (order-preserving bytes). */
  key: Buffer;
  /** The reduced document; undefined for a tombstone (deleted, kept so its `applied` still guards replays). */
  doc: Json | undefined;
  /** Per source shard id: the highest position (position.ts encoding) folded into `doc`. */
  applied: Record<string, string>;
}

export interface StateWrite {
  key: Buffer;
  /** The new fully reduced document, or `undefined` when a full reduction deleted it. */
  doc: Json | undefined;
  /** The `applied` map that was loaded (undefined: the item did not exist). The write is conditional on it. */
  expected: Record<string, string> | undefined;
  /** The new `applied` map to store. */
  applied: Record<string, string>;
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
}

export class StateError extends Error {
  readonly code: 'StateWriteFailed' | 'ItemTooLarge';
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
