/**
 * The compiled object merge (shared/reduce/compiled.ts) takes scalar properties the schema knows
 * inline and hands every other case to the general per-property merge. These cases sit on the
 * edges of what it takes: each must give the general loop's result, error and key order, in place
 * and copying alike.
 */
import { describe, expect, it } from 'vitest';
import type { Json, JsonObject } from '../../shared/json/types.ts';
import { ReduceError, Reducer } from '../../shared/reduce/index.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';

const SCHEMA: Json = {
  type: 'object',
  reduce: { strategy: 'merge' },
  properties: {
    n: { reduce: { strategy: 'sum' } },
    hi: { reduce: { strategy: 'maximize' } },
    lo: { reduce: { strategy: 'minimize' } },
    w: { type: 'string' },
    constructor: { reduce: { strategy: 'sum' } },
  },
};

function reducer(): Reducer {
  const registry = new SchemaRegistry({ 'test://compiled/s.schema.json': SCHEMA });
  return new Reducer(registry, 'test://compiled/s.schema.json');
}

/** Reduces rhs into a fresh copy of lhs, copying and in place; both must agree. */
function both(lhs: JsonObject, rhs: JsonObject, full = false): Json | undefined {
  const r = reducer();
  const copied = r.reduce(structuredClone(lhs), rhs, full);
  const owned = r.reduce(structuredClone(lhs), structuredClone(rhs), full, { ownsLhs: true });
  expect(JSON.stringify(owned)).toBe(JSON.stringify(copied));
  return copied;
}

describe('compiled object merge', () => {
  it('sums integers and doubles, including a double sum that lands on an integer', () => {
    expect(both({ n: 1 }, { n: 2 })).toEqual({ n: 3 });
    expect(both({ n: 0.25 }, { n: 0.5 })).toEqual({ n: 0.75 });
    expect(both({ n: 0.5 }, { n: 0.5 })).toEqual({ n: 1 });
  });

  it('sums past 2^53 exactly as the general sum does (int64 through BigInt)', () => {
    const big = 2 ** 53;
    expect(both({ n: big }, { n: 2 })).toEqual({ n: big + 2 });
  });

  it('adds numeric strings as decimals (the general path)', () => {
    expect(both({ n: '0.1' }, { n: '0.2' })).toEqual({ n: '0.3' });
    expect(both({ n: 1 }, { n: '0.5' })).toEqual({ n: '1.5' });
  });

  it('maximizes and minimizes numbers and strings, ties taking rhs, mixed types by JSON order', () => {
    expect(both({ hi: 3, lo: 3 }, { hi: 5, lo: 5 })).toEqual({ hi: 5, lo: 3 });
    expect(both({ hi: 'b', lo: 'b' }, { hi: 'a', lo: 'a' })).toEqual({ hi: 'b', lo: 'a' });
    // Strings order by code point: U+FF5E sorts below U+1F600 though its UTF-16 unit is higher.
    expect(both({ hi: '\uff5e' }, { hi: '😀' })).toEqual({ hi: '😀' });
    // A string is greater than a number in JSON order.
    expect(both({ hi: 1, lo: 1 }, { hi: 'x', lo: 'x' })).toEqual({ hi: 'x', lo: 1 });
  });

  it('adds properties lhs lacks in rhs order, after lhs keys', () => {
    const out = both({ w: 'a' }, { lo: 2, z: 1, n: 4, hi: 1, w: 'b' });
    expect(Object.keys(out as JsonObject)).toEqual(['w', 'lo', 'z', 'n', 'hi']);
    expect(out).toEqual({ w: 'b', lo: 2, z: 1, n: 4, hi: 1 });
  });

  it('does not read a name Object.prototype has as an lhs value', () => {
    expect(both({}, { constructor: 2 })).toEqual({ constructor: 2 });
    expect(both({ constructor: 1 }, { constructor: 2 })).toEqual({ constructor: 3 });
  });

  it('undoes earlier in-place changes when a later property fails', () => {
    const r = reducer();
    const lhs: JsonObject = { w: 'a', n: 1, hi: 2 };
    let err: unknown;
    try {
      r.reduce(lhs, { w: 'b', hi: 9, n: true, extra: 1 }, false, { ownsLhs: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ReduceError);
    expect((err as ReduceError).location).toBe('/n');
    expect(JSON.stringify(lhs)).toBe('{"w":"a","n":1,"hi":2}');
  });

  it('never mutates lhs or rhs when copying', () => {
    const lhs = Object.freeze({ n: 1, hi: 1, w: 'a' });
    const rhs = Object.freeze({ n: 1, hi: 2, w: 'b', lo: 0 });
    expect(reducer().reduce(lhs, rhs, false)).toEqual({ n: 2, hi: 2, w: 'b', lo: 0 });
  });
});
