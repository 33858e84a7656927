/**
 * The combiner: documents in, one (partially or fully) reduced document per key out, in key order.
 *
 * Memory budget. `memoryBudgetBytes` (default 64 MiB) bounds the estimated heap held by the
 * combiner's in-memory entries: each entry is the packed key, its combined document(s) and ~100
 * bytes of bookkeeping; documents are measured with `estimateSize` (V8 heap bytes, not JSON text).
 * Each add() charges the incoming document's size to its entry (an upper bound, since reducing
 * usually does not grow a document by its whole size). When the charge passes the budget, every
 * entry is measured exactly; if they really use more than half the budget, the entries are sorted by
 * key and spilled to a temporary file (a "run", JSON lines) and memory is emptied; otherwise
 * accounting restarts from the exact figure. So the in-memory state never exceeds the budget plus one
 * document. Draining k-way merges the runs (older runs first for equal keys, preserving document
 * order) with the in-memory entries. Runs are merged as they accumulate (8 consecutive runs of
 * one size class into one), so there are at most MAX_RUNS (32) and each document is rewritten
 * O(log spills) times. Merging or draining costs a 256 KiB read buffer per run.
 *
 * Reuse. `drain()` takes everything added so far and leaves the combiner empty and immediately
 * reusable (a new batch can be added while a previous drain is still being iterated). Spill files of
 * a drain are deleted when its iteration ends (completed, broken out of, or failed); call `discard()`
 * to drop undrained state and its files.
 *
 * Ownership. By default the combiner never mutates added documents, but keeps them and shares their
 * parts in its results: do not mutate a document after adding it. With `ownsDocuments: true` it takes
 * them over: each key's combined document is updated in place as later documents arrive (no copy per
 * document, and no re-promotion of long-lived documents by the GC: ~10 % faster on bench/combine.ts),
 * so added documents, and every value inside them, may be changed. Use it only for documents that
 * are freshly parsed and referenced nowhere else (`sluice combine` reading stdin). Never for
 * documents kept elsewhere (test logs re-added to several combiners, derivation inputs, documents
 * sharing sub-objects with each other). A drained document is not touched by the combiner again.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CollectionSpec } from '../catalog/model.ts';
import { SluiceError } from '../errors.ts';
import { getAt, ownProp, parsePointer } from '../json/pointer.ts';
import { isObject, type Json } from '../json/types.ts';
import { type KeyExtractor, keyExtractor } from '../keys/extract.ts';
import { unpackKey } from '../keys/pack.ts';
import { NotAssociativeError, ReduceError, type ReduceOptions, Reducer } from '../reduce/index.ts';
import { type CompiledSchema, type SchemaRegistry, SchemaValidationError } from '../schema/registry.ts';
import { estimateSize } from './size.ts';
import { type RunEntry, RunReader, RunWriter, removeQuietly } from './spill.ts';

export const DEFAULT_MEMORY_BUDGET_BYTES = 64 * 1024 * 1024;
/** Most spill runs kept at once (each costs a read buffer while draining). */
export const MAX_RUNS = 32;
/** This many consecutive runs of one level are merged into one run of the next level. */
const FANOUT = 8;
/** Bookkeeping per in-memory entry: Map slot, entry object, key string header. */
const ENTRY_OVERHEAD = 112;
const OWNED: ReduceOptions = { ownsLhs: true };

export interface CombinerOptions {
  registry: SchemaRegistry;
  collection: CollectionSpec;
  /** Validate each added document against `collection.writeSchema` (default true). */
  validate?: boolean;
  /** Estimated heap bytes held in memory before spilling sorted runs to disk (default 64 MiB). */
  memoryBudgetBytes?: number;
  /** Where spill files go (a fresh `sluice-combine-*` folder inside it); default the OS temp dir. */
  spillDir?: string;
  /**
   * A reducer to share (it holds no state between calls, so any number of combiners may use one);
   * default `new Reducer(registry, collection.writeSchema)`.
   */
  reducer?: Reducer;
  /**
   * The combiner owns added documents and may mutate them (see the module comment): only for
   * documents freshly parsed and referenced nowhere else, none sharing values with another. Default false.
   */
  ownsDocuments?: boolean;
}

export interface DrainedDoc {
  /** The packed key (shared/keys/pack.ts); `unpackKey(key)` gives the key values. */
  readonly key: Buffer;
  /**
   * The same packed key as a binary string (one character per byte), which orders as `key` does:
   * for consumers that only compare or pass keys on, without making a Buffer per document.
   */
  readonly packedKey: string;
  /** The reduced document; for a deletion, the document that deleted it (the tombstone). */
  readonly doc: Json;
  /** A full reduction deleted the root: the key has no document any more. Always false when partial. */
  readonly deleted: boolean;
}

/** A drained document whose key Buffer is only made when asked for (most consumers never do). */
class Drained implements DrainedDoc {
  private keyBuffer: Buffer | undefined;
  constructor(
    readonly packedKey: string,
    readonly doc: Json,
    readonly deleted: boolean,
  ) {}
  get key(): Buffer {
    this.keyBuffer ??= Buffer.from(this.packedKey, 'latin1');
    return this.keyBuffer;
  }
}

export interface CombinerStats {
  /** Documents added since the last drain. */
  docsIn: number;
  /** Distinct keys currently held in memory (spilled keys are not counted). */
  keys: number;
  /** Estimated heap bytes of the in-memory entries (an upper bound between exact measurements). */
  bytesEstimate: number;
  /** Sorted runs currently spilled to disk. */
  spilledRuns: number;
}

/** Reducing documents of one key failed: the reducer's error with the collection and key around it. */
export class CombineError extends SluiceError {
  readonly code = 'CombineReduceFailed';
  constructor(
    readonly collection: string,
    /** The key values of the documents being reduced. */
    readonly key: (Json | undefined)[],
    /** Index (since the last drain) of the added document being reduced; undefined while draining. */
    readonly documentIndex: number | undefined,
    override readonly cause: ReduceError,
  ) {
    super(
      `${collection} key ${JSON.stringify(key)}` +
        (documentIndex === undefined ? '' : `, document ${documentIndex}`) +
        `: ${cause.message}`,
    );
    this.name = 'CombineError';
  }
}

/** A spilled run: level 0 = one spill; level L+1 = FANOUT runs of level L merged. */
interface Run {
  file: string;
  level: number;
}

interface Entry {
  /** The packed key (binary string). */
  key: string;
  /** The combined document. */
  doc: Json;
  /** Later documents that could not be combined associatively onto the previous one, in order. */
  more: Json[] | undefined;
  /** Charged heap bytes (document(s) plus overhead). */
  size: number;
}

/** A sorted source of entries for the k-way merge. */
interface Source {
  /** Age: for equal keys, lower seq holds older documents. */
  readonly seq: number;
  current: RunEntry | undefined;
  advance(): void;
  close(): void;
}

class MemorySource implements Source {
  private readonly sorted: Entry[];
  private i = -1;
  current: RunEntry | undefined;
  constructor(
    entries: Map<unknown, Entry>,
    readonly seq: number,
  ) {
    this.sorted = sortedEntries(entries);
    this.advance();
  }
  advance(): void {
    const e = this.sorted[++this.i];
    this.current = e === undefined ? undefined : { key: e.key, docs: docsOf(e) };
  }
  close(): void {}
}

function docsOf(e: Entry): Json[] {
  return e.more === undefined ? [e.doc] : [e.doc, ...e.more];
}

function sortedEntries(entries: Map<unknown, Entry>): Entry[] {
  // Packed keys are binary strings (chars 0..255): UTF-16 comparison is bytewise order.
  return Array.from(entries.values()).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function before(a: Source, b: Source): boolean {
  const ka = a.current!.key;
  const kb = b.current!.key;
  return ka < kb || (ka === kb && a.seq < b.seq);
}

/** K-way merge: each key once, with the documents of all sources in age order. */
function* mergeSources(sources: Source[]): Generator<RunEntry> {
  const heap = sources.filter((s) => s.current !== undefined);
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) return;
      const r = l + 1;
      const m = r < heap.length && before(heap[r], heap[l]) ? r : l;
      if (!before(heap[m], heap[i])) return;
      [heap[m], heap[i]] = [heap[i], heap[m]];
      i = m;
    }
  };
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
  while (heap.length > 0) {
    const top = heap[0];
    const key = top.current!.key;
    let docs = top.current!.docs;
    let first = true;
    while (heap.length > 0 && heap[0].current!.key === key) {
      const s = heap[0];
      if (!first) docs = docs.concat(s.current!.docs);
      first = false;
      s.advance();
      if (s.current === undefined) {
        const last = heap.pop()!;
        if (heap.length > 0) {
          heap[0] = last;
          down(0);
        }
      } else down(0);
    }
    yield { key, docs };
  }
}

export class Combiner {
  readonly collection: CollectionSpec;
  private readonly validator: CompiledSchema | undefined;
  private readonly reducer: Reducer;
  /** `{ ownsLhs }` for every reduction: whether combined documents are ours to update in place. */
  private readonly reduceOpts: ReduceOptions;
  private readonly extractor: KeyExtractor;
  private readonly budget: number;
  private readonly spillBase: string;
  private spillDir: string | undefined;
  private fileCounter = 0;

  /**
   * In-memory entries. With a single-pointer key whose values are scalars (the usual case), the map
   * key is the value itself (cheap to hash); otherwise it is the packed key (see mapKey).
   */
  private entries = new Map<unknown, Entry>();
  private readonly singleKey: readonly string[] | undefined;
  /** singleKey's only token, when it has one. */
  private readonly topKey: string | undefined;
  private packedMapKeys: boolean;
  /** Spilled runs, oldest first; levels never increase from oldest to newest. */
  private runs: Run[] = [];
  private bytes = 0;
  private docsIn = 0;

  constructor(opts: CombinerOptions) {
    this.collection = opts.collection;
    this.validator =
      opts.validate === false ? undefined : opts.registry.validator(opts.collection.writeSchema);
    this.reducer = opts.reducer ?? new Reducer(opts.registry, opts.collection.writeSchema);
    this.reduceOpts = { ownsLhs: opts.ownsDocuments === true };
    this.extractor = keyExtractor(opts.collection.key);
    this.singleKey = opts.collection.key.length === 1 ? parsePointer(opts.collection.key[0]) : undefined;
    this.topKey = this.singleKey?.length === 1 ? this.singleKey[0] : undefined;
    this.packedMapKeys = this.singleKey === undefined;
    this.budget = opts.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET_BYTES;
    if (!(this.budget > 0)) throw new RangeError(`memoryBudgetBytes must be positive, got ${this.budget}`);
    this.spillBase = opts.spillDir ?? tmpdir();
  }

  /**
   * Validates `doc`, extracts its key and partially reduces it into that key's entry.
   * Throws SchemaValidationError (documentIndex = documents added since the last drain, 0-based) or
   * CombineError (a ReduceError with the collection and key). A failed document changes nothing.
   */
  add(doc: Json): void {
    const index = this.docsIn;
    if (this.validator !== undefined && !this.validator.isValid(doc)) this.invalid(doc, index);
    this.combine(doc, index);
    this.docsIn++;
  }

  /**
   * Adds documents in order, like calling add() on each, but validates the whole batch before
   * reducing any of it: running the validator and the reducer in separate loops is ~20 % faster
   * than alternating them per document (each loop keeps its code hot). Validation is all-or-nothing:
   * for an invalid document it throws SchemaValidationError (documentIndex as add() would give it)
   * and adds none of the batch. A CombineError at a document leaves the ones before it added.
   */
  addMany(docs: readonly Json[]): void {
    const first = this.docsIn;
    const v = this.validator;
    if (v !== undefined) {
      for (let i = 0; i < docs.length; i++) if (!v.isValid(docs[i])) this.invalid(docs[i], first + i);
    }
    for (let i = 0; i < docs.length; i++) {
      this.combine(docs[i], first + i);
      this.docsIn++;
    }
  }

  private invalid(doc: Json, documentIndex: number): never {
    const violations = this.validator!.validate(doc);
    throw new SchemaValidationError(violations, { documentIndex, collection: this.collection.name });
  }

  /** Extracts the key of a valid document and partially reduces it into its entry. */
  private combine(doc: Json, index: number): void {
    const mapKey = this.mapKey(doc);
    const size = estimateSize(doc);
    const entry = this.entries.get(mapKey);
    if (entry === undefined) {
      const key = this.packedMapKeys ? (mapKey as string) : this.extractor.packBinary(doc);
      this.entries.set(mapKey, { key, doc, more: undefined, size: size + ENTRY_OVERHEAD + key.length });
      this.bytes += size + ENTRY_OVERHEAD + key.length;
    } else {
      const more = entry.more;
      const lhs = more === undefined ? entry.doc : more[more.length - 1];
      let reduced: Json | undefined;
      // Owned documents: the reducer's fast path for the usual case, else its general reduce.
      if (this.reduceOpts.ownsLhs === true && this.reducer.reduceOwnedFast(lhs, doc)) {
        reduced = lhs;
      } else {
        try {
          reduced = this.reducer.reduce(lhs, doc, false, this.reduceOpts);
        } catch (e) {
          if (e instanceof NotAssociativeError) reduced = undefined;
          else throw this.wrap(e, entry.key, index);
        }
      }
      if (reduced === undefined) {
        // Not associative (or, defensively, a partial reduction that returned nothing): keep both, in order.
        if (more === undefined) entry.more = [doc];
        else more.push(doc);
      } else if (more === undefined) entry.doc = reduced;
      else more[more.length - 1] = reduced;
      entry.size += size;
      this.bytes += size;
    }
    if (this.bytes > this.budget) this.relieve();
  }

  /** The Map key of a document's entry: its scalar key value, or its packed key. */
  private mapKey(doc: Json): unknown {
    if (this.packedMapKeys) return this.extractor.packBinary(doc);
    // A top-level key property (the usual case) is read directly rather than by walking a pointer.
    const top = this.topKey;
    const v = top !== undefined && isObject(doc) ? ownProp(doc, top) : getAt(doc, this.singleKey!);
    if (typeof v !== 'object' || v === null) return v; // Map keys: -0 equals 0, 1 differs from '1'
    // An object or array key (only possible without validation): switch to packed map keys.
    this.packedMapKeys = true;
    const byPacked = new Map<unknown, Entry>();
    for (const e of this.entries.values()) byPacked.set(e.key, e);
    this.entries = byPacked;
    return this.extractor.packBinary(doc);
  }

  stats(): CombinerStats {
    return {
      docsIn: this.docsIn,
      keys: this.entries.size,
      bytesEstimate: this.bytes,
      spilledRuns: this.runs.length,
    };
  }

  /**
   * Drains everything added so far in key order and resets the combiner (see the module comment).
   * full=true: each key fully reduced (deletions applied; a deleted root is yielded with
   * `deleted: true` and the tombstone document). full=false: associative combine only; a key whose
   * documents could not all be combined associatively is yielded several times in a row, in order.
   */
  drain(full: boolean): AsyncIterable<DrainedDoc> {
    const it = this.drainSync(full);
    return {
      async *[Symbol.asyncIterator]() {
        yield* it;
      },
    };
  }

  /** `drain` as a synchronous iterable (spill files are read with synchronous I/O either way). */
  drainSync(full: boolean): Iterable<DrainedDoc> {
    const entries = this.entries;
    const runs = this.runs;
    const dir = this.spillDir;
    this.entries = new Map();
    this.runs = [];
    this.spillDir = undefined;
    this.bytes = 0;
    this.docsIn = 0;
    return this.drainGenerator(entries, runs, dir, full);
  }

  /** Drops everything not drained and deletes spill files. */
  discard(): void {
    this.entries = new Map();
    if (this.spillDir !== undefined) removeQuietly(this.spillDir);
    this.runs = [];
    this.spillDir = undefined;
    this.bytes = 0;
    this.docsIn = 0;
  }

  private *drainGenerator(
    entries: Map<unknown, Entry>,
    runs: Run[],
    dir: string | undefined,
    full: boolean,
  ): Generator<DrainedDoc> {
    const sources: Source[] = [];
    try {
      if (runs.length === 0) {
        for (const e of sortedEntries(entries)) yield* this.reduceGroup(e.key, docsOf(e), full);
        return;
      }
      for (let i = 0; i < runs.length; i++) sources.push(new RunReader(runs[i].file, i));
      sources.push(new MemorySource(entries, runs.length));
      for (const { key, docs } of mergeSources(sources)) yield* this.reduceGroup(key, docs, full);
    } finally {
      for (const s of sources) s.close();
      if (dir !== undefined) removeQuietly(dir);
    }
  }

  /** Reduces one key's documents (in order) into what a drain yields. */
  private *reduceGroup(key: string, docs: Json[], full: boolean): Generator<DrainedDoc> {
    if (full) {
      let acc: Json | undefined;
      for (const d of docs) {
        try {
          acc = this.reducer.reduce(acc, d, true, this.reduceOpts);
        } catch (e) {
          throw this.wrap(e, key, undefined);
        }
      }
      if (acc === undefined) yield new Drained(key, docs[docs.length - 1], true);
      else yield new Drained(key, acc, false);
      return;
    }
    for (const d of this.combinePartial(key, docs)) yield new Drained(key, d, false);
  }

  /**
   * Partially combines documents in order, keeping a new document wherever combining is not associative.
   * `opts`: OWNED when every document was just read from a run file (so is ours), else reduceOpts.
   */
  private combinePartial(key: string, docs: Json[], opts: ReduceOptions = this.reduceOpts): Json[] {
    if (docs.length === 1) return docs;
    const out: Json[] = [docs[0]];
    for (let i = 1; i < docs.length; i++) {
      let reduced: Json | undefined;
      try {
        reduced = this.reducer.reduce(out[out.length - 1], docs[i], false, opts);
      } catch (e) {
        if (!(e instanceof NotAssociativeError)) throw this.wrap(e, key, undefined);
      }
      if (reduced === undefined) out.push(docs[i]);
      else out[out.length - 1] = reduced;
    }
    return out;
  }

  private wrap(e: unknown, key: string, documentIndex: number | undefined): unknown {
    if (!(e instanceof ReduceError)) return e;
    return new CombineError(this.collection.name, unpackKey(Buffer.from(key, 'latin1')), documentIndex, e);
  }

  /** Over budget by the running charge: measure exactly, and spill if really more than half full. */
  private relieve(): void {
    let exact = 0;
    for (const e of this.entries.values()) {
      let size = estimateSize(e.doc) + ENTRY_OVERHEAD + e.key.length;
      if (e.more !== undefined) for (const d of e.more) size += estimateSize(d) + 8;
      e.size = size;
      exact += size;
    }
    this.bytes = exact;
    if (exact > this.budget / 2) this.spill();
  }

  private newRunFile(): string {
    if (this.spillDir === undefined) this.spillDir = mkdtempSync(join(this.spillBase, 'sluice-combine-'));
    return join(this.spillDir, `run-${this.fileCounter++}.jsonl`);
  }

  private spill(): void {
    const writer = new RunWriter(this.newRunFile());
    try {
      for (const e of sortedEntries(this.entries)) writer.write(e.key, docsOf(e));
    } finally {
      writer.close();
    }
    this.runs.push({ file: writer.file, level: 0 });
    this.entries = new Map();
    this.bytes = 0;
    // Like a counter in base FANOUT: merge the newest runs while FANOUT of them share a level, so
    // each document is rewritten O(log(spills)) times and runs stay few. Merging consecutive runs
    // keeps the order of documents.
    for (;;) {
      const n = this.runs.length;
      if (n >= FANOUT && this.runs[n - FANOUT].level === this.runs[n - 1].level) {
        this.mergeRuns(n - FANOUT, this.runs[n - 1].level + 1);
      } else if (n >= MAX_RUNS) {
        this.mergeRuns(0, this.runs[0].level + 1);
      } else break;
    }
  }

  /** Merges runs[from..] into one partially combined run of `level`, in their place. */
  private mergeRuns(from: number, level: number): void {
    const merged = this.runs.slice(from);
    const sources = merged.map((r, i) => new RunReader(r.file, i));
    const writer = new RunWriter(this.newRunFile());
    try {
      // Every document here was parsed from a run file just now: ours to reduce in place.
      for (const { key, docs } of mergeSources(sources))
        writer.write(key, this.combinePartial(key, docs, OWNED));
    } finally {
      writer.close();
      for (const s of sources) s.close();
    }
    for (const r of merged) removeQuietly(r.file);
    this.runs.length = from;
    this.runs.push({ file: writer.file, level });
  }
}
