/**
 * Associativity: for random schemas combining strategies and random documents valid for them,
 * reducing as a random tree equals the left-to-right fold of full reductions.
 *
 * The reference is the full fold: base = reduce(undefined, d0, full), then each next document
 * fully reduced into it (what a materialization stores). It is compared with:
 *  - partial-then-full: d1..dn combined by partial reductions in a random tree (a NotAssociative
 *    pair is kept as two documents, in order, like the combiner does), the resulting deltas then
 *    fully reduced into the base;
 *  - full-at-the-base: a random tree over d0..dn where every combine that includes the base d0 is a
 *    full reduction and every other combine is partial (full reductions happen at arbitrary points).
 *  - partial fold: d1..dn folded left to right with partial reductions, then fully reduced;
 *  - all-full (schemas without deletions or sets, where full reductions are associative by
 *    themselves): a random tree of full reductions.
 * Every mode runs twice: copying (and then the documents must be exactly as generated: nothing
 * mutated) and owning (`ownsLhs: true` on every reduction, each mode on its own deep copy of the
 * documents, so every lhs is exclusively owned; NotAssociative pairs rely on lhs being restored).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonEqual } from '../../shared/json/compare.ts';
import type { Json, JsonObject } from '../../shared/json/types.ts';
import { NotAssociativeError, type ReduceOptions, Reducer } from '../../shared/reduce/index.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';

/** A generated schema and an arbitrary of documents valid for it. */
interface Gen {
  schema: Json;
  doc: fc.Arbitrary<Json>;
  /** Whether `null` may be wrapped as a delete (if null then lastWriteWins{delete}). */
  nullSafe: boolean;
}

const small = fc.integer({ min: -20, max: 20 });
const word = fc.constantFrom('a', 'b', 'c', 'x', 'yy', 'é', '😀');
const decimalString = fc
  .tuple(fc.integer({ min: -999, max: 999 }), fc.integer({ min: 0, max: 3 }))
  .map(([m, s]) => (s === 0 ? String(m) : (m / 10 ** s).toFixed(s)));
const memberNames = fc.constantFrom('a', 'b', 'c', 'd');

function leaf(): fc.Arbitrary<Gen> {
  return fc.oneof(
    fc.constant<Gen>({
      schema: { type: 'integer', reduce: { strategy: 'sum' } },
      doc: small,
      nullSafe: false,
    }),
    fc.constant<Gen>({
      schema: { type: 'string', format: 'number', reduce: { strategy: 'sum' } },
      doc: decimalString,
      nullSafe: false,
    }),
    fc.constant<Gen>({ schema: { type: ['integer', 'string'] }, doc: fc.oneof(small, word), nullSafe: true }),
    fc.constant<Gen>({
      schema: { reduce: { strategy: 'lastWriteWins', associative: false } },
      doc: fc.oneof(fc.integer({ min: 0, max: 2 }), fc.constantFrom('p', 'q')),
      nullSafe: true,
    }),
    fc.constant<Gen>({
      schema: { reduce: { strategy: 'firstWriteWins' } },
      doc: fc.oneof(small, word),
      nullSafe: false,
    }),
    fc.constantFrom('minimize', 'maximize').map<Gen>((strategy) => ({
      schema: { type: ['integer', 'string', 'boolean'], reduce: { strategy } },
      doc: fc.oneof(small, word, fc.boolean()),
      nullSafe: false,
    })),
    fc.constant<Gen>({
      schema: { type: 'array', items: { type: 'integer' }, reduce: { strategy: 'append' } },
      doc: fc.array(small, { maxLength: 3 }),
      nullSafe: false,
    }),
    fc.constant<Gen>({
      // anyOf decides per document: numbers are summed, numeric strings replace.
      schema: {
        anyOf: [
          { type: 'integer', reduce: { strategy: 'sum' } },
          { type: 'string', format: 'integer', reduce: { strategy: 'lastWriteWins' } },
        ],
      },
      doc: fc.oneof(small, small.map(String)),
      nullSafe: false,
    }),
    fc.constant<Gen>({
      schema: {
        type: 'object',
        reduce: { strategy: 'set', key: [''] },
        properties: Object.fromEntries(
          ['add', 'intersect', 'remove'].map((t) => [t, { type: 'array', items: { type: 'integer' } }]),
        ),
        additionalProperties: false,
        not: { required: ['intersect', 'remove'] },
      },
      doc: setTerms(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 })),
      nullSafe: false,
    }),
  );
}

/** Set values: one of {add}, {add, intersect}, {add, remove}, {intersect}, {remove}. */
function setTerms(term: fc.Arbitrary<Json>): fc.Arbitrary<Json> {
  return fc.tuple(fc.constantFrom('A', 'AI', 'AR', 'I', 'R'), term, term).map(([shape, t1, t2]) => {
    const out: JsonObject = {};
    if (shape.includes('A')) out.add = t1;
    if (shape.includes('I')) out.intersect = t2;
    if (shape.includes('R')) out.remove = t2;
    return out;
  });
}

function objectOf(props: Record<string, Gen>): fc.Arbitrary<JsonObject> {
  return fc.record(
    Object.fromEntries(Object.entries(props).map(([k, g]) => [k, g.doc])) as Record<
      string,
      fc.Arbitrary<Json>
    >,
    { requiredKeys: [] },
  ) as fc.Arbitrary<JsonObject>;
}

function propsSchema(props: Record<string, Gen>): JsonObject {
  return Object.fromEntries(Object.entries(props).map(([k, g]) => [k, g.schema]));
}

/** Wrap as RFC 7396-style: null deletes the location (only where null onto the value is lastWriteWins-safe). */
function nullDeletes(g: Gen): fc.Arbitrary<Gen> {
  if (!g.nullSafe) return fc.constant(g);
  return fc.boolean().map((wrap) =>
    wrap
      ? {
          schema: {
            if: { type: 'null' },
            // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
            then: { reduce: { strategy: 'lastWriteWins', delete: true } },
            else: g.schema,
          },
          doc: fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 3, arbitrary: g.doc }),
          nullSafe: false,
        }
      : g,
  );
}

function gen(depth: number): fc.Arbitrary<Gen> {
  if (depth <= 0) return leaf();
  const child = gen(depth - 1).chain(nullDeletes);
  const props = fc.dictionary(fc.constantFrom('p', 'q', 'r', 's'), child, { minKeys: 1, maxKeys: 3 });
  return fc.oneof(
    { weight: 2, arbitrary: leaf() },
    {
      weight: 4,
      arbitrary: props.map<Gen>((p) => ({
        schema: { type: 'object', reduce: { strategy: 'merge' }, properties: propsSchema(p) },
        doc: objectOf(p),
        nullSafe: true,
      })),
    },
    {
      weight: 1,
      arbitrary: child.map<Gen>((item) => ({
        schema: { type: 'array', reduce: { strategy: 'merge' }, items: item.schema },
        doc: fc.array(item.doc, { maxLength: 3 }),
        nullSafe: true,
      })),
    },
    {
      weight: 2,
      arbitrary: child.map<Gen>((v) => ({
        schema: {
          type: 'array',
          reduce: { strategy: 'merge', key: ['/id'] },
          items: {
            type: 'object',
            required: ['id'],
            reduce: { strategy: 'merge' },
            properties: { id: { type: 'integer' }, v: v.schema },
          },
        },
        doc: fc.array(
          fc.record(
            { id: fc.integer({ min: 0, max: 3 }), v: v.doc },
            { requiredKeys: ['id'] },
          ) as fc.Arbitrary<Json>,
          { maxLength: 3 },
        ),
        nullSafe: true,
      })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom('minimize', 'maximize'), props).map<Gen>(([strategy, p]) => ({
        schema: {
          type: 'object',
          reduce: { strategy, key: ['/k'] },
          required: ['k'],
          properties: { k: { type: 'integer', minimum: 0, maximum: 2 }, ...propsSchema(p) },
        },
        doc: fc.tuple(fc.integer({ min: 0, max: 2 }), objectOf(p)).map(([k, o]) => ({ ...o, k }) as Json),
        nullSafe: false,
      })),
    },
    {
      weight: 1,
      arbitrary: child.map<Gen>((member) => ({
        schema: {
          type: 'object',
          reduce: { strategy: 'set' },
          properties: Object.fromEntries(
            ['add', 'intersect', 'remove'].map((t) => [
              t,
              { type: 'object', additionalProperties: member.schema },
            ]),
          ),
          additionalProperties: false,
          not: { required: ['intersect', 'remove'] },
        },
        doc: setTerms(fc.dictionary(memberNames, member.doc, { maxKeys: 3 }) as fc.Arbitrary<Json>),
        nullSafe: false,
      })),
    },
  );
}

/** A root schema (an object merged by property) and a few sequences of 2..7 documents. */
const caseArb = fc
  .dictionary(fc.constantFrom('a', 'b', 'c', 'd'), gen(2).chain(nullDeletes), { minKeys: 1, maxKeys: 4 })
  .chain((p) =>
    fc.record({
      schema: fc.constant<Json>({
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        reduce: { strategy: 'merge' },
        properties: propsSchema(p),
      }),
      runs: fc.array(
        fc.record({
          docs: fc.array(objectOf(p) as fc.Arbitrary<Json>, { minLength: 2, maxLength: 7 }),
          seed: fc.integer(),
        }),
        { minLength: 1, maxLength: 4 },
      ),
    }),
  );

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The reducer as the folds below use it: copying, or owning every lhs. */
type R = Pick<Reducer, 'reduce' | 'mayPrune'>;
const OWNS: ReduceOptions = { ownsLhs: true };
function owning(r: Reducer): R {
  return { mayPrune: r.mayPrune, reduce: (lhs, rhs, full) => r.reduce(lhs, rhs, full, OWNS) };
}

type Outcome = { ok: true; doc: Json | undefined } | { ok: false; code: string };

function outcome(f: () => Json | undefined): Outcome {
  try {
    return { ok: true, doc: f() };
  } catch (e) {
    if (e instanceof Error && 'code' in e) return { ok: false, code: String((e as { code: unknown }).code) };
    throw e;
  }
}

function fullFold(r: R, docs: Json[]): Json | undefined {
  let acc: Json | undefined;
  for (const d of docs) acc = r.reduce(acc, d, true);
  return acc;
}

/** Partial combine of two delta lists, keeping NotAssociative pairs apart. */
function combine(r: R, left: Json[], right: Json[]): Json[] {
  const out = [...left];
  for (const d of right) {
    if (out.length === 0) {
      out.push(d);
      continue;
    }
    try {
      out[out.length - 1] = r.reduce(out[out.length - 1], d, false) as Json;
    } catch (e) {
      if (!(e instanceof NotAssociativeError)) throw e;
      out.push(d);
    }
  }
  return out;
}

function partialTree(r: R, docs: Json[], next: () => number): Json[] {
  if (docs.length === 1) return [docs[0]];
  const split = 1 + Math.floor(next() * (docs.length - 1));
  return combine(r, partialTree(r, docs.slice(0, split), next), partialTree(r, docs.slice(split), next));
}

function applyFull(r: R, base: Json | undefined, deltas: Json[]): Json | undefined {
  let acc = base;
  for (const d of deltas) acc = r.reduce(acc, d, true);
  return acc;
}

/** A tree over all docs: combines including docs[0] are full, the others partial. */
function baseTree(r: R, docs: Json[], next: () => number): Json | undefined {
  const split = docs.length === 1 ? 1 : 1 + Math.floor(next() * (docs.length - 1));
  const left = split === 1 ? r.reduce(undefined, docs[0], true) : baseTree(r, docs.slice(0, split), next);
  if (split >= docs.length) return left;
  return applyFull(r, left, partialTree(r, docs.slice(split), next));
}

/** Every combine full (meaningful when the schema has no deletions and no sets). */
function fullTree(r: R, docs: Json[], next: () => number): Json | undefined {
  if (docs.length === 1) return r.reduce(undefined, docs[0], true);
  const split = 1 + Math.floor(next() * (docs.length - 1));
  const left = fullTree(r, docs.slice(0, split), next);
  const right = fullTree(r, docs.slice(split), next);
  return right === undefined ? left : r.reduce(left, right, true);
}

function sameOutcome(a: Outcome, b: Outcome): boolean {
  if (a.ok !== b.ok) return false;
  if (!a.ok || !b.ok) return true; // both failed
  return jsonEqual(a.doc, b.doc);
}

function check(schema: Json, runs: { docs: Json[]; seed: number }[]): void {
  const registry = new SchemaRegistry({ 'test://assoc.schema.json': schema });
  const validator = registry.validator('test://assoc.schema.json');
  const r = new Reducer(registry, 'test://assoc.schema.json');
  for (const { docs, seed } of runs) {
    for (const d of docs) expect(validator.validate(d), JSON.stringify(d)).toEqual([]);
    const before = JSON.stringify(docs);
    const expected = outcome(() => fullFold(r, docs));
    expect(expected.ok, `the full fold failed: ${JSON.stringify(expected)}`).toBe(true);
    checkRun(r, () => docs, expected, seed, 'copying');
    expect(JSON.stringify(docs), 'copying reductions mutated their inputs').toBe(before);
    checkRun(owning(r), () => structuredClone(docs), expected, seed, 'owning');
  }
}

/** Each mode against the full fold; `fresh()` gives the documents for one mode. */
function checkRun(r: R, fresh: () => Json[], expected: Outcome, seed: number, how: string): void {
  const next = rng(seed);
  const modes: [string, (docs: Json[]) => Json | undefined][] = [
    [
      'partial-then-full',
      (docs) => applyFull(r, r.reduce(undefined, docs[0], true), partialTree(r, docs.slice(1), next)),
    ],
    ['full-at-the-base', (docs) => baseTree(r, docs, next)],
    // Without deletions and set terms, full reductions are associative on their own.
    ...(r.mayPrune
      ? []
      : [['all-full', (docs) => fullTree(r, docs, next)] as [string, (docs: Json[]) => Json | undefined]]),
    [
      'partial-fold-then-full',
      (docs) =>
        applyFull(
          r,
          r.reduce(undefined, docs[0], true),
          docs.slice(2).reduce<Json[]>((l, d) => combine(r, l, [d]), [docs[1]]),
        ),
    ],
  ];
  for (const [mode, run] of modes) {
    const docs = fresh();
    const got = outcome(() => run(docs));
    expect(
      sameOutcome(expected, got),
      `${how} ${mode}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`,
    ).toBe(true);
  }
}

describe('reduction associativity (property)', () => {
  it('a random tree of reductions equals the left-to-right full fold', () => {
    fc.assert(
      fc.property(caseArb, ({ schema, runs }) => check(schema, runs)),
      { numRuns: 150 },
    );
  });
});

// Shrunk counterexamples found by the property, kept as named regressions.
const nullDeletes2 = (inner: Json): Json => ({
  if: { type: 'null' },
  // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
  then: { reduce: { strategy: 'lastWriteWins', delete: true } },
  else: inner,
});

describe('associativity regressions', () => {
  it('keyed merge: rhs items with equal keys are reduced into the lhs item in order (a delete is not lost)', () => {
    const schema: Json = {
      type: 'object',
      reduce: { strategy: 'merge' },
      properties: {
        b: {
          type: 'array',
          reduce: { strategy: 'merge', key: ['/id'] },
          items: {
            type: 'object',
            reduce: { strategy: 'merge' },
            properties: {
              id: { type: 'integer' },
              v: { type: 'object', reduce: { strategy: 'merge' }, properties: { s: nullDeletes2({}) } },
            },
          },
        },
      },
    };
    const docs: Json[] = [
      { b: [{ id: 3, v: { s: 0 } }] },
      { b: [] },
      { b: [{ id: 3 }, { id: 3, v: { s: null } }] },
      {},
    ];
    check(schema, [{ docs, seed: 0 }]);
    const registry = new SchemaRegistry({ 'test://r1.json': schema });
    const r = new Reducer(registry, 'test://r1.json');
    expect(fullFold(r, docs)).toEqual({ b: [{ id: 3, v: {} }] });
  });

  it('index merge: a deleted array item becomes null instead of shifting later items', () => {
    const schema: Json = {
      type: 'object',
      reduce: { strategy: 'merge' },
      properties: {
        c: { type: 'array', reduce: { strategy: 'merge' }, items: nullDeletes2({ type: 'array' }) },
      },
    };
    const docs: Json[] = [{}, { c: [[], null, []] }, { c: [[], null] }, {}];
    check(schema, [{ docs, seed: 0 }]);
    const registry = new SchemaRegistry({ 'test://r2.json': schema });
    expect(fullFold(new Reducer(registry, 'test://r2.json'), docs)).toEqual({ c: [[], null, []] });
  });
});
