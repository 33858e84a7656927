/**
 * The materialize task: one Kinesis event of a source collection (one shard's batch) → one
 * transaction into the destination, through the MaterializeConnector contract (every connector is
 * driven through it, none is special-cased here).
 *
 * Standard updates, exactly once over at-least-once delivery:
 * - connectors with `loadApplied` (non-transactional, DynamoDB): per key, load the item with the
 *   source positions already folded into it, fold only newer documents (foldKey), and write
 *   conditionally on the loaded positions. A redelivered batch, or documents re-published upstream
 *   (same origin), change nothing.
 * - transactional connectors (PostgreSQL): skip documents at or before the committed checkpoint of
 *   their shard, load current documents, fold, and commit data + checkpoint atomically.
 * Delta updates (`resource.delta_updates`): no load; one combined delta per key.
 */
import { readUpTo } from '../backfill/catch-up.ts';
import { runBackfill } from '../backfill/fragments.ts';
import type {
  BuiltCatalog,
  CollectionSpec,
  MaterializationSpec,
  PartitionSelector,
} from '../catalog/model.ts';
import { matchesPartitions } from '../catalog/partitions.ts';
import type { Json } from '../json/types.ts';
import { isObject } from '../json/types.ts';
import { type KeyExtractor, keyExtractor } from '../keys/extract.ts';
import type { BlobStore } from '../ports/blob.ts';
import { type DocBatch, decodeRecords, foldKey, type SourceDoc } from '../ports/events.ts';
import type { Journal } from '../ports/journal.ts';
import { decodePosition } from '../ports/position.ts';
import { Reducer } from '../reduce/index.ts';
import type { SchemaRegistry } from '../schema/registry.ts';
import { type Checkpoint, FencedError, type MaterializeConnector, type StoreDoc } from './connector.ts';

/** Re-opens after a FencedError before the error is handed to the caller. */
const MAX_REOPEN = 2;

interface BindingRuntime {
  index: number;
  collection: CollectionSpec;
  extractor: KeyExtractor;
  reducer: Reducer;
  delta: boolean;
  /** Stable identity: source collection and resource (binding indexes shift when bindings are added). */
  id: string;
  backfill: number;
  /** Only documents of these logical partitions are materialized. */
  partitions?: PartitionSelector;
  /**
   * The binding keeps its own positions (`<collection>/<shard>#<id>@<backfill>`) because it was
   * backfilled: its history came from fragments and the journal, not with the other bindings' events.
   */
  tracked: boolean;
}

/** Where a collection's history is: its S3 fragments, then its journal (the backfill's inputs). */
export interface HistorySource {
  /** The collection's fragments: their bucket and folder (`…/<collection>/`). */
  fragments(collection: string): { blobs: BlobStore; folder: string };
  journal: Journal;
}

const BACKFILL = 'backfill:';
const pad = (n: number) => String(n).padStart(10, '0');
function canonicalJson(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isObject(v))
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k] as Json)}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

export interface MaterializeStats {
  docsIn: number;
  docsSkipped: number;
  keysStored: number;
  deletes: number;
  /** Times this instance was fenced off by a newer one and re-opened (re-reading the checkpoint). */
  reopened: number;
}

export class MaterializeTaskError extends Error {
  readonly code: 'UnknownSource' | 'NotBound' | 'CannotRebackfill';
  constructor(
    code: MaterializeTaskError['code'],
    readonly materialization: string,
    message: string,
  ) {
    super(`materialization ${materialization}: ${message}`);
    this.name = 'MaterializeTaskError';
    this.code = code;
  }
}

export class MaterializeTask {
  private checkpoint: Checkpoint = {};
  private opened = false;
  private applied = false;
  private readonly bindings: BindingRuntime[];
  readonly stats: MaterializeStats = { docsIn: 0, docsSkipped: 0, keysStored: 0, deletes: 0, reopened: 0 };

  constructor(
    readonly spec: MaterializationSpec,
    catalog: BuiltCatalog,
    registry: SchemaRegistry,
    private readonly connector: MaterializeConnector,
    /** When given, bindings without history (new, or a bumped `backfill` counter) are backfilled at open(). */
    private readonly history?: HistorySource,
  ) {
    this.bindings = spec.bindings
      .map((b, index) => ({ b, index }))
      .filter(({ b }) => !b.disable)
      .map(({ b, index }) => {
        const collection = catalog.collections[b.source.name];
        if (!collection)
          throw new MaterializeTaskError(
            'UnknownSource',
            spec.name,
            `binding ${index} reads unknown ${b.source.name}`,
          );
        return {
          index,
          collection,
          extractor: keyExtractor(collection.key),
          reducer: new Reducer(registry, collection.readSchema),
          delta: isObject(b.resource) && b.resource.delta_updates === true,
          id: `${b.source.name}#${canonicalJson(b.resource)}`,
          backfill: b.backfill ?? 0,
          partitions: b.source.partitions,
          tracked: false,
        };
      });
  }

  /** Apply destination resources and fence older instances; once per cold start (and again after being fenced). */
  async open(): Promise<void> {
    if (this.opened) return;
    if (!this.applied) {
      await this.connector.apply();
      this.applied = true;
    }
    this.checkpoint = (await this.connector.open()).checkpoint;
    this.opened = true;
    for (const b of this.bindings) {
      const suffix = `#${b.id}@${b.backfill}`;
      b.tracked = Object.keys(this.checkpoint).some(
        (k) => k.startsWith(`${b.collection.name}/`) && k.endsWith(suffix),
      );
    }
    if (this.history) await this.backfill(this.history);
  }

  /** Backfill stats: fragments and documents read from S3, records caught up from the journal. */
  readonly backfills: { binding: number; fragments: number; docs: number; journalRecords: number }[] = [];

  private ownKey(b: BindingRuntime, shardId: string): string {
    return `${b.collection.name}/${shardId}#${b.id}@${b.backfill}`;
  }

  /**
   * Backfill every binding whose marker (`backfill:<id>` in the checkpoint) is not its `backfill` counter:
   * its collection's fragments, then the journal from where they end up to the committed position of the
   * materialization's other bindings, go to that binding only (its own positions, committed with its data,
   * make a crash mid-backfill resume); then the marker is committed. Checkpoints written before markers
   * existed (positions, no marker at all) are adopted as is for counter 0.
   */
  private async backfill(h: HistorySource): Promise<void> {
    const anyMarker = Object.keys(this.checkpoint).some((k) => k.startsWith(BACKFILL));
    const adopt: Checkpoint = {};
    for (const b of this.bindings) {
      const marker = `${BACKFILL}${b.id}`;
      if (this.checkpoint[marker] === pad(b.backfill)) continue;
      const c = b.collection.name;
      const hasPositions = Object.keys(this.checkpoint).some(
        (k) => k.startsWith(`${c}/`) && !k.includes('#'),
      );
      if (!anyMarker && b.backfill === 0 && hasPositions) {
        adopt[marker] = pad(b.backfill);
        continue;
      }
      if (this.checkpoint[marker] !== undefined) await this.resetForRebackfill(b);
      b.tracked = true;
      const { blobs, folder } = h.fragments(c);
      const stat = { binding: b.index, fragments: 0, docs: 0, journalRecords: 0 };
      const res = await runBackfill({
        blobs,
        folder,
        collection: c,
        onBatch: (batch) => this.applyBatch(batch, b),
      });
      stat.fragments = res.fragments;
      stat.docs = res.docs;
      // Catch up from the journal: records the other bindings already committed (the mapping will not
      // deliver them again) but the fragments do not hold yet.
      for (const shard of await h.journal.listShards(c)) {
        const shared = this.checkpoint[`${c}/${shard.shardId}`];
        if (shared === undefined) continue;
        const until = decodePosition(shared).sequenceNumber;
        const own = this.checkpoint[this.ownKey(b, shard.shardId)];
        const after = own === undefined ? undefined : decodePosition(own).sequenceNumber;
        stat.journalRecords += await readUpTo(h.journal, c, shard.shardId, after, until, (records) =>
          this.applyBatch(decodeRecords(c, records), b),
        );
      }
      await this.connector.commit({ bindings: [], checkpoint: { [marker]: pad(b.backfill) } });
      this.checkpoint[marker] = pad(b.backfill);
      this.backfills.push(stat);
    }
    if (Object.keys(adopt).length > 0) {
      await this.connector.commit({ bindings: [], checkpoint: adopt });
      Object.assign(this.checkpoint, adopt);
    }
  }

  /**
   * A bumped `backfill` counter rebuilds the binding from history: empty the destination first, unless
   * an earlier attempt at this counter already started (its own positions exist) and emptied it.
   */
  private async resetForRebackfill(b: BindingRuntime): Promise<void> {
    const suffix = `#${b.id}@${b.backfill}`;
    const started = Object.keys(this.checkpoint).some(
      (k) => k.startsWith(`${b.collection.name}/`) && k.endsWith(suffix),
    );
    if (started) return;
    if (this.connector.reset) await this.connector.reset(b.index);
    else if (!b.delta && !this.connector.loadApplied) {
      throw new MaterializeTaskError(
        'CannotRebackfill',
        this.spec.name,
        `binding ${b.index} (${b.collection.name}): its backfill counter was bumped to ${b.backfill}, but the connector cannot empty the destination, and reducing the history onto the current documents would apply it twice`,
      );
    }
  }

  /** The collections this materialization reads. */
  get sources(): string[] {
    return [...new Set(this.bindings.map((b) => b.collection.name))];
  }

  /**
   * Apply one event. When a newer instance fenced this one off (FencedError), the stale view is dropped:
   * re-open (re-reading the committed checkpoint, so what the newer instance committed is skipped) and
   * retry, at most `MAX_REOPEN` times; then the error goes to the caller (the mapping redelivers).
   */
  async onBatch(batch: DocBatch): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.applyBatch(batch);
      } catch (e) {
        if (!(e instanceof FencedError)) throw e;
        this.opened = false;
        this.stats.reopened++;
        if (attempt >= MAX_REOPEN) throw e;
      }
    }
  }

  /** Apply a batch to every binding of its collection, or (backfill) to `only` that binding. */
  private async applyBatch(batch: DocBatch, only?: BindingRuntime): Promise<void> {
    const collection = batch.collection;
    if (!only) await this.open();
    const bound = only ? [only] : this.bindings.filter((b) => b.collection.name === collection);
    if (bound.length === 0)
      throw new MaterializeTaskError('NotBound', this.spec.name, `no binding reads ${collection}`);
    const docs = batch.docs;
    if (docs.length === 0) return;
    this.stats.docsIn += docs.length;
    const shardKey = `${collection}/${docs[0].shardId}`;
    const committed = this.checkpoint[shardKey];
    const last = docs[docs.length - 1].streamPosition;
    const txn: { binding: number; docs: StoreDoc[] }[] = [];
    const checkpoint: Checkpoint = {};
    for (const b of bound) {
      // A backfilled binding skips by its own positions (non-transactional connectors too: its history
      // was applied through them); the others by the shard's shared position.
      const own = b.tracked ? this.checkpoint[this.ownKey(b, docs[0].shardId)] : undefined;
      const from = b.tracked ? own : this.connector.loadApplied ? undefined : committed;
      const fresh = from === undefined ? docs : docs.filter((d) => d.streamPosition > from);
      this.stats.docsSkipped += docs.length - fresh.length;
      txn.push({ binding: b.index, docs: await this.storeDocs(b, fresh) });
      if (b.tracked)
        checkpoint[this.ownKey(b, docs[0].shardId)] = own !== undefined && own > last ? own : last;
    }
    if (!only) checkpoint[shardKey] = committed !== undefined && committed > last ? committed : last;
    await this.connector.commit({ bindings: txn, checkpoint });
    this.checkpoint = { ...this.checkpoint, ...checkpoint };
  }

  private async storeDocs(b: BindingRuntime, all: SourceDoc[]): Promise<StoreDoc[]> {
    const sel = b.partitions;
    const docs = sel ? all.filter((d) => matchesPartitions(b.collection, sel, d.doc)) : all;
    const groups = new Map<string, { key: Json[]; docs: SourceDoc[] }>();
    for (const d of docs) {
      const k = b.extractor.packBinary(d.doc);
      const g = groups.get(k);
      if (g) g.docs.push(d);
      else groups.set(k, { key: b.extractor.extract(d.doc) as Json[], docs: [d] });
    }
    const entries = [...groups.values()];
    const reduce = (lhs: Json | undefined, rhs: Json) => b.reducer.reduce(lhs, rhs, true);
    const out: StoreDoc[] = [];
    if (b.delta) {
      for (const g of entries) {
        let doc: Json | undefined;
        for (const d of g.docs) doc = b.reducer.reduce(doc, d.doc, false);
        if (doc !== undefined) out.push({ key: g.key, doc, deleted: false });
      }
    } else if (this.connector.loadApplied) {
      const loaded = await this.connector.loadApplied(
        b.index,
        entries.map((g) => g.key),
      );
      for (const g of entries) {
        const cur = loaded.get(JSON.stringify(g.key));
        const r = foldKey(cur, g.docs, reduce);
        if (r.folded === 0) {
          this.stats.docsSkipped += g.docs.length;
          continue;
        }
        out.push({
          key: g.key,
          doc: r.doc ?? g.docs[g.docs.length - 1].doc,
          deleted: r.doc === undefined,
          exists: cur?.doc !== undefined,
          applied: r.applied,
          expectedApplied: cur?.applied,
        });
      }
    } else {
      const loaded = await this.connector.load(
        b.index,
        entries.map((g) => g.key),
      );
      for (const g of entries) {
        const cur = loaded.get(JSON.stringify(g.key));
        let doc = cur;
        for (const d of g.docs) doc = reduce(doc, d.doc);
        out.push({
          key: g.key,
          doc: doc ?? g.docs[g.docs.length - 1].doc,
          deleted: doc === undefined,
          exists: cur !== undefined,
        });
      }
    }
    this.stats.keysStored += out.length;
    this.stats.deletes += out.filter((d) => d.deleted).length;
    return out;
  }

  async close(): Promise<void> {
    await this.connector.close();
  }
}
