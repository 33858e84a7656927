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

  it('the owned fast path (reduceOwnedFast) gives what reduce gives, key order included, or changes nothing', () => {
    const values: Json[] = [1, 2.5, -0, 0.1, 2 ** 53, '0.1', 'a', 'b', '😀', true, null, { x: 1 }, [1]];
    const names = ['n', 'hi', 'lo', 'w', 'z', 'constructor'];
    let seed = 11;
    const pick = <T>(xs: T[]): T => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return xs[(seed >>> 16) % xs.length];
    };
    // Mostly what the schema expects (so that the fast path applies often), sometimes anything.
    const typical: Record<string, Json[]> = {
      n: [1, 2.5, 0.1, -0, 2 ** 53],
      hi: [1, 2.5, 'a', 'b'],
      lo: ['a', 'b', '😀', 3],
      w: ['a', 'b', 1],
    };
    const object = (most: boolean): JsonObject => {
      const o: JsonObject = {};
      for (const k of names) {
        const usual = typical[k];
        const present = usual === undefined ? [true, false, false, false] : most ? [true] : [true, false];
        if (pick(present))
          o[k] = usual !== undefined && pick([true, true, true, false]) ? pick(usual) : pick(values);
      }
      return o;
    };
    let took = 0;
    for (let i = 0; i < 3000; i++) {
      const lhs = object(pick([true, true, false]));
      const rhs = object(false);
      const full = pick([false, true]);
      let expected: string;
      try {
        expected = JSON.stringify(reducer().reduce(structuredClone(lhs), rhs, full, { ownsLhs: true }));
      } catch {
        expected = 'error';
      }
      const owned = structuredClone(lhs);
      const fast = reducer().reduceOwnedFast(owned, structuredClone(rhs));
      const what = `${JSON.stringify(lhs)} + ${JSON.stringify(rhs)}`;
      if (fast) {
        took++;
        expect(JSON.stringify(owned), what).toBe(expected);
      } else {
        expect(JSON.stringify(owned), what).toBe(JSON.stringify(lhs));
      }
    }
    expect(took).toBeGreaterThan(50);
    // The usual case takes it; a property lhs lacks, or operands it does not add inline, do not.
    const r = reducer();
    const lhs: JsonObject = { w: 'a', n: 1, hi: 'b', lo: 2 };
    expect(r.reduceOwnedFast(lhs, { n: 2, hi: 'c', lo: 1, w: 'a' })).toBe(true);
    expect(JSON.stringify(lhs)).toBe('{"w":"a","n":3,"hi":"c","lo":1}');
    expect(r.reduceOwnedFast(lhs, { n: 2, z: 1 })).toBe(false);
    expect(r.reduceOwnedFast(lhs, { n: '0.5' })).toBe(false);
    expect(r.reduceOwnedFast(lhs, { w: 'b', n: true })).toBe(false);
    expect(JSON.stringify(lhs)).toBe('{"w":"a","n":3,"hi":"c","lo":1}');
  });
});
