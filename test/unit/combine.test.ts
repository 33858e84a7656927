import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CollectionSpec } from '../../shared/catalog/model.ts';
import {
  CombineError,
  Combiner,
  type CombinerOptions,
  type DrainedDoc,
  MAX_RUNS,
} from '../../shared/combine/index.ts';
import { compareJson } from '../../shared/json/compare.ts';
import type { Json, JsonObject } from '../../shared/json/types.ts';
import { unpackKey } from '../../shared/keys/index.ts';
import { Reducer } from '../../shared/reduce/index.ts';
import { SchemaRegistry, SchemaValidationError } from '../../shared/schema/registry.ts';

const S = 'https://json-schema.org/draft/2020-12/schema';

const COUNTS = 'file:///test/combine/counts.schema.json';
const CDC = 'file:///test/combine/cdc.schema.json';
const CDCSUM = 'file:///test/combine/cdc-sum.schema.json';
const LIST = 'file:///test/combine/list.schema.json';
const LOOSE = 'file:///test/combine/loose.schema.json';
const INTKEY = 'file:///test/combine/intkey.schema.json';

const registry = new SchemaRegistry({
  [COUNTS]: {
    $schema: S,
    $id: COUNTS,
    type: 'object',
    reduce: { strategy: 'merge' },
    required: ['id'],
    properties: {
      id: { type: 'string' },
      n: { type: 'integer', reduce: { strategy: 'sum' } },
      m: { type: 'integer', reduce: { strategy: 'maximize' } },
      last: { type: 'string' },
    },
  },
  [CDC]: {
    $schema: S,
    $id: CDC,
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string' }, v: { type: 'integer' } },
    if: { properties: { _meta: { properties: { op: { const: 'd' } } } } },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword
    then: { reduce: { strategy: 'merge', delete: true } },
    else: { reduce: { strategy: 'merge' } },
  },
  [CDCSUM]: {
    $schema: S,
    $id: CDCSUM,
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string' }, n: { type: 'integer', reduce: { strategy: 'sum' } } },
    if: {
      properties: { _meta: { properties: { op: { const: 'd' } }, required: ['op'] } },
      required: ['_meta'],
    },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword
    then: { reduce: { strategy: 'merge', delete: true } },
    else: { reduce: { strategy: 'merge' } },
  },
  [LIST]: {
    $schema: S,
    $id: LIST,
    type: 'object',
    reduce: { strategy: 'merge' },
    required: ['id'],
    properties: {
      id: { type: 'string' },
      list: {
        if: { type: 'null' },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword
        then: { reduce: { strategy: 'lastWriteWins' } },
        else: { type: 'array', reduce: { strategy: 'merge', key: [''] } },
      },
    },
  },
  [LOOSE]: {
    $schema: S,
    $id: LOOSE,
    type: 'object',
    reduce: { strategy: 'merge' },
    properties: { n: { reduce: { strategy: 'sum' } } },
  },
  [INTKEY]: {
    $schema: S,
    $id: INTKEY,
    type: 'object',
    reduce: { strategy: 'merge' },
    required: ['a', 'b'],
    properties: {
      a: { type: 'integer' },
      b: { type: 'boolean' },
      n: { type: 'integer', reduce: { strategy: 'sum' } },
    },
  },
});

function collection(name: string, schema: string, key: string[]): CollectionSpec {
  return {
    name,
    writeSchema: schema,
    readSchema: schema,
    key,
    projections: {},
    source: { file: '/test/flow.yaml', line: 1, col: 1, pointer: `/collections/${name}` },
  };
}

const counts = collection('test/counts', COUNTS, ['/id']);

let spillDir: string;
beforeEach(() => {
  spillDir = mkdtempSync(join(tmpdir(), 'combine-test-'));
});
afterEach(() => {
  rmSync(spillDir, { recursive: true, force: true });
});

function combiner(opts: Partial<CombinerOptions> = {}): Combiner {
  return new Combiner({ registry, collection: counts, spillDir, ...opts });
}

async function drained(c: Combiner, full: boolean): Promise<DrainedDoc[]> {
  const out: DrainedDoc[] = [];
  for await (const d of c.drain(full)) out.push(d);
  return out;
}

/** Files left anywhere under the spill dir. */
function spillFiles(): string[] {
  return readdirSync(spillDir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name);
}

describe('Combiner', () => {
  it('reduces documents by key and drains in key order', async () => {
    const c = combiner();
    const input: Json[] = [
      { id: 'b', n: 1, m: 5 },
      { id: 'é', n: 2 },
      { id: 'a', n: 3, m: 1, last: 'x' },
      { id: 'b', n: 10, m: 2, last: 'y' },
      { id: 'A', n: 7 },
      { id: 'a', n: -1, m: 9 },
    ];
    for (const d of input) c.add(d);
    expect(c.stats()).toMatchObject({ docsIn: 6, keys: 4, spilledRuns: 0 });
    const out = await drained(c, true);
    expect(out.map((d) => unpackKey(d.key))).toEqual([['A'], ['a'], ['b'], ['é']]);
    expect(out.map((d) => d.doc)).toEqual([
      { id: 'A', n: 7 },
      { id: 'a', n: 2, m: 9, last: 'x' },
      { id: 'b', n: 11, m: 5, last: 'y' },
      { id: 'é', n: 2 },
    ]);
    expect(out.every((d) => !d.deleted)).toBe(true);
  });

  it('orders composite integer/boolean keys by value', async () => {
    const c = combiner({ collection: collection('test/int', INTKEY, ['/a', '/b']) });
    for (const [a, b] of [
      [10, true],
      [9, false],
      [-1, true],
      [10, false],
      [9, false],
      [2.0, true],
    ] as const) {
      c.add({ a, b, n: 1 });
    }
    const out = await drained(c, true);
    expect(out.map((d) => d.doc)).toEqual([
      { a: -1, b: true, n: 1 },
      { a: 2, b: true, n: 1 },
      { a: 9, b: false, n: 2 },
      { a: 10, b: false, n: 1 },
      { a: 10, b: true, n: 1 },
    ]);
  });

  it('keeps deletion tombstones in a partial drain and applies them in a full drain', async () => {
    const cdc = collection('test/cdc', CDC, ['/id']);
    // Every document carries _meta/op, as CDC documents do (without it the `if` holds vacuously).
    const docs: Json[] = [
      { id: 'k1', v: 1, _meta: { op: 'c' } },
      { id: 'k2', v: 2, _meta: { op: 'c' } },
      { id: 'k1', _meta: { op: 'd' } },
      { id: 'k3', v: 3, _meta: { op: 'c' } },
      { id: 'k3', _meta: { op: 'd' } },
      { id: 'k3', v: 4, _meta: { op: 'c' } },
    ];
    const p = combiner({ collection: cdc });
    for (const d of docs) p.add(d);
    const partial = await drained(p, false);
    // k3's document after its deletion is kept apart from the tombstone, in order: folded into it, it
    // would carry on from the deleted document's state (see the next test).
    expect(partial.map((d) => [d.doc, d.deleted])).toEqual([
      [{ id: 'k1', v: 1, _meta: { op: 'd' } }, false],
      [{ id: 'k2', v: 2, _meta: { op: 'c' } }, false],
      [{ id: 'k3', v: 3, _meta: { op: 'd' } }, false],
      [{ id: 'k3', v: 4, _meta: { op: 'c' } }, false],
    ]);

    const f = combiner({ collection: cdc });
    for (const d of docs) f.add(d);
    const full = await drained(f, true);
    expect(full.map((d) => [unpackKey(d.key)[0], d.deleted])).toEqual([
      ['k1', true],
      ['k2', false],
      ['k3', false],
    ]);
    expect((full[0].doc as JsonObject).id).toBe('k1');
    expect(full[1].doc).toEqual({ id: 'k2', v: 2, _meta: { op: 'c' } });
    expect(full[2].doc).toEqual({ id: 'k3', v: 4, _meta: { op: 'c' } });
  });

  it('a key deleted and created again starts afresh, however its documents are grouped', async () => {
    // Sums of a document deleted and created anew: reduced into a base one at a time (as a materialization
    // or a reduced view applies separate transactions) the new document starts from nothing; combined
    // first (a test's verify, a backfill, one transaction) it must too. Before, the combiner folded the
    // new document into the tombstone and its sum went on from the deleted one's: n 107, not 7.
    const cdc = collection('test/cdc-sum', CDCSUM, ['/id']);
    const docs: Json[] = [
      { id: 'a', n: 100 },
      { id: 'a', _meta: { op: 'd' } },
      { id: 'a', n: 7 },
      { id: 'b', n: 1 },
      { id: 'b', _meta: { op: 'd' } },
    ];
    const full = combiner({ collection: cdc });
    for (const d of docs) full.add(d);
    expect((await drained(full, true)).map((d) => [d.doc, d.deleted])).toEqual([
      [{ id: 'a', n: 7 }, false],
      [{ id: 'b', n: 1, _meta: { op: 'd' } }, true],
    ]);
    // One at a time into a base, with the reducer a materialization uses.
    const reducer = new Reducer(registry, CDCSUM);
    let base: Json | undefined;
    for (const d of docs.slice(0, 3)) base = reducer.reduce(base, d, true);
    expect(base).toEqual({ id: 'a', n: 7 });
    // Partially combined (a transaction), then fully reduced: the same.
    const partial = combiner({ collection: cdc });
    for (const d of docs.slice(0, 3)) partial.add(d);
    const combined = await drained(partial, false);
    expect(combined.map((d) => d.doc)).toEqual([
      { id: 'a', n: 100, _meta: { op: 'd' } },
      { id: 'a', n: 7 },
    ]);
    let again: Json | undefined;
    for (const d of combined) again = reducer.reduce(again, d.doc, true);
    expect(again).toEqual({ id: 'a', n: 7 });
  });

  it('keeps documents that cannot be combined associatively, in order', async () => {
    const col = collection('test/list', LIST, ['/id']);
    const docs: Json[] = [
      { id: 'a', list: [5, 9] },
      { id: 'a', list: [7] },
      { id: 'a', list: null },
      { id: 'a', list: [1, 2] }, // merge onto null: NotAssociative in partial mode
      { id: 'a', list: [3] },
    ];
    const p = combiner({ collection: col });
    for (const d of docs) p.add(d);
    expect(p.stats().keys).toBe(1);
    expect((await drained(p, false)).map((d) => d.doc)).toEqual([
      { id: 'a', list: null },
      { id: 'a', list: [1, 2, 3] },
    ]);

    const f = combiner({ collection: col });
    for (const d of docs) f.add(d);
    expect((await drained(f, true)).map((d) => d.doc)).toEqual([{ id: 'a', list: [1, 2, 3] }]);
  });

  it('rejects an invalid document with its index and the collection, keeping the rest', async () => {
    const c = combiner();
    c.add({ id: 'a', n: 1 });
    c.add({ id: 'a', n: 2 });
    let caught: unknown;
    try {
      c.add({ id: 'a', n: 'three' });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(SchemaValidationError);
    const err = caught as SchemaValidationError;
    expect(err.documentIndex).toBe(2);
    expect(err.collection).toBe('test/counts');
    expect(err.violations.map((v) => v.instancePath)).toContain('/n');
    expect(() => c.add({ n: 1 })).toThrow(SchemaValidationError); // key missing: required
    expect((await drained(c, true)).map((d) => d.doc)).toEqual([{ id: 'a', n: 3 }]);
  });

  it('wraps reduction errors with the collection, key and document index', async () => {
    const c = combiner({ collection: collection('test/loose', LOOSE, ['/id']), validate: false });
    c.add({ id: 'k', n: 1 });
    c.add({ id: 'other', n: 1 });
    let caught: unknown;
    try {
      c.add({ id: 'k', n: 'whoops' });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(CombineError);
    const err = caught as CombineError;
    expect(err.code).toBe('CombineReduceFailed');
    expect(err.collection).toBe('test/loose');
    expect(err.key).toEqual(['k']);
    expect(err.documentIndex).toBe(2);
    expect(err.cause.code).toBe('SumWrongType');
    expect(err.cause.location).toBe('/n');
    expect(err.message).toContain('test/loose key ["k"], document 2');
  });

  it('is empty and reusable after a drain', async () => {
    const c = combiner();
    c.add({ id: 'a', n: 1 });
    const first = c.drain(true);
    c.add({ id: 'b', n: 2 }); // goes to the next generation, even before the first is iterated
    expect((await drainAll(first)).map((d) => d.doc)).toEqual([{ id: 'a', n: 1 }]);
    expect(c.stats()).toMatchObject({ docsIn: 1, keys: 1 });
    expect((await drained(c, true)).map((d) => d.doc)).toEqual([{ id: 'b', n: 2 }]);
    expect(await drained(c, true)).toEqual([]);
  });

  it('handles object and array key values (possible without validation) in key order', async () => {
    const c = combiner({ collection: collection('test/loose', LOOSE, ['/id']), validate: false });
    const docs: Json[] = [
      { id: 'a', n: 1 },
      { id: 2, n: 1 },
      { id: { x: 1 }, n: 1 },
      { id: 'a', n: 1 },
      { id: [1], n: 1 },
      { id: { x: 1 }, n: 5 },
      { n: 7 },
      { id: 2.0, n: 1 },
    ];
    for (const d of docs) c.add(d);
    expect(c.stats().keys).toBe(5);
    const out = await drained(c, true);
    expect(out.map((d) => unpackKey(d.key)[0])).toEqual([undefined, 2, 'a', [1], { x: 1 }]);
    expect(out.map((d) => (d.doc as JsonObject).n)).toEqual([7, 2, 2, 1, 6]);
  });

  it('addMany equals add one by one, and validates the whole batch before adding any', async () => {
    const { input, sorted } = workload(3_000, 300, 9);
    const one = combiner();
    for (const d of input) one.add(d);
    const many = combiner();
    for (let i = 0; i < input.length; i += 256) many.addMany(input.slice(i, i + 256));
    expect(many.stats()).toEqual(one.stats());
    expect((await drained(many, true)).map((d) => d.doc)).toEqual(sorted);

    const c = combiner();
    c.addMany([{ id: 'a', n: 1 }]);
    let caught: unknown;
    try {
      c.addMany([
        { id: 'a', n: 10 },
        { id: 'b', n: 1 },
        { id: 'c', n: 'bad' },
      ]);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(SchemaValidationError);
    expect((caught as SchemaValidationError).documentIndex).toBe(3);
    expect(c.stats().docsIn).toBe(1);
    expect((await drained(c, true)).map((d) => d.doc)).toEqual([{ id: 'a', n: 1 }]);
  });

  it('rejects a non-positive budget', () => {
    expect(() => combiner({ memoryBudgetBytes: 0 })).toThrow(RangeError);
  });
});

async function drainAll(it: AsyncIterable<DrainedDoc>): Promise<DrainedDoc[]> {
  const out: DrainedDoc[] = [];
  for await (const d of it) out.push(d);
  return out;
}

/** Deterministic pseudo-random documents and their expected reduction, computed independently. */
function workload(docs: number, keys: number, seed: number) {
  let s = seed;
  const rand = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  const input: JsonObject[] = [];
  const expected = new Map<string, { n: number; m: number; last: string }>();
  for (let i = 0; i < docs; i++) {
    const id = `key-${Math.floor(rand() * keys)}`;
    const n = Math.floor(rand() * 100) - 50;
    const m = Math.floor(rand() * 1000);
    const last = `v${i}-${'z'.repeat(Math.floor(rand() * 40))}`;
    input.push({ id, n, m, last });
    const e = expected.get(id);
    if (e === undefined) expected.set(id, { n, m, last });
    else expected.set(id, { n: e.n + n, m: Math.max(e.m, m), last });
  }
  const sorted = [...expected.entries()]
    .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    .map(([id, e]) => ({ id, ...e }));
  return { input, sorted };
}

describe('Combiner spilling', () => {
  it('spills sorted runs over budget, merges them in order, and removes the files', async () => {
    const budget = 64 * 1024;
    const c = combiner({ memoryBudgetBytes: budget });
    const { input, sorted } = workload(20_000, 3_000, 1);
    let maxRuns = 0;
    for (const d of input) {
      c.add(d);
      const st = c.stats();
      expect(st.bytesEstimate).toBeLessThanOrEqual(budget);
      maxRuns = Math.max(maxRuns, st.spilledRuns);
    }
    expect(maxRuns).toBeGreaterThan(1);
    expect(spillFiles().length).toBeGreaterThan(0);
    const out = await drained(c, true);
    expect(out.map((d) => d.doc)).toEqual(sorted);
    expect(spillFiles()).toEqual([]);
  });

  it('merges runs as they accumulate, never keeping more than MAX_RUNS, with exact results', async () => {
    const c = combiner({ memoryBudgetBytes: 8 * 1024 });
    const { input, sorted } = workload(30_000, 20_000, 2);
    let maxRuns = 0;
    let compactions = 0;
    let prev = 0;
    for (const d of input) {
      c.add(d);
      const runs = c.stats().spilledRuns;
      if (runs < prev) compactions++;
      prev = runs;
      maxRuns = Math.max(maxRuns, runs);
    }
    expect(maxRuns).toBeLessThanOrEqual(MAX_RUNS);
    expect(compactions).toBeGreaterThan(0);
    const out = await drained(c, true);
    expect(out.length).toBe(sorted.length);
    expect(out.map((d) => d.doc)).toEqual(sorted);
  });

  it('partial drain after spilling yields each key once, combined', async () => {
    const c = combiner({ memoryBudgetBytes: 32 * 1024 });
    const { input, sorted } = workload(10_000, 1_000, 3);
    for (const d of input) c.add(d);
    expect(c.stats().spilledRuns).toBeGreaterThan(0);
    expect((await drained(c, false)).map((d) => d.doc)).toEqual(sorted);
  });

  it('keeps non-associative documents in order across spilled runs', async () => {
    const col = collection('test/list', LIST, ['/id']);
    const mk = () => combiner({ collection: col, memoryBudgetBytes: 16 * 1024 });
    const filler = (i: number): Json => ({ id: `f${i}`, list: [i] });
    const feed = (c: Combiner) => {
      c.add({ id: 'a', list: [5, 9] });
      c.add({ id: 'a', list: null });
      for (let i = 0; i < 500; i++) c.add(filler(i));
      expect(c.stats().spilledRuns).toBeGreaterThan(0);
      c.add({ id: 'a', list: [1, 2] });
      for (let i = 500; i < 1000; i++) c.add(filler(i));
      c.add({ id: 'a', list: [0] });
    };
    const p = mk();
    feed(p);
    const partial = (await drained(p, false)).filter((d) => unpackKey(d.key)[0] === 'a');
    expect(partial.map((d) => d.doc)).toEqual([
      { id: 'a', list: null },
      { id: 'a', list: [0, 1, 2] },
    ]);
    const f = mk();
    feed(f);
    const full = await drained(f, true);
    expect(full.length).toBe(1001);
    expect(full[0].doc).toEqual({ id: 'a', list: [0, 1, 2] });
  });

  it('round-trips every kind of key through spill files, in key order', async () => {
    const ids: Json[] = [
      'é',
      '\u0000',
      'a\u0000b',
      '😀',
      '\uffff',
      '',
      3,
      -1.5,
      0,
      true,
      false,
      null,
      [1, 'x'],
      { k: 'é' },
    ];
    const c = combiner({
      collection: collection('test/loose', LOOSE, ['/id']),
      validate: false,
      memoryBudgetBytes: 2 * 1024,
    });
    for (let round = 0; round < 20; round++) {
      for (const id of ids) c.add({ id, n: 1, pad: 'x'.repeat(100) });
    }
    c.add({ n: 1 }); // missing key
    expect(c.stats().spilledRuns).toBeGreaterThan(0);
    const out = await drained(c, true);
    const keys = out.map((d) => unpackKey(d.key)[0]);
    // (Array.prototype.sort moves undefined last without comparing: the missing key goes first by hand.)
    const expected = [undefined, ...[...ids].sort((a, b) => compareJson(a, b))];
    expect(keys).toEqual(expected);
    expect(out.map((d) => (d.doc as JsonObject).n)).toEqual(expected.map((k) => (k === undefined ? 1 : 20)));
    // The binary-string form of each key is its Buffer's bytes, and orders the same way.
    expect(out.map((d) => d.packedKey)).toEqual(out.map((d) => d.key.toString('latin1')));
    const packed = out.map((d) => d.packedKey);
    expect([...packed].sort()).toEqual(packed);
  });

  it('removes spill files when a drain is abandoned, or on discard', async () => {
    const c = combiner({ memoryBudgetBytes: 16 * 1024 });
    const { input } = workload(5_000, 2_000, 4);
    for (const d of input) c.add(d);
    expect(spillFiles().length).toBeGreaterThan(0);
    for await (const _ of c.drain(true)) break;
    expect(spillFiles()).toEqual([]);

    for (const d of input) c.add(d);
    expect(spillFiles().length).toBeGreaterThan(0);
    c.discard();
    expect(spillFiles()).toEqual([]);
    expect(c.stats()).toEqual({ docsIn: 0, keys: 0, bytesEstimate: 0, spilledRuns: 0 });
  });
});

function deepFreeze<T extends Json>(v: T): T {
  if (Array.isArray(v)) for (const x of v) deepFreeze(x);
  else if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) deepFreeze(v[k]);
  return Object.freeze(v);
}

/** Each drained document as JSON text (values and property order), with its deleted flag. */
async function drainedText(c: Combiner, full: boolean): Promise<string[]> {
  return (await drained(c, full)).map((d) => `${d.deleted ? 'deleted ' : ''}${JSON.stringify(d.doc)}`);
}

describe('Combiner ownsDocuments', () => {
  const cases: [string, CollectionSpec, () => Json[], number | undefined][] = [
    ['counts', counts, () => workload(3_000, 300, 9).input, undefined],
    ['counts, spilling', counts, () => workload(6_000, 2_000, 10).input, 16 * 1024],
    [
      'non-associative lists',
      collection('test/list', LIST, ['/id']),
      (): Json[] => [
        { id: 'a', tag: 'one', list: [5, 9] },
        { id: 'b', list: [1] },
        { id: 'a', tag: 'two', list: null },
        { id: 'a', tag: 'three', list: [1, 2] }, // NotAssociative: 'a' is restored after `tag` was set
        { id: 'b', list: [0, 1, 3] },
        { id: 'a', tag: 'four', list: [3] },
      ],
      undefined,
    ],
    [
      'CDC deletions',
      collection('test/cdc', CDC, ['/id']),
      (): Json[] => [
        { id: 'k1', v: 1, _meta: { op: 'c' } },
        { id: 'k1', v: 2, _meta: { op: 'u', extra: [1] } },
        { id: 'k1', _meta: { op: 'd' } },
        { id: 'k2', v: 3, _meta: { op: 'c' } },
        { id: 'k2', _meta: { op: 'd' } },
        { id: 'k2', v: 4, _meta: { op: 'c' } },
      ],
      undefined,
    ],
  ];

  for (const [name, col, docs, budget] of cases) {
    it(`drains like the copying combiner, which never mutates its (frozen) inputs: ${name}`, async () => {
      for (const full of [false, true]) {
        const copying = combiner({ collection: col, memoryBudgetBytes: budget });
        copying.addMany(docs().map(deepFreeze)); // a write to an input would throw
        const owning = combiner({ collection: col, memoryBudgetBytes: budget, ownsDocuments: true });
        owning.addMany(docs());
        if (budget !== undefined) expect(owning.stats().spilledRuns).toBeGreaterThan(0);
        expect(await drainedText(owning, full), `full ${full}`).toEqual(await drainedText(copying, full));
      }
    });
  }

  it('updates combined documents in place: an added document may change', async () => {
    const c = combiner({ ownsDocuments: true });
    const first: JsonObject = { id: 'a', n: 1 };
    c.add(first);
    c.add({ id: 'a', n: 2, last: 'x' });
    expect(first).toEqual({ id: 'a', n: 3, last: 'x' });
    expect((await drained(c, true))[0].doc).toBe(first);
  });

  it('a document that fails to reduce changes nothing', async () => {
    const c = combiner({
      collection: collection('test/loose', LOOSE, ['/id']),
      validate: false,
      ownsDocuments: true,
    });
    c.add({ id: 'k', n: 1, s: 'a' });
    expect(() => c.add({ id: 'k', s: 'b', n: 'whoops' })).toThrow(CombineError);
    c.add({ id: 'k', n: 2 });
    expect(await drainedText(c, true)).toEqual([JSON.stringify({ id: 'k', n: 3, s: 'a' })]);
  });
});
