/**
 * The contract between the materialize task (shared/materialize/) and a destination connector
 * (shared/connectors/materialize-*). The task combines each batch by key, loads current documents
 * (standard updates), fully reduces, and hands one transaction to the connector.
 *
 * Exactly once: `open` fences older instances of the same materialization and returns the checkpoint
 * last committed. `commit` stores the documents AND the new checkpoint atomically where the endpoint is
 * transactional (PostgreSQL); non-transactional endpoints (DynamoDB) make every write conditional on the
 * source position so that a replay changes nothing.
 */
import type { MaterializationSpec } from '../catalog/model.ts';
import { SluiceError } from '../errors.ts';
import type { Json } from '../json/types.ts';

/**
 * Position in a source journal: per shard, the last applied (sequence number, index inside the packed
 * record), encoded as `<sequence left-zero-padded to 128 digits>:<index padded to 6 digits>` so that
 * positions compare as strings.
 */
export type Checkpoint = Record<string, string>;

export interface StoreDoc {
  /** Values of the collection key, in key order. */
  key: Json[];
  /** The fully reduced document (standard updates) or the combined delta (delta updates). */
  doc: Json;
  /** A full reduction deleted the document: delete it (hard) or mark it (soft), per connector config. */
  deleted: boolean;
  /** Whether the document existed in the destination before (from `load`); undefined for delta updates. */
  exists?: boolean;
  /**
   * Non-transactional endpoints (connectors with `loadApplied`): the per-source positions folded into
   * `doc`, to store with the item, and the ones loaded with it (undefined: the item was absent). The
   * write must be conditional on the stored positions still being `expectedApplied`.
   */
  applied?: Checkpoint;
  expectedApplied?: Checkpoint;
}

/** An item loaded with the source positions already folded into it (non-transactional endpoints). */
export interface AppliedDoc {
  /** The current document; undefined when only a tombstone (a deleted document's positions) remains. */
  doc: Json | undefined;
  applied: Checkpoint;
}

export interface MaterializeTransaction {
  /** Per binding index (MaterializationSpec.bindings), the documents to store. */
  bindings: { binding: number; docs: StoreDoc[] }[];
  /** The source positions this transaction advances to (per source collection shard: `<collection>/<shardId>`). */
  checkpoint: Checkpoint;
  /**
   * Bindings to empty before this transaction's documents are stored (a re-backfill's first commit; only
   * asked of connectors with `reset`). Part of the transaction: a fenced-off instance's reset never happens.
   */
  reset?: number[];
}

export interface MaterializeConnector {
  /** Create or update destination resources (tables, columns) from the bindings' projections. Idempotent. */
  apply(): Promise<void>;
  /** Fence older instances (a stale invocation can no longer commit) and return the last committed checkpoint. */
  open(): Promise<{ checkpoint: Checkpoint }>;
  /** Standard updates: the current documents for these keys (absent keys are missing from the map). Map key: JSON.stringify(key). */
  load(binding: number, keys: Json[][]): Promise<Map<string, Json>>;
  /**
   * Optional, for non-transactional endpoints (DynamoDB): load documents with the per-source positions
   * stored beside them, so the task folds only documents not yet applied and writes conditionally.
   * When present, the task uses it instead of `load` and fills StoreDoc.applied / expectedApplied.
   */
  loadApplied?(binding: number, keys: Json[][]): Promise<Map<string, AppliedDoc>>;
  /**
   * Remove every document of a binding from the destination (TRUNCATE): a bumped `backfill` counter
   * rebuilds the binding from the collection's history, which must not be reduced onto what is there.
   * Its presence says the connector can: the task then asks for the reset in the first commit of the
   * re-backfill (`MaterializeTransaction.reset`), which the connector must apply inside that commit,
   * after its fence check (connectors with nothing to empty — append-only destinations — ignore it).
   * Connectors without it, whose standard-updates bindings cannot skip re-applied history
   * (no `loadApplied`), refuse a bumped counter.
   */
  reset?(binding: number): Promise<void>;
  /**
   * The checkpoint commits atomically with the documents and takes any value that increases as a string
   * (materialize-postgres): the task then also keeps, per source shard, the origin positions applied
   * (`<collection>/<shardId>#origins`), so documents re-published with the same origin — a replayed
   * derivation's outputs, a re-polled capture's rows — are applied once, as the keyed stores' `applied`
   * maps do for DynamoDB. Without it (materialize-s3, webhooks) only stream positions are skipped.
   */
  readonly originMarks?: boolean;
  /** Store the documents and the checkpoint, atomically where the endpoint allows; throws FencedError when fenced off. */
  commit(txn: MaterializeTransaction): Promise<void>;
  close(): Promise<void>;
}

export interface MaterializeConnectorContext {
  spec: MaterializationSpec;
  /** Resolve a secret value named in config (`env:NAME`, or on AWS a Secrets Manager / SSM reference). */
  secret?: (ref: string) => Promise<string>;
}

export class FencedError extends SluiceError {
  readonly code = 'Fenced';
  constructor(materialization: string, detail: string) {
    super(`materialization ${materialization} was fenced off by a newer instance: ${detail}`);
    this.name = 'FencedError';
  }
}
