/**
 * DerivationStateStore port: the state of a stateful derivation (a TypeScript module's connector state,
 * or a SQLite database as content-addressed pages), committed together with what it has read of each
 * input shard, in one conditional write of a small manifest (the commit point).
 *
 * Pages are written before the manifest that names them; a crash in between leaves unreferenced pages
 * (garbage, never read) and the previous manifest in force, so a replay recomputes from the state the
 * first attempt started from.
 */

import { SluiceError } from '../errors.ts';
import type { Json } from '../json/types.ts';
import type { OriginWatermarks } from './state.ts';

export interface DerivationCheckpoint {
  /** Increases by one per commit; 0 is "never committed". */
  version: number;
  /**
   * Per input shard (`<collection>/<shardId>`): `upTo` is the position of the last input record whose
   * effects (outputs and state) are committed; `marks` the origin watermarks (shared/derive/task.ts).
   */
  shards: Record<string, OriginWatermarks>;
  /** TypeScript derivations: the connector state (`startCommit` / `flush` state updates applied). */
  json?: Json;
  /** SQLite derivations: the database file as page hashes, in page order. */
  pages?: string[];
  /**
   * Instead of `json` and `pages` when they are large (shared/derive/task.ts STATE_INLINE_BYTES): the JSON
   * of `{json, pages}` cut into content-addressed chunks, stored as pages, in order. Keeps the manifest
   * item small (DynamoDB's item limit is 400 KB, and every commit rewrites the manifest).
   */
  body?: string[];
}

export interface DerivationStateStore {
  loadDerivationState(task: string): Promise<DerivationCheckpoint | undefined>;
  /** Pages by hash; a missing page is an error (the manifest names only written pages). */
  getPages(task: string, hashes: string[]): Promise<Map<string, Uint8Array>>;
  putPages(task: string, pages: Map<string, Uint8Array>): Promise<void>;
  /** Store `next` if the stored version is `expected` (0: none stored); else DerivationStateConflict. */
  commitDerivationState(task: string, next: DerivationCheckpoint, expected: number): Promise<void>;
  /** Best effort: pages no manifest names any more. */
  deletePages(task: string, hashes: string[]): Promise<void>;
}

export class DerivationStateConflict extends SluiceError {
  readonly code = 'DerivationStateConflict';
  constructor(
    readonly task: string,
    readonly expected: number,
  ) {
    super(
      `${task}: its state moved past version ${expected} during this invocation (another invocation committed); retrying from the newer state`,
    );
    this.name = 'DerivationStateConflict';
  }
}
