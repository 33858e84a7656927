/**
 * The derive task (glue between the event-source mapping and DerivationRunner; the runner itself is in
 * runner.ts): one Kinesis event of a source collection → every transform reading that collection runs
 * over its documents in order → output documents (validated by the runner) get a deterministic
 * `_meta/uuid` and an origin (source shard + source position + transform + output index), and are
 * appended to the derived collection's journal, routed by their key.
 *
 * A replayed source batch (crash after the append, before the checkpoint) publishes the same documents
 * with the same uuids and origins again; consumers that keep per-key state drop them (ports/events.ts
 * foldKey), so reductions such as sums do not double-count.
 *
 * A derivation reading a derived collection would derive those re-published copies again, with new
 * origins (their own new stream positions), so stores further down would count them twice. So the task
 * drops input documents it has already processed, by their origin: per (task, input shard, origin
 * source) a watermark holds the highest origin position processed, and a document at or below it is
 * skipped. This relies on the origins of one origin source increasing within one input shard:
 * - the upstream task processes each of its input shards sequentially (ParallelizationFactor 1: the local
 *   event-source mapping, and infra/sluice-catalog.ts, which refuses a higher factor for derivations),
 *   and appends its outputs in processing order; an output's position is its source document's position,
 *   then the rank of the transform in processing order (priority order, not catalog order), then the
 *   output index, so that order is also origin order;
 * - a key routes to one shard, and the journal keeps a shard's records in order across retries
 *   (adapters/kinesis.ts: one record per shard in flight);
 * so a re-published copy arrives after its original with an origin <= the watermark. Captured documents
 * carry origins too (a source row, object line or request id: a re-poll's copies are skipped the same
 * way); documents without one (a capture binding that cannot have one) are never skipped; `flush()`
 * outputs get one after the batch's last input. Watermarks expire once no replay can reach them (ports/state.ts expireMarks). They are stored (StateStore
 * `putWatermarks`) after the outputs are appended and before the mapping checkpoints: a crash before
 * they are stored re-derives the same outputs with the same origins (dropped downstream, again by origin);
 * a crash after skips everything on replay. After a reshard of an input stream, a child shard's
 * watermarks start from its parents' (ports/state.ts inheritMarks; a merge child's documents between its
 * parents' marks are decided by their key's parent, seenByParent): a copy re-published by an upstream
 * task replaying across the reshard lands in the child, and without them would be derived again.
 */
import type { BuiltCatalog, CollectionSpec, TransformSpec } from '../catalog/model.ts';
import { sourceFilter } from '../catalog/partitions.ts';
import { SluiceError } from '../errors.ts';
import { isObject, type Json } from '../json/types.ts';
import { type Router, routerOf } from '../keys/route.ts';
import { metaUuid } from '../meta/uuid.ts';
import {
  type DerivationCheckpoint,
  DerivationStateConflict,
  type DerivationStateStore,
} from '../ports/derivation-state.ts';
import type { SourceDoc as DecodedDoc, DocBatch } from '../ports/events.ts';
import { type AppendDoc, type Journal, JournalError } from '../ports/journal.ts';
import { type MarksOf, ShardLineage, seenByParent } from '../ports/lineage.ts';
import { formatOrigin } from '../ports/position.ts';
import { expireMarks, moveMark, type OriginWatermarks, type StateStore } from '../ports/state.ts';
import { stateTaskId } from '../ports/state-partitions.ts';
import { DerivationError, describe } from './errors.ts';
import { fromPages, toChunks, toPages } from './pages.ts';
import type { DerivationRunner } from './runner.ts';

/**
 * The mark, in a stateless derivation's watermarks of an input shard, of the last document without an
 * origin that was parked there (skipParked): such documents at or below it are skipped. Not an origin
 * source: those are names, which never start with `#`.
 */
const PARKED_MARK = '#parked';

/** A state whose `{json, pages}` JSON is larger than this goes to chunks (DerivationCheckpoint.body). */
export const STATE_INLINE_BYTES = 32 * 1024;
/** Chunk size of such a state: a change rewrites the chunks it falls in (16 write units each on DynamoDB). */
export const STATE_CHUNK_BYTES = 16 * 1024;

/** A committed state as the manifest names it, its body (if any) read. */
interface CommittedState {
  json?: Json;
  pages?: string[];
  body?: string[];
}

export class DeriveTaskError extends SluiceError {
  readonly code = 'NotASource';
  constructor(
    readonly derivation: string,
    readonly collection: string,
  ) {
    super(`derivation ${derivation} has no transform reading ${collection}`);
    this.name = 'DeriveTaskError';
  }
}

export interface DeriveTaskOptions {
  /**
   * Where the origin watermarks live (the state table; its partition `c#derivation:<derived collection>`,
   * the only state a derivation's role may touch).
   * Undefined: no input document is ever skipped (a chain replayed after a crash can double-count).
   */
  watermarks?: Pick<StateStore, 'getWatermarks' | 'putWatermarks'>;
  /** Where a stateful derivation's state commits (the state table, partition `c#derivation:<derived collection>`). */
  derivationState?: DerivationStateStore;
  /**
   * Origin watermarks that have not moved for this long are dropped (SLUICE_APPLIED_HORIZON_SECONDS: the
   * sources' replay window and a day, set by infra). Undefined: kept for ever.
   */
  marksHorizonSeconds?: number;
  /** Clock of the marks' times (tests). */
  now?: () => number;
}

export class DeriveTask {
  /** Where an output goes in the derived collection's journal. */
  private readonly router: Router;
  private readonly sourceSpecs = new Map<string, CollectionSpec>();
  /** Per transform, which documents of its source it reads (sourceFilter); undefined: every one. */
  private readonly reads = new Map<TransformSpec, ((doc: Json, fallbackMs: number) => boolean) | undefined>();
  /** docsSkipped: input documents dropped as already processed (re-published copies). */
  readonly stats = { docsIn: 0, docsOut: 0, docsSkipped: 0, commits: 0, pagesWritten: 0 };
  /** The committed state version the runner holds (stateful derivations); -1: unknown, restore. */
  private openedVersion = 0;
  /** What that version's manifest holds, its `body` read: the base of the next commit. */
  private committed: CommittedState = {};
  /**
   * A stateless derivation's batch failed: its instance may hold what that attempt's transforms
   * accumulated for `flush()` (Estuary's per-transaction aggregates), which the retry would publish
   * again beside its own. Estuary restarts the connector after a failed transaction; so does the next
   * batch here (a new instance), rather than keep the failed attempt's leftovers.
   */
  private reopen = false;
  /** Its id in the state store (`derivation:<name>`): its watermarks' partition. */
  readonly stateTask: string;
  /** The input streams' lineage (Kinesis ListShards, which the event-source mapping's read grant includes). */
  private readonly lineage: ShardLineage;
  /** Parents' stored watermarks, by `<collection>/<shardId>`: final, a child is read after its parents. */
  private readonly parentMarks = new Map<string, Promise<OriginWatermarks | undefined>>();
  /** Hash keys of input documents (as their journal routed them), by collection. */
  private readonly routers = new Map<string, Router>();

  constructor(
    readonly collection: CollectionSpec,
    private readonly runner: DerivationRunner,
    private readonly journal: Journal,
    catalog: BuiltCatalog,
    private readonly opts: DeriveTaskOptions = {},
  ) {
    this.router = routerOf(collection);
    this.stateTask = stateTaskId('derivation', collection.name);
    this.lineage = new ShardLineage(journal);
    for (const name of new Set((collection.derive?.transforms ?? []).map((t) => t.source.name))) {
      const spec = catalog.collections[name];
      if (spec) this.sourceSpecs.set(name, spec);
    }
    for (const t of collection.derive?.transforms ?? []) {
      const spec = this.sourceSpecs.get(t.source.name);
      if (spec) this.reads.set(t, sourceFilter(spec, t.source));
    }
  }

  static sources(catalog: BuiltCatalog, derivation: string): string[] {
    const c = catalog.collections[derivation];
    return [...new Set((c?.derive?.transforms ?? []).filter((t) => !t.disable).map((t) => t.source.name))];
  }

  private transformsOf(collection: string): { t: TransformSpec; i: number }[] {
    return (this.collection.derive?.transforms ?? [])
      .map((t, i) => ({ t, i }))
      .filter(({ t }) => !t.disable && t.source.name === collection)
      .sort((a, b) => b.t.priority - a.t.priority || a.i - b.i); // higher priority first, then catalog order
  }

  async onBatch(batch: DocBatch): Promise<number> {
    const sourceCollection = batch.collection;
    const transforms = this.transformsOf(sourceCollection);
    if (transforms.length === 0) throw new DeriveTaskError(this.collection.name, sourceCollection);
    const docs = batch.docs;
    this.stats.docsIn += docs.length;
    if (this.runner.stateful) {
      if (!this.opts.derivationState)
        throw new Error(`derivation ${this.collection.name} keeps state: it needs a derivation state store`);
      return this.onStatefulBatch(sourceCollection, docs, transforms, this.opts.derivationState);
    }
    if (this.reopen) {
      await this.runner.open(undefined);
      this.reopen = false;
    }
    try {
      return await this.onStatelessBatch(sourceCollection, docs, transforms);
    } catch (err) {
      this.reopen = true;
      throw err;
    }
  }

  private async onStatelessBatch(
    sourceCollection: string,
    docs: DecodedDoc[],
    transforms: { t: TransformSpec; i: number }[],
  ): Promise<number> {
    // Origin watermarks of each input shard of the event (the mapping delivers one shard per event).
    const store = this.opts.watermarks;
    const marks = new Map<string, { loaded: OriginWatermarks | undefined; next: OriginWatermarks }>();
    if (store) {
      for (const d of docs) {
        const shard = `${sourceCollection}/${d.shardId}`;
        let m = marks.get(shard);
        if (!m) {
          const loaded = await store.getWatermarks(this.stateTask, shard);
          // A shard without marks yet may be a child of a reshard: it starts from its parents' marks.
          const from =
            loaded ??
            (docs.some((x) => x.hasOrigin)
              ? await this.inheritedStored(store, sourceCollection, d.shardId)
              : undefined);
          m = {
            loaded,
            next: { upTo: loaded?.upTo ?? '', marks: { ...from?.marks }, at: { ...from?.at } },
          };
          expireMarks(m.next, this.nowSeconds(), this.opts.marksHorizonSeconds);
          marks.set(shard, m);
        }
        if (d.streamPosition > m.next.upTo) m.next.upTo = d.streamPosition;
      }
    }
    const out: AppendDoc[] = [];
    const storedMarks = (p: string) => this.storedParentMarks(store!, `${sourceCollection}/${p}`);
    for (const d of docs) {
      if (store && !d.hasOrigin) {
        // Parked (skipParked): handled, its redrive applies it.
        const parked = marks.get(`${sourceCollection}/${d.shardId}`)!.next.marks[PARKED_MARK];
        if (parked !== undefined && d.streamPosition <= parked) {
          this.stats.docsSkipped++;
          continue;
        }
      }
      if (store && d.hasOrigin) {
        const w = marks.get(`${sourceCollection}/${d.shardId}`)!.next;
        const seen = w.marks[d.source];
        if (
          (seen !== undefined && d.position <= seen) ||
          (await this.seenByParent(sourceCollection, d, storedMarks))
        ) {
          this.stats.docsSkipped++;
          continue;
        }
        moveMark(w, d.source, d.position, this.nowSeconds());
      }
      await this.derive(sourceCollection, d, transforms, out);
    }
    const last = docs.at(-1);
    if (last) await this.publishFlushed(sourceCollection, last, out);
    if (out.length > 0) await this.append(out);
    // After the append, before the mapping checkpoints (which happens when this returns).
    for (const [shard, m] of marks) {
      if (m.loaded && !changed(m.loaded.marks, m.next.marks) && m.loaded.at !== undefined) continue;
      if (!m.loaded && Object.keys(m.next.marks).length === 0) continue;
      await store!.putWatermarks(this.stateTask, shard, m.next);
    }
    this.stats.docsOut += out.length;
    return out.length;
  }

  /** A parent shard's watermarks in the store, read once (they are final). */
  private storedParentMarks(
    store: Pick<StateStore, 'getWatermarks'>,
    shard: string,
  ): Promise<OriginWatermarks | undefined> {
    let m = this.parentMarks.get(shard);
    if (!m) {
      m = store.getWatermarks(this.stateTask, shard);
      this.parentMarks.set(shard, m);
    }
    return m;
  }

  /**
   * The watermarks a shard first seen inherits from its parents (ports/lineage.ts): a stateless task's,
   * read from its store.
   */
  private inheritedStored(
    store: Pick<StateStore, 'getWatermarks'>,
    collection: string,
    shardId: string,
  ): Promise<OriginWatermarks | undefined> {
    return this.lineage.inherited(collection, shardId, (p) =>
      this.storedParentMarks(store, `${collection}/${p}`),
    );
  }

  /** The same for a stateful task: its parents' marks as committed in its manifest. */
  private inheritedCommitted(
    manifest: DerivationCheckpoint,
    collection: string,
    shardId: string,
  ): Promise<OriginWatermarks | undefined> {
    return this.lineage.inherited(collection, shardId, (p) => manifest.shards[`${collection}/${p}`]);
  }

  /**
   * Whether `d`, in a shard born of a merge and beyond that shard's own marks, is a copy one of its
   * parents already processed (ports/lineage.ts): a merge child starts from the lower of its parents'
   * marks, and a document between the two is decided by its key's parent. Split children and shards the
   * stream began with: never (their own marks decide).
   */
  private async seenByParent(collection: string, d: DecodedDoc, marksOf: MarksOf): Promise<boolean> {
    const parents = await this.lineage.parentsOf(collection, d.shardId);
    if (parents.length < 2) return false;
    const marks = await Promise.all(parents.map((p) => this.lineage.marksOf(collection, p.shardId, marksOf)));
    return seenByParent(parents, marks, d, () => {
      let router = this.routers.get(collection);
      if (!router) {
        // As the input collection's journal routed the document (its routing key, catalog/routing.ts).
        router = routerOf(this.sourceSpecs.get(collection)!);
        this.routers.set(collection, router);
      }
      return router(d.doc);
    });
  }

  /**
   * Append outputs to the derived collection. An output too large for a Kinesis record (1 MiB) is the
   * document's failure, said as the derivation's (DerivationError BadOutput, a document error): under
   * `park` the document that produced it is parked and the shard goes on; the journal's RecordTooLarge
   * halted the shard even under park. The journal refuses before it sends anything, so nothing of the
   * batch was appended.
   */
  private async append(out: AppendDoc[]): Promise<void> {
    try {
      await this.journal.append(this.collection.name, out);
    } catch (err) {
      if (!(err instanceof JournalError) || err.code !== 'RecordTooLarge') throw err;
      const index = typeof err.detail.index === 'number' ? err.detail.index : undefined;
      const d = index === undefined ? undefined : out[index];
      const bytes = d ? Buffer.byteLength(JSON.stringify(d.doc)) : undefined;
      throw new DerivationError(
        'BadOutput',
        this.collection.name,
        `an output document${d?.origin ? ` (origin ${d.origin})` : ''}${bytes === undefined ? '' : ` of ${bytes} bytes`} is over the 1 MiB a Kinesis record holds`,
        { cause: err },
      );
    }
  }

  /**
   * A document parked under `park` (functions/telemetry.ts, after its isolated attempt failed; the
   * documents before it in the batch are applied or parked): record it as handled, as if applied, so
   * that the batch delivered again skips it and only `sluice redrive` applies it. Before, when the
   * isolation was cut short by an outage after the park and the document passed on the retry (a fix
   * deployed meanwhile), it was applied by the retry and again by the redrive (test: its amount summed
   * twice). Stateful: a commit of the manifest with its input position moved past the document, the
   * state unchanged. Stateless: its origin mark moved (a document without an origin: the shard's
   * PARKED_MARK, below which such documents are skipped).
   */
  async skipParked(batch: DocBatch, d: DecodedDoc): Promise<void> {
    const shard = `${batch.collection}/${d.shardId}`;
    const now = this.nowSeconds();
    if (this.runner.stateful) {
      const store = this.opts.derivationState;
      if (!store) return;
      const manifest = (await store.loadDerivationState(this.stateTask)) ?? { version: 0, shards: {} };
      // A shard first seen starts from its parents' marks, as onStatefulBatch would have it start.
      const s = structuredClone(
        manifest.shards[shard] ??
          (await this.inheritedCommitted(manifest, batch.collection, d.shardId)) ?? {
            upTo: '',
            marks: {},
          },
      );
      if (d.streamPosition <= s.upTo) return;
      s.upTo = d.streamPosition;
      if (d.hasOrigin) moveMark(s, d.source, d.position, now);
      const next: DerivationCheckpoint = {
        ...manifest,
        version: manifest.version + 1,
        shards: { ...manifest.shards, [shard]: s },
      };
      await store.commitDerivationState(this.stateTask, next, manifest.version);
      // The state is the one committed before: an instance holding it holds the new version's.
      if (this.openedVersion === manifest.version) this.openedVersion = next.version;
      return;
    }
    const store = this.opts.watermarks;
    if (!store) return;
    const loaded = await store.getWatermarks(this.stateTask, shard);
    // A shard first seen starts from its parents' marks, as onStatelessBatch would have it start.
    const from = loaded ?? (await this.inheritedStored(store, batch.collection, d.shardId));
    const next: OriginWatermarks = {
      upTo: loaded && loaded.upTo > d.streamPosition ? loaded.upTo : d.streamPosition,
      marks: { ...from?.marks },
      at: { ...from?.at },
    };
    if (d.hasOrigin) {
      if ((next.marks[d.source] ?? '') >= d.position) return;
      moveMark(next, d.source, d.position, now);
    } else {
      if ((next.marks[PARKED_MARK] ?? '') >= d.streamPosition) return;
      moveMark(next, PARKED_MARK, d.streamPosition, now);
    }
    await store.putWatermarks(this.stateTask, shard, next);
  }

  private nowSeconds(): number {
    return Math.floor((this.opts.now ?? Date.now)() / 1000);
  }

  /** Run every transform reading `sourceCollection` over one input document; outputs go to `out`. */
  private async derive(
    sourceCollection: string,
    d: DecodedDoc,
    transforms: { t: TransformSpec; i: number }[],
    out: AppendDoc[],
  ): Promise<void> {
    for (const [rank, { t }] of transforms.entries()) {
      // The transform's partition selector and notBefore/notAfter.
      const reads = this.reads.get(t);
      if (reads && !reads(d.doc, d.arrivalMs)) continue;
      let derived: Json[];
      try {
        derived = await this.runner.onSource(t.name, [d.doc]);
      } catch (err) {
        // Said as `sluice parked` says where a document is (ports/parking.ts whereParked).
        if (err instanceof DerivationError && err.sourceAt === undefined)
          throw err.at(`${sourceCollection} shard ${d.shardId} · position ${d.sequenceNumber}#${d.index}`);
        throw err;
      }
      derived.forEach((doc, n) => {
        // The transform's rank in processing order (not its catalog index): origins increase in append order.
        const position = `${d.streamPosition}:${String(rank).padStart(3, '0')}:${String(n).padStart(6, '0')}`;
        out.push(this.published(doc, `${sourceCollection}/${d.shardId}`, position, d.arrivalMs));
      });
    }
  }

  /**
   * What flush() publishes, with an origin after the batch's last input (rank 999, after every
   * transform's): a batch delivered again after its append (a crash before the checkpoint or the
   * commit, or its bisected halves) flushes at positions not beyond it, so those copies are dropped
   * downstream like the others.
   */
  private async publishFlushed(sourceCollection: string, last: DecodedDoc, out: AppendDoc[]): Promise<void> {
    const source = `${sourceCollection}/${last.shardId}`;
    for (const [n, doc] of (await this.runner.flush()).entries()) {
      const position = `${last.streamPosition}:999:${String(n).padStart(6, '0')}`;
      out.push(this.published(doc, source, position, last.arrivalMs));
    }
  }

  /**
   * A derived document as appended: `_meta/uuid` from its origin (the same on a replay), routed by its
   * key, carrying its origin so downstream consumers drop re-published copies.
   */
  private published(doc: Json, source: string, position: string, arrivalMs: number): AppendDoc {
    const withMeta: Json = isObject(doc)
      ? {
          ...doc,
          _meta: {
            ...(isObject(doc._meta) ? doc._meta : {}),
            uuid: metaUuid(arrivalMs, `${this.collection.name}/${source}`, position),
          },
        }
      : doc;
    return {
      hashKey: this.router(withMeta),
      doc: withMeta,
      origin: formatOrigin(source, position),
    };
  }

  /**
   * A stateful derivation (SQLite, or a TypeScript module with state): its state, what it has read of
   * each input shard and its origin watermarks commit together, in one conditional manifest write after
   * the outputs are appended (ports/derivation-state.ts). So:
   * - a crash before the manifest write leaves the previous state in force: the replayed batch runs from
   *   the same state, publishes the same documents with the same origins, dropped downstream;
   * - a crash after it (before the mapping checkpoints) replays records at or below the committed input
   *   position, which are skipped: their effects are committed, their outputs appended;
   * - the task runs one invocation at a time (infra: reserved concurrency 1); an attempt that finds another
   *   version committed meanwhile (checked again right before its append, and by the commit's condition)
   *   fails (DerivationStateConflict) and the batch is retried from it.
   * Any failure drops the in-memory state: the next invocation restores the committed one.
   */
  private async onStatefulBatch(
    sourceCollection: string,
    docs: DecodedDoc[],
    transforms: { t: TransformSpec; i: number }[],
    store: DerivationStateStore,
  ): Promise<number> {
    const manifest = (await store.loadDerivationState(this.stateTask)) ?? { version: 0, shards: {} };
    try {
      if (this.openedVersion !== manifest.version) await this.restore(manifest, store);
      const shards = structuredClone(manifest.shards);
      // A shard first seen may be a child of a reshard: it starts from its parents' committed marks.
      const first = docs[0];
      const firstKey = first ? `${sourceCollection}/${first.shardId}` : '';
      if (first && !shards[firstKey] && docs.some((x) => x.hasOrigin)) {
        const seed = await this.inheritedCommitted(manifest, sourceCollection, first.shardId);
        if (seed) shards[firstKey] = seed;
      }
      const expired = new Set<string>();
      const out: AppendDoc[] = [];
      let processed = 0;
      let last: DecodedDoc | undefined;
      for (const d of docs) {
        const shard = `${sourceCollection}/${d.shardId}`;
        if (!shards[shard]) {
          shards[shard] = { upTo: '', marks: {} };
        } else if (!expired.has(shard)) {
          expireMarks(shards[shard], this.nowSeconds(), this.opts.marksHorizonSeconds);
          expired.add(shard);
        }
        const s = shards[shard];
        if (d.streamPosition <= s.upTo) {
          this.stats.docsSkipped++;
          continue;
        }
        s.upTo = d.streamPosition;
        if (d.hasOrigin) {
          const seen = s.marks[d.source];
          if (
            (seen !== undefined && d.position <= seen) ||
            (await this.seenByParent(sourceCollection, d, (p) => manifest.shards[`${sourceCollection}/${p}`]))
          ) {
            this.stats.docsSkipped++;
            continue;
          }
          moveMark(s, d.source, d.position, this.nowSeconds());
        }
        processed++;
        last = d;
        await this.derive(sourceCollection, d, transforms, out);
      }
      if (processed === 0 || !last) return 0;
      await this.publishFlushed(sourceCollection, last, out);
      const state = await this.runner.startCommit();
      const next: DerivationCheckpoint = { version: manifest.version + 1, shards };
      const prev = this.committed;
      const had = new Set([...(prev.pages ?? []), ...(prev.body ?? [])]);
      const now: CommittedState = {};
      if (state?.kind === 'json') now.json = state.json;
      // No update this transaction (a module whose flush() returns `{published, state}` only sometimes,
      // and no startCommit): the state in force is the committed one, carried into the new manifest.
      // Leaving it out committed a manifest without state, and the next cold start opened `{}`.
      else if (state === undefined) now.json = prev.json;
      else if (state?.kind === 'sqlite') {
        const paged = toPages(state.image);
        const fresh = new Map([...paged.pages].filter(([h]) => !had.has(h)));
        await store.putPages(this.stateTask, fresh);
        this.stats.pagesWritten += fresh.size;
        now.pages = paged.hashes;
      }
      // A large state (a TypeScript state of hundreds of KB, the page list of a SQLite database of tens of
      // MB) goes to chunks beside the pages, and the manifest names them: inline, the manifest outgrew
      // DynamoDB's 400 KB item and the derivation halted for good (StateError ItemTooLarge), and each
      // commit rewrote all of it. Unchanged chunks are not written again.
      const text = Buffer.from(JSON.stringify({ json: now.json, pages: now.pages }));
      if (text.length > STATE_INLINE_BYTES) {
        const chunked = toChunks(text, STATE_CHUNK_BYTES);
        const fresh = new Map([...chunked.pages].filter(([h]) => !had.has(h)));
        await store.putPages(this.stateTask, fresh);
        this.stats.pagesWritten += fresh.size;
        now.body = next.body = chunked.hashes;
      } else {
        if (now.json !== undefined) next.json = now.json;
        if (now.pages) next.pages = now.pages;
      }
      const keep = new Set([...(now.pages ?? []), ...(now.body ?? [])]);
      const stale = [...had].filter((h) => !keep.has(h));
      // Outputs appended by an attempt whose commit then conflicts were computed from a state another
      // invocation has since moved on: its retry, from the newer state, publishes different documents under
      // the same origins, which downstream drops as copies, so what downstream holds disagrees with the
      // state (test: a count 2 where the state holds 5). Reserved concurrency 1 keeps invocations apart;
      // should two overlap anyway (a function replaced while its old mapping still runs), the version is
      // checked again right before the append (pages and chunks are written before it), so a commit made
      // meanwhile fails this attempt before it appends anything. One consistent read of the small manifest
      // per transaction; what remains is a commit landing during this append.
      const current = await store.loadDerivationState(this.stateTask);
      if ((current?.version ?? 0) !== manifest.version)
        throw new DerivationStateConflict(this.stateTask, manifest.version);
      if (out.length > 0) await this.append(out);
      await store.commitDerivationState(this.stateTask, next, manifest.version);
      this.openedVersion = next.version;
      this.committed = now;
      this.stats.commits++;
      this.stats.docsOut += out.length;
      // Pages no manifest names any more; a crash here only leaves garbage behind.
      if (stale.length > 0) await store.deletePages(this.stateTask, stale).catch(() => undefined);
      return out.length;
    } catch (err) {
      this.openedVersion = -1;
      throw err;
    }
  }

  /** Bring the runner to the committed state of `manifest`. */
  private async restore(manifest: DerivationCheckpoint, store: DerivationStateStore): Promise<void> {
    try {
      const committed: CommittedState = { json: manifest.json, pages: manifest.pages };
      if (manifest.body) {
        const chunks = await store.getPages(this.stateTask, manifest.body);
        const body = JSON.parse(
          Buffer.from(fromPages(manifest.body, chunks)).toString('utf8'),
        ) as CommittedState;
        Object.assign(committed, { json: body.json, pages: body.pages, body: manifest.body });
      }
      if (manifest.version === 0) await this.runner.open(undefined);
      else if (committed.pages) {
        const pages = await store.getPages(this.stateTask, committed.pages);
        await this.runner.open({ kind: 'sqlite', image: fromPages(committed.pages, pages) });
      } else await this.runner.open({ kind: 'json', json: committed.json ?? {} });
      this.committed = manifest.version === 0 ? {} : committed;
    } catch (err) {
      // Opening the committed state fails alike for every document (a migration appended that fails on
      // the tables as they are, a module whose constructor rejects the state's shape, a missing page):
      // not a document error, so under `park` the shard halts here instead of parking every document
      // (a SqlInvalid from a migration was taken for a document error, and each document was parked).
      throw new DerivationError(
        'StateRestore',
        this.collection.name,
        `cannot open its committed state (version ${manifest.version}): ${describe(err)}`,
        { cause: err },
      );
    }
    this.openedVersion = manifest.version;
  }
}

function changed(a: Record<string, string>, b: Record<string, string>): boolean {
  const kb = Object.keys(b);
  return kb.length !== Object.keys(a).length || kb.some((k) => a[k] !== b[k]);
}
