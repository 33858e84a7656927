/**
 * What runs a derivation's transforms behind DerivationRunner: a TypeScript module instance
 * (typescript-engine.ts) or a SQLite database (sqlite/engine.ts). The runner validates what an engine
 * publishes; the derive task commits what `startCommit` returns with its input checkpoint.
 */
import type { TransformSpec } from '../catalog/model.ts';
import { isObject, type Json } from '../json/types.ts';

/** State a derivation commits with its checkpoint and is opened with again. */
export type DerivationState = { kind: 'json'; json: Json } | { kind: 'sqlite'; image: Uint8Array };

export interface DerivationEngine {
  /** Check that every transform is implemented (a missing method, a lambda that does not prepare). */
  check(transforms: TransformSpec[]): void;
  /** Run a transform's lambda over one source document; returns what it returned (an array of documents). */
  read(transform: TransformSpec, doc: Json): Promise<unknown>;
  /** End of a transaction: further documents to publish. */
  flush(): Promise<unknown>;
  /** The state to commit with this transaction's checkpoint; undefined when the derivation keeps none. */
  startCommit(): Promise<DerivationState | undefined>;
  /** Start over from committed state (undefined: as never run). */
  open(state: DerivationState | undefined): Promise<void>;
  /** Forget all state (between catalog test cases). */
  reset(): Promise<void>;
}

/**
 * RFC 7396 JSON Merge Patch, as Estuary applies a connector state update with `mergePatch: true`:
 * objects merge recursively, `null` deletes, anything else replaces.
 */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Apply Estuary's `{updated, mergePatch}` connector-state update to the current state. */
export function applyStateUpdate(current: Json, update: unknown): Json {
  if (!isObject(update as Json) || !('updated' in (update as object))) return current;
  const { updated, mergePatch: merge } = update as { updated: Json; mergePatch?: boolean };
  return merge ? mergePatch(current, updated) : structuredClone(updated);
}
