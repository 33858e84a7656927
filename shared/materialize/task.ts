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
import type { KinesisStreamEvent } from 'aws-lambda';
import type { BuiltCatalog, CollectionSpec, MaterializationSpec } from '../catalog/model.ts';
import type { Json } from '../json/types.ts';
import { isObject } from '../json/types.ts';
import { type KeyExtractor, keyExtractor } from '../keys/extract.ts';
import { decodeEvent, foldKey, type SourceDoc } from '../ports/events.ts';
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
  readonly code: 'UnknownSource' | 'NotBound';
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
  async onEvent(collection: string, event: KinesisStreamEvent): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.applyEvent(collection, event);
      } catch (e) {
        if (!(e instanceof FencedError)) throw e;
        this.opened = false;
        this.stats.reopened++;
        if (attempt >= MAX_REOPEN) throw e;
      }
    }
  }

  private async applyEvent(collection: string, event: KinesisStreamEvent): Promise<void> {
    await this.open();
    const bound = this.bindings.filter((b) => b.collection.name === collection);
    if (bound.length === 0)
      throw new MaterializeTaskError('NotBound', this.spec.name, `no binding reads ${collection}`);
    const docs = decodeEvent(event, collection);
    if (docs.length === 0) return;
    this.stats.docsIn += docs.length;
    const shardKey = `${collection}/${docs[0].shardId}`;
    const committed = this.checkpoint[shardKey];
    const last = docs[docs.length - 1].streamPosition;
    const txn: { binding: number; docs: StoreDoc[] }[] = [];
    for (const b of bound) {
      const fresh =
        this.connector.loadApplied || committed === undefined
          ? docs
          : docs.filter((d) => d.streamPosition > committed);
      this.stats.docsSkipped += docs.length - fresh.length;
      txn.push({ binding: b.index, docs: await this.storeDocs(b, fresh) });
    }
    const checkpoint = { [shardKey]: committed !== undefined && committed > last ? committed : last };
    await this.connector.commit({ bindings: txn, checkpoint });
    this.checkpoint = { ...this.checkpoint, ...checkpoint };
  }

  private async storeDocs(b: BindingRuntime, docs: SourceDoc[]): Promise<StoreDoc[]> {
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
