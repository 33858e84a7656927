/**
 * Catalog tests (`tests:` ingest → verify), run offline with Estuary's semantics (../spec/tests.md):
 * each test case starts from empty collections and reset derivations; an ingest step is one
 * transaction, combined by key before anything downstream sees it. Scheduling is Estuary's test
 * driver's (go/testing/action.go `RunTestCase`): before every step, ingest or verify, each derivation
 * reads what is released at the current time, cascading (a derivation reading its own output
 * included); a verify further waits while any derivation that could still write its collection has
 * unread documents, advancing a synthetic clock to release `readDelay`ed ones. Verify compares the
 * fully reduced documents in key order.
 */
import type {
  BuiltCatalog,
  CollectionSpec,
  PartitionSelector,
  TestSpec,
  TestStep,
  TransformSpec,
} from '../catalog/model.ts';
import { matchesPartitions, sourceFilter } from '../catalog/partitions.ts';
import { Combiner } from '../combine/combiner.ts';
import { createDerivationRunner } from '../derive/load-module.ts';
import type { DerivationRunner } from '../derive/runner.ts';
import { SluiceError } from '../errors.ts';
import { isObject, type Json } from '../json/types.ts';
import { metaUuid } from '../meta/uuid.ts';
import { Reducer } from '../reduce/index.ts';
import { Redactor } from '../schema/redact.ts';
import { type SchemaRegistry, SchemaValidationError } from '../schema/registry.ts';
import { thrownAt } from './format.ts';
import { verifyEqual } from './verify-equal.ts';

interface Published {
  doc: Json;
  /** Synthetic publish time, ms. */
  at: number;
  /** Position in the whole test case, across collections: total publish order. */
  seq: number;
}

export interface StepFailure {
  step: number;
  kind: TestStep['kind'];
  collection: string;
  message: string;
  /** Readable expected-vs-actual lines, for a verify mismatch. */
  diff?: string[];
}

export interface TestResult {
  name: string;
  passed: boolean;
  failure?: StepFailure;
  millis: number;
}

/** A failure inside a step, raised by the engine's parts and reported against the step. */
class StepError extends SluiceError {
  constructor(
    message: string,
    readonly diff?: string[],
  ) {
    super(message);
  }
}

/** The collections' redactors (by collection) and the salt: applied as documents enter a collection. */
interface Redaction {
  redactors: Map<string, Redactor>;
  salt: Uint8Array;
}

/** See `TestRunner.session()`. */
export interface EngineSession {
  ingest(collection: string, documents: Json[]): Promise<void>;
  read(collection: string, partitions?: PartitionSelector): Promise<{ docs: Json[]; deleted: Json[] }>;
}

interface DerivationState {
  runner: DerivationRunner;
  transforms: TransformSpec[];
}

export class TestRunner {
  private readonly derivations = new Map<string, DerivationState>();
  /** Per collection, the reducer of its read schema (what a verify reads through, like a materialization). */
  private readonly readReducers = new Map<string, Reducer>();

  private readonly redaction: Redaction;

  private constructor(
    private readonly catalog: BuiltCatalog,
    private readonly registry: SchemaRegistry,
    redactSalt: string,
    private readonly now: () => number,
  ) {
    this.redaction = { redactors: new Map(), salt: Buffer.from(redactSalt, 'utf8') };
  }

  /**
   * `opts.now`: the wall clock each test case's publish clock starts from (default `Date.now`).
   * `opts.redactSalt`: the salt of `redact: {strategy: sha256}` (default empty), so that a verify step can
   * state the hashes a deployment with that salt stores.
   */
  static async create(
    catalog: BuiltCatalog,
    registry: SchemaRegistry,
    opts: { redactSalt?: string; now?: () => number } = {},
  ): Promise<TestRunner> {
    const runner = new TestRunner(catalog, registry, opts.redactSalt ?? '', opts.now ?? Date.now);
    for (const c of Object.values(catalog.collections)) {
      if (!c.derive) continue;
      const d = await createDerivationRunner(catalog, registry, c.name);
      runner.derivations.set(c.name, {
        runner: d,
        transforms: c.derive.transforms.filter((t) => !t.disable),
      });
    }
    return runner;
  }

  /**
   * The offline engine outside a catalog test, for comparing it with another runtime: a fresh test case
   * (empty collections, reset derivations) whose `ingest` is one transaction, as an ingest step, and whose
   * `read` is what a verify step would compare (fully reduced, in key order), plus the deleted keys.
   */
  async session(): Promise<EngineSession> {
    const tc = await this.freshCase();
    return {
      ingest: (collection, documents) => tc.ingest(collection, documents),
      read: (collection, partitions) => tc.reduced(collection, partitions),
    };
  }

  /** A test case with empty collections, its clock at now, every derivation reset. */
  private async freshCase(): Promise<TestCase> {
    for (const d of this.derivations.values()) await d.runner.reset();
    return new TestCase(
      this.catalog,
      this.registry,
      this.derivations,
      this.readReducers,
      this.redaction,
      this.now(),
    );
  }

  async run(test: TestSpec): Promise<TestResult> {
    const started = performance.now();
    const tc = await this.freshCase();
    for (let i = 0; i < test.steps.length; i++) {
      const step = test.steps[i];
      const collection = step.kind === 'ingest' ? step.collection : step.collection.name;
      try {
        if (step.kind === 'ingest') await tc.ingest(step.collection, step.documents);
        else await tc.verify(step.collection.name, step.collection.partitions, step.documents);
      } catch (err) {
        let message = err instanceof Error ? err.message : String(err);
        // What a module's transform threw: where in the module (its stack, with source maps on).
        if ((err as { code?: unknown }).code === 'TransformThrew') {
          const at = thrownAt(err);
          if (at) message += ` (thrown at ${at})`;
        }
        const diff = err instanceof StepError ? err.diff : undefined;
        return {
          name: test.name,
          passed: false,
          failure: { step: i, kind: step.kind, collection, message, diff },
          millis: performance.now() - started,
        };
      }
    }
    return { name: test.name, passed: true, millis: performance.now() - started };
  }
}

class TestCase {
  private readonly logs = new Map<string, Published[]>();
  /** Per `<derivation>\0<transform>`: how many documents of the source log it has read. */
  private readonly cursors = new Map<string, number>();
  /**
   * The publish clock (Unix ms): starts at the wall clock when the test case starts, as Estuary's test
   * cluster publishes (its clock plus the delays advanced), so that `notBefore`/`notAfter` and
   * `flow_published_at` see the times they would deployed; advanced synthetically past read delays.
   */
  private clock: number;
  private seq = 0;

  constructor(
    private readonly catalog: BuiltCatalog,
    private readonly registry: SchemaRegistry,
    private readonly derivations: Map<string, DerivationState>,
    private readonly readReducers: Map<string, Reducer>,
    private readonly redaction: Redaction,
    startMs: number,
  ) {
    this.clock = startMs;
  }

  async ingest(collection: string, documents: Json[]): Promise<void> {
    const spec = this.collection(collection);
    // What earlier steps wrote is processed first, as far as the clock allows (Estuary runs ready
    // stats before an ingest): a derivation crediting from its own output sees the credit in time.
    await this.runReady();
    // Each document is validated as given, then redacted (Estuary's order), then combined.
    const validator = this.registry.validator(spec.writeSchema);
    const combiner = new Combiner({ registry: this.registry, collection: spec, validate: false });
    documents.forEach((doc, i) => {
      try {
        if (!validator.isValid(doc))
          throw new SchemaValidationError(validator.validate(doc), {
            documentIndex: i,
            collection: spec.name,
          });
        const redacted = this.redact(spec, doc);
        if (redacted !== undefined) combiner.add(redacted);
      } catch (err) {
        throw new StepError(`document ${i}: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    await this.publish(spec, combiner, `ingest:${collection}`);
  }

  /**
   * A collection's documents written so far, fully reduced by key in key order (after every derivation
   * that could still write it has read what it may): the live ones, and the keys' documents a full
   * reduction deleted.
   */
  async reduced(
    collection: string,
    partitions: PartitionSelector | undefined,
  ): Promise<{ docs: Json[]; deleted: Json[] }> {
    const spec = this.collection(collection);
    await this.settleFor(collection);
    // Documents are combined on write by the write schema and read (here: fully reduced) by the read schema.
    let reducer = this.readReducers.get(collection);
    if (!reducer) {
      reducer = new Reducer(this.registry, spec.readSchema);
      this.readReducers.set(collection, reducer);
    }
    const combiner = new Combiner({ registry: this.registry, collection: spec, validate: false, reducer });
    for (const p of this.logs.get(collection) ?? []) {
      if (partitions && !matchesPartitions(spec, partitions, p.doc)) continue;
      combiner.add(p.doc);
    }
    const docs: Json[] = [];
    const deleted: Json[] = [];
    for await (const entry of combiner.drain(true)) (entry.deleted ? deleted : docs).push(entry.doc);
    return { docs, deleted };
  }

  async verify(
    collection: string,
    partitions: PartitionSelector | undefined,
    expected: Json[],
  ): Promise<void> {
    const { docs: actual } = await this.reduced(collection, partitions);

    const diff: string[] = [];
    const n = Math.max(actual.length, expected.length);
    for (let i = 0; i < n; i++) {
      if (i >= actual.length) {
        diff.push(`missing expected document at index ${i}: ${JSON.stringify(expected[i])}`);
      } else if (i >= expected.length) {
        diff.push(`unexpected document at index ${i}: ${JSON.stringify(stripMeta(actual[i]))}`);
      } else {
        const d = supersetDiff(expected[i], actual[i], '', true);
        if (d.length > 0) {
          diff.push(`document ${i} differs:`);
          for (const line of d) diff.push(`  ${line}`);
          diff.push(`  expected: ${JSON.stringify(expected[i])}`);
          diff.push(`  actual:   ${JSON.stringify(stripMeta(actual[i]))}`);
        }
      }
    }
    if (diff.length > 0) {
      throw new StepError(
        `verify of ${collection}: expected ${expected.length} document(s), got ${actual.length}`,
        diff,
      );
    }
  }

  /** Run every transform whose next document is released at the current time, cascading; time stands still. */
  private async runReady(): Promise<void> {
    for (;;) {
      const next = this.nextReadable();
      if (next === undefined || next.releaseAt > this.clock) return;
      await this.runTransform(next.derivation, next.transform);
    }
  }

  /**
   * Before a verify of `collection`: run what is ready; while a derivation with unread documents could
   * still write `collection` (itself or through derivations reading it), advance the clock to the next
   * release and run again. Delayed reads that cannot reach `collection` stay pending, as in Estuary.
   */
  private async settleFor(collection: string): Promise<void> {
    for (;;) {
      await this.runReady();
      if (!this.hasPendingWrite(collection)) return;
      const next = this.nextReadable();
      if (next === undefined) return;
      this.clock = Math.max(this.clock, next.releaseAt);
    }
  }

  /** Estuary's `HasPendingWrite`: a derivation with unread source documents leads, through readers, to `collection`. */
  private hasPendingWrite(collection: string): boolean {
    const queue: string[] = [];
    for (const [name, d] of this.derivations) {
      const pending = d.transforms.some((t) => {
        const { log, at } = this.readPosition(name, t);
        return at < log.length;
      });
      if (pending) queue.push(name);
    }
    const visited = new Set(queue);
    while (queue.length > 0) {
      const task = queue.shift()!;
      if (task === collection) return true;
      for (const [name, d] of this.derivations) {
        if (visited.has(name) || !d.transforms.some((t) => t.source.name === task)) continue;
        visited.add(name);
        queue.push(name);
      }
    }
    return false;
  }

  /** A transform's source log and how far into it the transform has read. */
  private readPosition(derivation: string, t: TransformSpec): { log: Published[]; at: number } {
    return { log: this.logs.get(t.source.name) ?? [], at: this.cursors.get(cursorKey(derivation, t)) ?? 0 };
  }

  /**
   * The next transform to run: among transforms with unread documents, those released soonest;
   * among those, the highest priority; then the one whose next document was published first.
   */
  private nextReadable(): { derivation: string; transform: TransformSpec; releaseAt: number } | undefined {
    let best: { derivation: string; transform: TransformSpec; releaseAt: number; seq: number } | undefined;
    for (const [name, d] of this.derivations) {
      for (const t of d.transforms) {
        const { log, at } = this.readPosition(name, t);
        if (at >= log.length) continue;
        const releaseAt = Math.max(this.clock, log[at].at + t.readDelay * 1000);
        const cand = { derivation: name, transform: t, releaseAt, seq: log[at].seq };
        if (
          best === undefined ||
          cand.releaseAt < best.releaseAt ||
          (cand.releaseAt === best.releaseAt &&
            (cand.transform.priority > best.transform.priority ||
              (cand.transform.priority === best.transform.priority && cand.seq < best.seq)))
        ) {
          best = cand;
        }
      }
    }
    return best;
  }

  /** One derivation transaction: every released document of this transform's source. */
  private async runTransform(derivation: string, t: TransformSpec): Promise<void> {
    const d = this.derivations.get(derivation)!;
    const sourceSpec = this.collection(t.source.name);
    const { log, at: from } = this.readPosition(derivation, t);
    let to = from;
    while (to < log.length && log[to].at + t.readDelay * 1000 <= this.clock) to++;
    this.cursors.set(cursorKey(derivation, t), to);
    const docs: Json[] = [];
    // The transform's partition selector and notBefore/notAfter (by the synthetic publish time).
    const reads = sourceFilter(sourceSpec, t.source);
    for (let i = from; i < to; i++) {
      const doc = log[i].doc;
      if (!reads || reads(doc, log[i].at)) docs.push(doc);
    }
    const out = [...(await d.runner.onSource(t.name, docs, from)), ...(await d.runner.flush())];
    // The transaction commits, as in Estuary's test runner: `startCommit` is called (a module may reset
    // per-transaction buffers there), its state update applied in memory.
    await d.runner.startCommit();
    const spec = this.collection(derivation);
    const combiner = new Combiner({ registry: this.registry, collection: spec, validate: false });
    for (const doc of out) {
      const redacted = this.redact(spec, doc);
      if (redacted !== undefined) combiner.add(redacted);
    }
    await this.publish(spec, combiner, `derive:${derivation}:${t.name}`);
  }

  /**
   * A document as it enters a collection: its `redact` annotations applied (before combining, as each
   * document is written, like the local stack and AWS); undefined when its root is blocked.
   */
  private redact(spec: CollectionSpec, doc: Json): Json | undefined {
    let redactor = this.redaction.redactors.get(spec.name);
    if (!redactor) {
      redactor = new Redactor(this.registry, spec.writeSchema, this.catalog.schemas);
      this.redaction.redactors.set(spec.name, redactor);
    }
    return redactor.apply(doc, this.redaction.salt);
  }

  /** Append one combined transaction to a collection's log, stamping `_meta/uuid`. */
  private async publish(spec: CollectionSpec, combiner: Combiner, producer: string): Promise<void> {
    const log = this.logs.get(spec.name) ?? [];
    this.logs.set(spec.name, log);
    for await (const { doc } of combiner.drain(false)) {
      const seq = this.seq++;
      log.push({ doc: withUuid(doc, metaUuid(this.clock, producer, seq)), at: this.clock, seq });
    }
    this.clock += 1; // transactions are ordered in time, too
  }

  private collection(name: string): CollectionSpec {
    const spec = this.catalog.collections[name];
    if (!spec) throw new StepError(`unknown collection ${name}`);
    return spec;
  }
}

function cursorKey(derivation: string, t: TransformSpec): string {
  return `${derivation}\0${t.name}`;
}

function withUuid(doc: Json, uuid: string): Json {
  if (!isObject(doc)) return doc;
  const meta = isObject(doc._meta) ? doc._meta : {};
  return { ...doc, _meta: { ...meta, uuid } };
}

function stripMeta(doc: Json): Json {
  if (!isObject(doc) || !('_meta' in doc)) return doc;
  const { _meta, ...rest } = doc;
  return rest;
}

/**
 * Superset comparison: every field of `expected` must equal the actual one (the actual may have
 * more fields); `_meta` at the root is ignored; numbers compare by value, floats within Estuary's
 * epsilon (verify-equal.ts). Returns readable lines.
 */
export function supersetDiff(expected: Json, actual: Json | undefined, ptr: string, root = false): string[] {
  const at = ptr || '/';
  if (actual === undefined) return [`${at}: missing; expected ${JSON.stringify(expected)}`];
  if (isObject(expected)) {
    if (!isObject(actual))
      return [`${at}: expected an object ${JSON.stringify(expected)}, actual ${JSON.stringify(actual)}`];
    const out: string[] = [];
    for (const [k, v] of Object.entries(expected)) {
      if (root && k === '_meta') continue;
      out.push(...supersetDiff(v, actual[k], `${ptr}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`));
    }
    return out;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual))
      return [`${at}: expected an array ${JSON.stringify(expected)}, actual ${JSON.stringify(actual)}`];
    const out: string[] = [];
    for (let i = 0; i < expected.length; i++)
      out.push(...supersetDiff(expected[i], actual[i], `${ptr}/${i}`));
    if (actual.length > expected.length) {
      out.push(
        `${at}: ${actual.length - expected.length} more item(s) than expected: ${JSON.stringify(actual.slice(expected.length))}`,
      );
    }
    return out;
  }
  return verifyEqual(expected, actual)
    ? []
    : [`${at}: expected ${JSON.stringify(expected)}, actual ${JSON.stringify(actual)}`];
}
