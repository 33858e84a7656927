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
 *
 * Backfill (a new binding, or a bumped `backfill` counter) is a job of its own, see `ensureBackfilled`:
 * one leader at a time (a lease), progress committed with the data after every fragment and journal page
 * (a stopped job resumes there), bounded per invocation by a deadline, and a gate in front of live
 * batches: a batch of a collection whose bindings are not all backfilled waits (and, past its deadline,
 * fails with BackfillInProgress, which functions/telemetry.ts hands back to the mapping as a partial
 * batch response: delivered again, not a function error).
 */
import { randomUUID } from 'node:crypto';
import { readUpTo } from '../backfill/catch-up.ts';
import { runBackfill } from '../backfill/fragments.ts';
import { BackfillError, type BackfillLease } from '../backfill/lease.ts';
import type { BuiltCatalog, CollectionSpec, MaterializationSpec } from '../catalog/model.ts';
import { sourceFilter } from '../catalog/partitions.ts';
import type { Json } from '../json/types.ts';
import { isObject } from '../json/types.ts';
import { type KeyExtractor, keyExtractor } from '../keys/extract.ts';
import { routerOf } from '../keys/route.ts';
import type { BlobStore } from '../ports/blob.ts';
import { type DocBatch, decodeRecords, foldKey, type SourceDoc } from '../ports/events.ts';
import type { Journal } from '../ports/journal.ts';
import { ShardLineage } from '../ports/lineage.ts';
import { decodePosition } from '../ports/position.ts';
import { NotAssociativeError, Reducer } from '../reduce/index.ts';
import type { SchemaRegistry } from '../schema/registry.ts';
import { type Checkpoint, FencedError, type MaterializeConnector, type StoreDoc } from './connector.ts';
import { MaterializeTaskError } from './errors.ts';
import { dropReapplied, type MarksInheritance, originMarksKey, readOriginMarks } from './origin-marks.ts';

export { MaterializeTaskError };

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
  /**
   * Which documents it materializes (its source's partition selector and `notBefore`/`notAfter`);
   * undefined: every one.
   */
  reads?: (doc: Json, fallbackMs: number) => boolean;
  /**
   * The binding keeps its own positions (`<collection>/<shard>#<id>@<backfill>`) because it was
   * backfilled: its history came from fragments and the journal, not with the other bindings' events.
   */
  tracked: boolean;
  /**
   * A re-backfill (bumped counter) must empty the destination first: the next commit of this binding
   * carries the reset, so it happens inside the connector's fenced transaction with the first history.
   */
  resetPending: boolean;
}

/** Where a collection's history is: its S3 fragments, then its journal (the backfill's inputs). */
export interface HistorySource {
  /** The collection's fragments: their bucket and folder (`…/<collection>/`). */
  fragments(collection: string): { blobs: BlobStore; folder: string };
  journal: Journal;
}

const BACKFILL = 'backfill:';
/** Checkpoint key `backfill-fragments:<id>` = the counter whose fragment phase is complete (the journal catch-up follows). */
const FRAGMENTS_DONE = 'backfill-fragments:';
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
  /** Times a batch waited for a backfill led by another instance (polls). */
  backfillWaits: number;
}

/** How the backfill job runs in this instance (see `MaterializeTask.ensureBackfilled`). */
export interface BackfillJobOptions {
  /** One leader per materialization. Undefined: this instance is the only one (tests, embedded use). */
  lease?: BackfillLease;
  /** This instance's lease owner (default: a random id). */
  owner?: string;
  /** The lease lasts this long after each renewal (default 60 s); it is renewed while the leader works. */
  leaseTtlMs?: number;
  /** When this invocation must stop (ms since epoch; the Lambda's end less a margin). Undefined: no limit. */
  deadline?: () => number | undefined;
  /** Kept back before the deadline for the batch itself once its bindings are backfilled (default 15 s). */
  reserveMs?: number;
  /** While another instance leads: how often to look at its progress (default 1 s). */
  pollMs?: number;
  /** Fault injection (tests): called before each fragment is read, with the count read so far by this run. */
  faults?: { beforeFragment?: (binding: number, read: number) => void | Promise<void> };
}

const DEFAULT_LEASE_TTL_MS = 60_000;
const DEFAULT_RESERVE_MS = 15_000;
const DEFAULT_POLL_MS = 1_000;

export class MaterializeTask {
  private checkpoint: Checkpoint = {};
  private opened = false;
  private applied = false;
  private readonly bindings: BindingRuntime[];
  readonly stats: MaterializeStats = {
    docsIn: 0,
    docsSkipped: 0,
    keysStored: 0,
    deletes: 0,
    reopened: 0,
    backfillWaits: 0,
  };
  /**
   * Origin marks not moved for this long are dropped (origin-marks.ts; SLUICE_APPLIED_HORIZON_SECONDS:
   * its sources' replay window and a day). Undefined: kept.
   */
  originMarksHorizonSeconds: number | undefined;
  private readonly owner: string;
  private renewedAt = 0;
  /** Input shards' parents (origin marks across a reshard); from the history's journal. */
  private readonly lineage: ShardLineage | undefined;

  constructor(
    readonly spec: MaterializationSpec,
    catalog: BuiltCatalog,
    registry: SchemaRegistry,
    private readonly connector: MaterializeConnector,
    /**
     * When given, bindings without history (new, or a bumped `backfill` counter) are backfilled from it
     * before any batch of their collection is applied (`ensureBackfilled`).
     */
    private readonly history?: HistorySource,
    private readonly job: BackfillJobOptions = {},
  ) {
    this.owner = job.owner ?? randomUUID();
    this.lineage = history ? new ShardLineage(history.journal) : undefined;
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
          reads: sourceFilter(collection, b.source),
          tracked: false,
          resetPending: false,
        };
      });
  }

  /** Apply destination resources and read the committed checkpoint; once per cold start (and again after being fenced). */
  async open(): Promise<void> {
    if (this.opened) return;
    if (!this.applied) {
      await this.connector.apply();
      this.applied = true;
    }
    this.checkpoint = (await this.connector.open()).checkpoint;
    this.opened = true;
    for (const b of this.bindings) {
      // A reset is decided from the committed view, by the backfill that runs on it: one pending from a
      // stale view (its commit was fenced off) must not ride along with a later commit.
      b.resetPending = false;
      const suffix = `#${b.id}@${b.backfill}`;
      // Tracked from the moment its backfill got past the fragments, not only once it has positions of
      // its own: a backfill that found no fragments and no positions to catch up to commits none, and an
      // instance that took the binding for untracked then advanced only the shared positions, so a batch
      // delivered again to a tracked instance (skipping by its own positions, none) was applied twice.
      b.tracked =
        this.checkpoint[`${FRAGMENTS_DONE}${b.id}`] === pad(b.backfill) ||
        Object.keys(this.checkpoint).some((k) => k.startsWith(`${b.collection.name}/`) && k.endsWith(suffix));
    }
  }

  /** Backfill stats: fragments and documents read from S3, records caught up from the journal. */
  readonly backfills: {
    binding: number;
    fragments: number;
    /** Fragments not read again: applied by an earlier, interrupted run. */
    skipped: number;
    docs: number;
    journalRecords: number;
  }[] = [];

  private ownKey(b: BindingRuntime, shardId: string): string {
    return `${b.collection.name}/${shardId}#${b.id}@${b.backfill}`;
  }

  /** Bindings (of `collection`, or all) whose marker is not their `backfill` counter. */
  private pendingBackfills(collection?: string): BindingRuntime[] {
    return this.bindings.filter(
      (b) =>
        (collection === undefined || b.collection.name === collection) &&
        this.checkpoint[`${BACKFILL}${b.id}`] !== pad(b.backfill),
    );
  }

  /**
   * Checkpoints written before markers existed (positions, no marker at all) are adopted as is for
   * counter 0: those bindings have their history already.
   */
  private async adoptUnmarked(): Promise<void> {
    if (Object.keys(this.checkpoint).some((k) => k.startsWith(BACKFILL))) return;
    const adopt: Checkpoint = {};
    for (const b of this.bindings) {
      const c = b.collection.name;
      const hasPositions = Object.keys(this.checkpoint).some(
        (k) => k.startsWith(`${c}/`) && !k.includes('#'),
      );
      if (b.backfill === 0 && hasPositions) adopt[`${BACKFILL}${b.id}`] = pad(b.backfill);
    }
    if (Object.keys(adopt).length === 0) return;
    await this.connector.commit({ bindings: [], checkpoint: adopt });
    Object.assign(this.checkpoint, adopt);
  }

  /**
   * The backfill job: make sure every binding of `collection` (every binding when undefined) has its
   * history, before anything live is applied to it.
   *
   * - One leader: the instance holding the lease backfills; the lease is renewed while it works and
   *   released when it stops. Others (`wait`) poll the committed checkpoint until the leader's markers
   *   appear — taking the lease over if the leader dies — and, past their deadline, throw a retryable
   *   BackfillInProgress. Without `wait` (the scheduled job) they return at once.
   * - Exactly once: a live batch of the collection is never applied while one of its bindings is
   *   pending, so the collection's shared positions stand still during the backfill and the catch-up's
   *   target is fixed; the backfilled binding's own positions (`ownKey`, committed with its data) keep
   *   history and live disjoint, and a zombie leader's commits are refused by the connector's fence.
   * - Resumable: the leader re-reads the checkpoint after taking the lease and continues from the
   *   binding's committed positions (fragments at or before them are not read again; the journal from
   *   them on). Any size of history: each invocation does what fits before its deadline.
   *
   * Returns true when done; false (job only) when another instance leads or time ran out.
   */
  async ensureBackfilled(collection: string | undefined, wait: boolean): Promise<boolean> {
    const h = this.history;
    if (!h) return true;
    for (;;) {
      await this.open();
      await this.adoptUnmarked();
      if (this.pendingBackfills(collection).length === 0) return true;
      if (await this.takeLease()) {
        try {
          // Another leader may have progressed since our view was read: continue from what is committed.
          this.opened = false;
          await this.open();
          for (const b of this.pendingBackfills(collection)) await this.backfillBinding(h, b);
        } catch (e) {
          if (!(e instanceof BackfillError)) throw e;
          // Out of time: the progress is committed; the job's next tick, or the batch's retry, continues.
          if (e.code === 'BackfillInProgress' && !wait) return false;
          if (e.code === 'BackfillInProgress') throw e;
          // LeaseLost: this instance stalled and another one leads now; wait for it like any other.
          this.opened = false;
        } finally {
          await this.job.lease?.release(this.owner);
          this.renewedAt = 0;
        }
        continue;
      }
      if (!wait) return false;
      if (this.timeLeft() <= 0) {
        throw new BackfillError(
          'BackfillInProgress',
          this.spec.name,
          `${collection ?? 'its bindings'}: another instance is backfilling ${this.pendingBackfills(
            collection,
          )
            .map((b) => `binding ${b.index}`)
            .join(', ')}; this batch is retried once the history is in`,
        );
      }
      this.stats.backfillWaits++;
      await new Promise((r) => setTimeout(r, Math.min(this.job.pollMs ?? DEFAULT_POLL_MS, this.timeLeft())));
      this.opened = false; // re-read the leader's committed markers and positions
    }
  }

  /** Time left for backfill work in this invocation (Infinity without a deadline). */
  private timeLeft(): number {
    const d = this.job.deadline?.();
    return d === undefined
      ? Number.POSITIVE_INFINITY
      : d - (this.job.reserveMs ?? DEFAULT_RESERVE_MS) - Date.now();
  }

  private async takeLease(): Promise<boolean> {
    const lease = this.job.lease;
    if (!lease) return true;
    const ok = await lease.acquire(this.owner, this.job.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS);
    if (ok) this.renewedAt = Date.now();
    return ok;
  }

  /** Before each fragment or journal page: stop at the deadline (progress is committed), renew the lease. */
  private async step(b: BindingRuntime): Promise<void> {
    if (this.timeLeft() <= 0) {
      throw new BackfillError(
        'BackfillInProgress',
        this.spec.name,
        `binding ${b.index} (${b.collection.name}): the backfill stopped at this invocation's deadline; its progress is committed and the next invocation continues it`,
      );
    }
    const ttl = this.job.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    if (this.job.lease && Date.now() - this.renewedAt > ttl / 3 && !(await this.takeLease())) {
      throw new BackfillError(
        'LeaseLost',
        this.spec.name,
        `binding ${b.index} (${b.collection.name}): another instance took the backfill lease over`,
      );
    }
  }

  /** The binding's own committed positions per shard (its progress), as sequence numbers. */
  private ownSequences(b: BindingRuntime): Record<string, string> {
    const c = b.collection.name;
    const suffix = `#${b.id}@${b.backfill}`;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.checkpoint))
      if (k.startsWith(`${c}/`) && k.endsWith(suffix))
        out[k.slice(c.length + 1, k.length - suffix.length)] = decodePosition(v).sequenceNumber;
    return out;
  }

  /**
   * Backfill one binding, resuming from its committed progress: its collection's fragments (phase 1,
   * ends with the `backfill-fragments:` key), then the journal from its own positions up to the
   * position the other bindings committed (the mapping will not deliver those records again), then the
   * marker. Each fragment and each journal page is one commit (data + the binding's own position).
   */
  private async backfillBinding(h: HistorySource, b: BindingRuntime): Promise<void> {
    const c = b.collection.name;
    const marker = `${BACKFILL}${b.id}`;
    const fragmentsDone = `${FRAGMENTS_DONE}${b.id}`;
    const counter = pad(b.backfill);
    const started =
      Object.keys(this.ownSequences(b)).length > 0 || this.checkpoint[fragmentsDone] === counter;
    if (this.checkpoint[marker] !== undefined && !started) {
      // A bumped counter rebuilds the binding: empty the destination first (in the first commit, fenced).
      if (this.connector.reset) b.resetPending = true;
      else if (!b.delta && !this.connector.loadApplied) {
        throw new MaterializeTaskError(
          'CannotRebackfill',
          this.spec.name,
          `binding ${b.index} (${c}): its backfill counter was bumped to ${b.backfill}, but the connector cannot empty the destination, and reducing the history onto the current documents would apply it twice`,
        );
      }
    }
    b.tracked = true;
    const stat = { binding: b.index, fragments: 0, skipped: 0, docs: 0, journalRecords: 0 };
    this.backfills.push(stat);
    if (this.checkpoint[fragmentsDone] !== counter) {
      const { blobs, folder } = h.fragments(c);
      let read = 0;
      const res = await runBackfill({
        blobs,
        folder,
        collection: c,
        after: this.ownSequences(b),
        beforeFragment: async () => {
          await this.job.faults?.beforeFragment?.(b.index, read++);
          await this.step(b);
        },
        onBatch: async (batch) => {
          await this.applyBatch(batch, b);
          stat.docs += batch.docs.length; // counted as committed: a run stopped midway reports its part
        },
      });
      stat.fragments = res.fragments;
      stat.skipped = res.skipped;
      // Fragments persisted from now on are caught up from the journal instead: their documents carry
      // the fragment's positions, not the records', which would not compare with journal positions.
      await this.commitMarkers(b, { [fragmentsDone]: counter });
    }
    // Catch up from the journal: records the other bindings already committed (the mapping will not
    // deliver them again) but the fragments do not hold yet.
    const shared: Checkpoint = {};
    for (const shard of await h.journal.listShards(c)) {
      const key = `${c}/${shard.shardId}`;
      const until = this.checkpoint[key];
      if (until === undefined) continue;
      shared[key] = until;
      const own = this.checkpoint[this.ownKey(b, shard.shardId)];
      const after = own === undefined ? undefined : decodePosition(own).sequenceNumber;
      stat.journalRecords += await readUpTo(
        h.journal,
        c,
        shard.shardId,
        after,
        decodePosition(until).sequenceNumber,
        async (records) => {
          await this.step(b);
          await this.applyBatch(decodeRecords(c, records), b);
        },
      );
    }
    // The marker, with the shared positions the catch-up went up to: a transactional connector checks
    // them as part of the commit (fence / compare-and-set), so a shared position moved meanwhile (an
    // instance of the previous deployment still applying batches without this binding) fails the commit
    // and the retry catches up further instead of leaving a gap.
    await this.commitMarkers(b, { ...shared, [marker]: counter });
  }

  /** Commit checkpoint keys of a backfill (and a still pending reset of its binding). */
  private async commitMarkers(b: BindingRuntime, checkpoint: Checkpoint): Promise<void> {
    await this.connector.commit({
      bindings: [],
      checkpoint,
      ...(b.resetPending ? { reset: [b.index] } : {}),
    });
    b.resetPending = false;
    Object.assign(this.checkpoint, checkpoint);
  }

  /** The collections this materialization reads. */
  get sources(): string[] {
    return [...new Set(this.bindings.map((b) => b.collection.name))];
  }

  /**
   * The scheduled backfill job's entry (functions/materialize.ts): backfill every pending binding, as
   * far as this invocation's deadline allows. True when every binding has its history.
   */
  async runBackfillJob(): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.ensureBackfilled(undefined, false);
      } catch (e) {
        if (!(e instanceof FencedError) || attempt >= MAX_REOPEN) throw e;
        this.opened = false;
        this.stats.reopened++;
      }
    }
  }

  /**
   * Apply one event. When a newer instance fenced this one off (FencedError), the stale view is dropped:
   * re-open (re-reading the committed checkpoint, so what the newer instance committed is skipped) and
   * retry, at most `MAX_REOPEN` times; then the error goes to the caller (the mapping redelivers).
   */
  async onBatch(batch: DocBatch): Promise<void> {
    await this.live(batch, 'apply');
  }

  /**
   * A document of the batch was parked (functions/telemetry.ts, after its isolated commit failed): commit
   * it as handled without storing it, so that the batch delivered again (its isolation cut short by an
   * outage, a fix deployed meanwhile) skips it and only its redrive (on the redrive shard) applies it.
   * Before, such a retry applied it and the redrive applied it again. Transactional and position-skipping
   * connectors get the shard's checkpoint (and origin marks) moved to it; `loadApplied` ones (DynamoDB)
   * its position in its key's applied positions, the stored document unchanged (a positions-only
   * tombstone when there is none).
   */
  async onParked(batch: DocBatch, doc: SourceDoc): Promise<void> {
    await this.live({ ...batch, docs: [doc] }, 'mark');
  }

  /**
   * A live batch through the backfill gate, re-opened and retried when fenced off. `mark`: record its
   * documents as applied without storing them (onParked).
   */
  private async live(batch: DocBatch, mode: 'apply' | 'mark'): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        // The gate: nothing live is applied to a collection whose bindings are not all backfilled.
        await this.ensureBackfilled(batch.collection, true);
        return await this.applyBatch(batch, undefined, mode);
      } catch (e) {
        if (!(e instanceof FencedError)) throw e;
        this.opened = false;
        this.stats.reopened++;
        if (attempt >= MAX_REOPEN) throw e;
      }
    }
  }

  /** Apply a batch to every binding of its collection, or (backfill) to `only` that binding. */
  private async applyBatch(
    batch: DocBatch,
    only?: BindingRuntime,
    mode: 'apply' | 'mark' = 'apply',
  ): Promise<void> {
    const collection = batch.collection;
    if (!only) await this.open();
    const bound = only ? [only] : this.bindings.filter((b) => b.collection.name === collection);
    if (bound.length === 0)
      throw new MaterializeTaskError('NotBound', this.spec.name, `no binding reads ${collection}`);
    const docs = batch.docs;
    if (docs.length === 0) return;
    if (mode === 'apply') this.stats.docsIn += docs.length;
    const shardKey = `${collection}/${docs[0].shardId}`;
    const committed = this.checkpoint[shardKey];
    const last = docs[docs.length - 1].streamPosition;
    const txn: { binding: number; docs: StoreDoc[] }[] = [];
    const checkpoint: Checkpoint = {};
    // A transactional connector also drops documents re-published with an origin already applied
    // (origin-marks.ts); not for a backfill's catch-up (`only`): the marks are every binding's.
    let live = docs;
    if (!only && this.connector.originMarks) {
      const key = originMarksKey(collection, docs[0].shardId);
      const r = dropReapplied(
        docs,
        this.checkpoint[key],
        Math.floor(Date.now() / 1000),
        this.originMarksHorizonSeconds,
        await this.inheritance(collection, docs),
      );
      live = r.fresh;
      if (r.marks !== undefined) checkpoint[key] = r.marks;
    }
    for (const b of bound) {
      // A backfilled binding skips by its own positions (non-transactional connectors too: its history
      // was applied through them); the others by the shard's shared position.
      const own = b.tracked ? this.checkpoint[this.ownKey(b, docs[0].shardId)] : undefined;
      const from = b.tracked ? own : this.connector.loadApplied ? undefined : committed;
      const fresh = from === undefined ? live : live.filter((d) => d.streamPosition > from);
      if (mode === 'mark') {
        // Only keys whose applied positions live beside them need a write; the others skip by checkpoint.
        if (this.connector.loadApplied && !b.delta)
          txn.push({ binding: b.index, docs: await this.markDocs(b, fresh) });
      } else {
        this.stats.docsSkipped += docs.length - fresh.length;
        txn.push({ binding: b.index, docs: await this.storeDocs(b, fresh) });
      }
      if (b.tracked)
        checkpoint[this.ownKey(b, docs[0].shardId)] = own !== undefined && own > last ? own : last;
    }
    if (!only) checkpoint[shardKey] = committed !== undefined && committed > last ? committed : last;
    const reset = bound.filter((b) => b.resetPending).map((b) => b.index);
    await this.connector.commit({ bindings: txn, checkpoint, ...(reset.length > 0 ? { reset } : {}) });
    for (const b of bound) b.resetPending = false;
    this.checkpoint = { ...this.checkpoint, ...checkpoint };
  }

  /**
   * The batch's shard was born of a reshard (ports/lineage.ts): its parents and their committed origin
   * marks, final (the mapping reads a child after its parents; a commit from a stale view of them is
   * fenced off and retried after re-reading the checkpoint). Needs the journal (`history`) for lineage.
   */
  private async inheritance(collection: string, docs: SourceDoc[]): Promise<MarksInheritance | undefined> {
    if (!this.lineage || !docs.some((d) => d.hasOrigin)) return undefined;
    const parents = await this.lineage.parentsOf(collection, docs[0].shardId);
    if (parents.length === 0) return undefined;
    // Where the collection's journal routed each document (its routing key, catalog/routing.ts).
    const router = routerOf(this.bindings.find((b) => b.collection.name === collection)!.collection);
    const stored = (shardId: string) => {
      const v = this.checkpoint[originMarksKey(collection, shardId)];
      return v === undefined ? undefined : readOriginMarks(v);
    };
    const lineage = this.lineage;
    return {
      parents,
      // A parent without marks of its own (it applied nothing with an origin) has its parents'.
      marks: await Promise.all(parents.map((p) => lineage.marksOf(collection, p.shardId, stored))),
      hashKey: (d) => router(d.doc),
    };
  }

  /** A binding's documents grouped by key, in first-seen order (those its source reads). */
  private groups(b: BindingRuntime, all: SourceDoc[]): { key: Json[]; docs: SourceDoc[] }[] {
    const reads = b.reads;
    const docs = reads ? all.filter((d) => reads(d.doc, d.arrivalMs)) : all;
    const groups = new Map<string, { key: Json[]; docs: SourceDoc[] }>();
    for (const d of docs) {
      const k = b.extractor.packBinary(d.doc);
      const g = groups.get(k);
      if (g) g.docs.push(d);
      else groups.set(k, { key: b.extractor.extract(d.doc) as Json[], docs: [d] });
    }
    return [...groups.values()];
  }

  private async storeDocs(b: BindingRuntime, all: SourceDoc[]): Promise<StoreDoc[]> {
    const entries = this.groups(b, all);
    const reduce = (lhs: Json | undefined, rhs: Json) => b.reducer.reduce(lhs, rhs, true);
    const out: StoreDoc[] = [];
    if (b.delta) {
      for (const g of entries) {
        // Combined associatively; documents that cannot be (a document after a deletion of its key,
        // `lastWriteWins {associative: false}`) start a further delta of the key, in order.
        let doc: Json | undefined;
        for (const d of g.docs) {
          try {
            doc = b.reducer.reduce(doc, d.doc, false);
          } catch (e) {
            if (!(e instanceof NotAssociativeError) || doc === undefined) throw e;
            out.push({ key: g.key, doc, deleted: false });
            doc = d.doc;
          }
        }
        if (doc !== undefined) out.push({ key: g.key, doc, deleted: false });
      }
    } else if (this.connector.loadApplied) {
      const r = await this.foldApplied(b, entries, reduce);
      this.stats.docsSkipped += r.skipped;
      out.push(...r.docs);
    } else {
      // A binding about to be reset (emptied in this commit) has nothing to load.
      const loaded = b.resetPending
        ? new Map<string, Json>()
        : await this.connector.load(
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

  /**
   * onParked's documents for a `loadApplied` connector: folded by a reduction that changes nothing, so
   * their positions join their keys' applied positions and the documents stay as they are (a key with
   * no document gets a tombstone of positions only).
   */
  private async markDocs(b: BindingRuntime, all: SourceDoc[]): Promise<StoreDoc[]> {
    return (await this.foldApplied(b, this.groups(b, all), (lhs) => lhs)).docs;
  }

  /**
   * Keys of a `loadApplied` connector: load each item with the positions folded into it, fold only the
   * documents not yet applied, and write conditionally on the loaded positions.
   */
  private async foldApplied(
    b: BindingRuntime,
    entries: { key: Json[]; docs: SourceDoc[] }[],
    reduce: (lhs: Json | undefined, rhs: Json) => Json | undefined,
  ): Promise<{ docs: StoreDoc[]; skipped: number }> {
    const loaded = await this.connector.loadApplied!(
      b.index,
      entries.map((g) => g.key),
    );
    const docs: StoreDoc[] = [];
    let skipped = 0;
    for (const g of entries) {
      const cur = loaded.get(JSON.stringify(g.key));
      const r = foldKey(cur, g.docs, reduce);
      if (r.folded === 0) {
        skipped += g.docs.length;
        continue;
      }
      docs.push({
        key: g.key,
        doc: r.doc ?? g.docs[g.docs.length - 1].doc,
        deleted: r.doc === undefined,
        exists: cur?.doc !== undefined,
        applied: r.applied,
        expectedApplied: cur?.applied,
      });
    }
    return { docs, skipped };
  }

  async close(): Promise<void> {
    await this.connector.close();
  }
}
