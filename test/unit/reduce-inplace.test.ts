/**
 * The owning mode (`reduce(lhs, rhs, full, { ownsLhs: true })`): lhs updated in place with the same
 * result as copying, rhs never touched, a failed reduction undone exactly; and the copying mode
 * never touching either input (inputs deep-frozen: any write would throw).
 */
import { describe, expect, it } from 'vitest';
import { isObject, type Json, type JsonObject } from '../../shared/json/types.ts';
import { NotAssociativeError, ReduceError, Reducer } from '../../shared/reduce/index.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';

const OWNS = { ownsLhs: true } as const;
const text = (v: Json | undefined) => JSON.stringify(v);

function reducer(schema: Json): Reducer {
  const registry = new SchemaRegistry({ 'test://inplace/s.schema.json': schema });
  return new Reducer(registry, 'test://inplace/s.schema.json');
}

function deepFreeze<T extends Json>(v: T): T {
  if (Array.isArray(v)) for (const x of v) deepFreeze(x);
  else if (isObject(v)) for (const k of Object.keys(v)) deepFreeze(v[k]);
  return Object.freeze(v);
}

function failure(f: () => unknown): ReduceError {
  try {
    f();
  } catch (e) {
    if (e instanceof ReduceError) return e;
    throw e;
  }
  throw new Error('expected a ReduceError');
}

const merge = { strategy: 'merge' };
const sum = { strategy: 'sum' };
const deleteOnNull = {
  if: { type: 'null' },
  // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
  then: { reduce: { strategy: 'lastWriteWins', delete: true } },
};

/** A schema touching every strategy that builds containers. */
const WIDE: Json = {
  type: 'object',
  reduce: merge,
  properties: {
    n: { reduce: sum },
    m: { reduce: { strategy: 'maximize' } },
    o: {
      reduce: merge,
      properties: { n: { reduce: sum }, deep: { reduce: merge, properties: { n: { reduce: sum } } } },
      additionalProperties: deleteOnNull,
    },
    log: { reduce: { strategy: 'append' } },
    idx: { reduce: merge, items: { reduce: merge, properties: { n: { reduce: sum } } } },
    keyed: {
      reduce: { strategy: 'merge', key: ['/id'] },
      items: { reduce: merge, properties: { n: { reduce: sum }, tags: { reduce: { strategy: 'append' } } } },
    },
    best: { reduce: { strategy: 'maximize', key: ['/k'] }, properties: { n: { reduce: sum } } },
    tags: { reduce: { strategy: 'set', key: [''] } },
    fww: { reduce: { strategy: 'firstWriteWins' } },
  },
};

/** Documents for WIDE, each a fresh tree. */
function wideDocs(): JsonObject[] {
  return [
    {
      n: 1,
      m: 3,
      o: { n: 1, a: 'x', deep: { n: 1 } },
      log: [1],
      idx: [{ n: 1 }],
      keyed: [{ id: 2, n: 1, tags: ['a'] }],
      best: { k: 1, n: 1, x: 'one' },
      tags: { add: [1, 2] },
      fww: { first: true },
    },
    {
      n: 2,
      m: 1,
      o: { n: 2, b: 'y', deep: { n: 2, z: true } },
      log: [2, 3],
      idx: [{ n: 2 }, { n: 5 }],
      keyed: [
        { id: 1, n: 1 },
        { id: 2, n: 2, tags: ['b'] },
      ],
      best: { k: 1, n: 2 },
      tags: { add: [3], remove: [1] },
      fww: { first: false },
      extra: [0],
    },
    {
      n: 3,
      o: { a: null, deep: { n: 3 } },
      log: [4],
      keyed: [
        { id: 2, n: 3, tags: ['c'] },
        { id: 2, n: 4, tags: ['d'] },
        { id: 3, n: 1 },
      ],
      best: { k: 2, n: 1 },
      tags: { intersect: [2, 3, 4] },
    },
  ];
}

describe('in-place reduction (ownsLhs)', () => {
  it('gives the copying results, partial and full, updating lhs in place and leaving rhs alone', () => {
    const r = reducer(WIDE);
    for (const full of [false, true]) {
      // Copying, on deep-frozen documents: a write to either input would throw.
      const frozen = wideDocs().map(deepFreeze);
      let expected: Json | undefined;
      for (const d of frozen) expected = r.reduce(expected, d, full);

      const docs = wideDocs();
      let acc: Json | undefined;
      for (let i = 0; i < docs.length; i++) {
        const rhsBefore = text(docs[i]);
        const out = r.reduce(acc, docs[i], full, OWNS);
        expect(text(docs[i]), `doc ${i} (full ${full}) untouched as rhs`).toBe(rhsBefore);
        if (acc !== undefined) expect(out, 'the root object is updated in place').toBe(acc);
        acc = out;
      }
      expect(text(acc), `full ${full}`).toBe(text(expected));
    }
  });

  it('appends to an owned array in place', () => {
    const r = reducer({ reduce: merge, properties: { log: { reduce: { strategy: 'append' } } } });
    const log = [1];
    const lhs: Json = { log };
    const out = r.reduce(lhs, { log: [2, 3] }, false, OWNS);
    expect(out).toBe(lhs);
    expect(log).toEqual([1, 2, 3]);
  });

  it('a full keyed merge reduces several rhs items of one key into an lhs item without touching rhs', () => {
    const r = reducer(WIDE);
    const lhs: Json = { keyed: [{ id: 2, n: 1, sub: { tags: ['a'] } }] };
    const rhs: Json = {
      keyed: [
        { id: 2, n: 1, tags: ['x'], more: { q: 1 } },
        { id: 2, n: 1, tags: ['y'], more: { q: 2 } },
        { id: 2, n: 1, tags: ['z'] },
      ],
    };
    const rhsBefore = text(rhs);
    const expected = r.reduce(structuredClone(lhs), rhs, true);
    expect(r.reduce(lhs, rhs, true, OWNS)).toEqual(expected);
    expect(text(rhs)).toBe(rhsBefore);
    expect(expected).toEqual({
      keyed: [{ id: 2, n: 4, sub: { tags: ['a'] }, tags: ['x', 'y', 'z'], more: { q: 2 } }],
    });
  });

  it('NotAssociative after in-place changes leaves lhs exactly as it was', () => {
    const r = reducer({
      reduce: merge,
      properties: {
        n: { reduce: sum },
        o: { reduce: merge, properties: { n: { reduce: sum } } },
        log: { reduce: { strategy: 'append' } },
        list: { reduce: merge },
      },
    });
    const lhs: Json = { n: 1, o: { n: 1 }, log: [1], list: 'scalar' };
    const before = text(lhs);
    const e = failure(() =>
      r.reduce(lhs, { n: 1, o: { n: 1, new: true }, log: [2], extra: 1, list: [1] }, false, OWNS),
    );
    expect(e).toBeInstanceOf(NotAssociativeError);
    expect(e.location).toBe('/list');
    expect(text(lhs)).toBe(before);
  });

  it('a failed full reduction restores deleted properties in their places', () => {
    const r = reducer({
      reduce: merge,
      properties: { n: { reduce: sum }, o: { reduce: merge, additionalProperties: deleteOnNull } },
      additionalProperties: deleteOnNull,
    });
    const lhs: Json = { a: 1, b: 2, o: { x: 1, y: 2, z: 3 }, c: 3, n: 1 };
    const before = text(lhs);
    const e = failure(() => r.reduce(lhs, { b: null, o: { y: null, w: 0 }, d: 4, n: 'x' }, true, OWNS));
    expect(e.code).toBe('SumWrongType');
    expect(e.location).toBe('/n');
    expect(text(lhs)).toBe(before);
    // The same reduction without the failure deletes in place.
    const out = r.reduce(lhs, { b: null, o: { y: null, w: 0 }, d: 4 }, true, OWNS);
    expect(out).toBe(lhs);
    expect(text(out)).toBe(text({ a: 1, o: { x: 1, z: 3, w: 0 }, c: 3, n: 1, d: 4 }));
  });

  it('treats __proto__ and inherited names as data, in place and on rollback', () => {
    const r = reducer({ reduce: merge, additionalProperties: { reduce: sum } });
    const lhs = JSON.parse('{"__proto__": 1, "a": 1}') as Json;
    const out = r.reduce(
      lhs,
      JSON.parse('{"__proto__": 2, "constructor": 3, "toString": 4}') as Json,
      false,
      OWNS,
    );
    expect(out).toBe(lhs);
    expect(JSON.stringify(out)).toBe('{"__proto__":3,"a":1,"constructor":3,"toString":4}');
    failure(() =>
      r.reduce(lhs, JSON.parse('{"__proto__": 1, "hasOwnProperty": 1, "a": "x"}') as Json, false, OWNS),
    );
    expect(JSON.stringify(lhs)).toBe('{"__proto__":3,"a":1,"constructor":3,"toString":4}');
    expect(Object.getPrototypeOf(lhs)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).constructor).toBe(Object);
  });

  it('the reducer is reusable after a failure, in both modes', () => {
    const r = reducer({ reduce: merge, properties: { n: { reduce: sum } } });
    const lhs: Json = { n: 1, s: 'a' };
    failure(() => r.reduce(lhs, { s: 'b', n: 'x' }, false, OWNS));
    expect(r.reduce(lhs, { s: 'c', n: 2 }, false, OWNS)).toEqual({ n: 3, s: 'c' });
    expect(r.reduce(deepFreeze({ n: 1 }), deepFreeze({ n: 2 }), false)).toEqual({ n: 3 });
  });

  it('without ownsLhs nothing is mutated, even where a result is further reduced (frozen inputs)', () => {
    const r = reducer(WIDE);
    const [a, b, c] = wideDocs().map(deepFreeze);
    // Results share frozen parts of their inputs; reducing into them must copy again.
    const ab = r.reduce(a, b, false);
    const abc = r.reduce(ab, c, false);
    expect(r.reduce(deepFreeze(abc as JsonObject), a, true)).toBeDefined();
    const [x, y, z] = wideDocs();
    expect(abc).toEqual(r.reduce(r.reduce(x, y, false, OWNS), z, false, OWNS));
  });
});

describe('minimize / maximize of strings inside a merge (the object-merge shortcut)', () => {
  const r = reducer({
    type: 'object',
    reduce: merge,
    properties: { lo: { reduce: { strategy: 'minimize' } }, hi: { reduce: { strategy: 'maximize' } } },
  });
  // U+FF61 sorts before U+1F600 by code point (and UTF-8), after it by UTF-16 code unit.
  const halfwidth = '\uFF61';
  const emoji = '\u{1F600}';

  it('orders by code point, not by UTF-16 code unit, in both modes', () => {
    for (const opts of [undefined, OWNS]) {
      const out = r.reduce({ lo: emoji, hi: halfwidth }, { lo: halfwidth, hi: emoji }, false, opts);
      expect(out).toEqual({ lo: halfwidth, hi: emoji });
      const back = r.reduce({ lo: halfwidth, hi: emoji }, { lo: emoji, hi: halfwidth }, false, opts);
      expect(back).toEqual({ lo: halfwidth, hi: emoji });
    }
  });

  it('keeps the earliest and the latest timestamp', () => {
    const lhs = { lo: '2024-05-01T10:00:00Z', hi: '2024-05-01T10:00:00Z' };
    const out = r.reduce({ ...lhs }, { lo: '2024-05-01T09:00:00Z', hi: '2024-05-01T11:00:00Z' }, false, OWNS);
    expect(out).toEqual({ lo: '2024-05-01T09:00:00Z', hi: '2024-05-01T11:00:00Z' });
  });
});
