import { describe, expect, it } from 'vitest';
import type { Json } from '../../shared/json/types.ts';
import { NotAssociativeError, ReduceError, Reducer } from '../../shared/reduce/index.ts';
import { SchemaError, SchemaRegistry } from '../../shared/schema/registry.ts';

function reducer(schema: Json, extra: Record<string, Json> = {}): Reducer {
  const registry = new SchemaRegistry({ 'test://cat/s.schema.json': schema, ...extra });
  return new Reducer(registry, 'test://cat/s.schema.json');
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

describe('errors carry a code, the location and the values', () => {
  it('SumWrongType deep in a document', () => {
    const r = reducer({
      reduce: merge,
      properties: { a: { reduce: merge, properties: { 'b/c': { reduce: merge, items: { reduce: sum } } } } },
    });
    const e = failure(() => r.reduce({ a: { 'b/c': [1, 2] } }, { a: { 'b/c': [1, 'x'] } }, false));
    expect(e.code).toBe('SumWrongType');
    expect(e.location).toBe('/a/b~1c/1');
    expect(e.lhs).toBe(2);
    expect(e.rhs).toBe('x');
    expect(e.message).toContain('"/a/b~1c/1"');
    expect(e.message).toContain('lhs: 2, rhs: "x"');
  });

  it('AppendWrongType for a non-array lhs, MergeWrongType for a scalar rhs', () => {
    const r = reducer({
      reduce: merge,
      properties: { l: { reduce: { strategy: 'append' } }, m: { reduce: merge } },
    });
    const a = failure(() => r.reduce({ l: 'str' }, { l: [1] }, false));
    expect([a.code, a.location, a.lhs, a.rhs]).toEqual(['AppendWrongType', '/l', 'str', [1]]);
    const m = failure(() => r.reduce({ m: {} }, { m: 5 }, true));
    expect([m.code, m.location]).toEqual(['MergeWrongType', '/m']);
  });

  it('NotAssociative for a merge onto another type in a partial reduction; rhs wins in a full one', () => {
    const r = reducer({ reduce: merge, properties: { m: { reduce: merge } } });
    const e = failure(() => r.reduce({ m: [1] }, { m: { a: 1 } }, false));
    expect(e).toBeInstanceOf(NotAssociativeError);
    expect([e.code, e.location]).toEqual(['NotAssociative', '/m']);
    expect(r.reduce({ m: [1] }, { m: { a: 1 } }, true)).toEqual({ m: { a: 1 } });
  });

  it('SumNumericOverflow beyond int64/uint64 and for doubles', () => {
    const r = reducer({ reduce: sum });
    expect(failure(() => r.reduce(2 ** 63, 2 ** 63, false)).code).toBe('SumNumericOverflow');
    expect(failure(() => r.reduce(-(2 ** 63), -1, false)).code).toBe('SumNumericOverflow');
    expect(failure(() => r.reduce(1.7976931348623157e308, 1e308, false)).code).toBe('SumNumericOverflow');
    expect(r.reduce(2 ** 63, -(2 ** 62), false)).toBe(2 ** 62);
    expect(r.reduce(-(2 ** 63), 2 ** 63, false)).toBe(0);
    // Exact where a double holds the sum (2^53 + 2 is one), an overflow where it would round (2^53 + 1).
    expect(r.reduce(2 ** 53, 2, false)).toBe(2 ** 53 + 2);
    const rounded = failure(() => r.reduce(2 ** 53, 1, false));
    expect(rounded.code).toBe('SumNumericOverflow');
    expect(rounded.message).toContain('`format: integer`');
    expect(failure(() => r.reduce(-(2 ** 53), -1, true)).code).toBe('SumNumericOverflow');
  });
});

describe('sum', () => {
  const r = reducer({ type: ['number', 'string'], format: 'number', reduce: sum });

  it('keeps integers exact beyond 2^53 while within int64', () => {
    expect(r.reduce(2 ** 53, 2 ** 53, false)).toBe(2 ** 54);
    expect(r.reduce(9007199254740991, 9007199254740991, false)).toBe(18014398509481982);
  });

  it('adds numeric strings as arbitrary-precision decimals, returning strings', () => {
    // A double joins with 16 significant digits, as Estuary converts it (bigdecimal `{:.15e}`).
    expect(r.reduce('0.1', 0.2, false)).toBe('0.3000000000000000');
    expect(r.reduce('0.1', 2, false)).toBe('2.1');
    expect(r.reduce(0.1, 0.2, false)).toBeCloseTo(0.3, 15);
    expect(r.reduce('12345678901234567890.5', '-0.5', false)).toBe('12345678901234567890.0');
    expect(r.reduce('99999999999999999999999999', '1', false)).toBe('100000000000000000000000000');
    expect(r.reduce(undefined, '7', false)).toBe('7');
  });

  it('rejects non-numeric strings and other types', () => {
    expect(failure(() => r.reduce('1', 'one', false)).code).toBe('SumWrongType');
    expect(failure(() => r.reduce(null, 1, false)).code).toBe('SumWrongType');
    expect(failure(() => r.reduce(1, 'NaN', false)).code).toBe('SumWrongType');
  });
});

describe('strategy selection', () => {
  it('oneOf: the branch the rhs validates against decides', () => {
    const r = reducer({
      reduce: merge,
      properties: {
        v: {
          oneOf: [
            { type: 'integer', reduce: sum },
            { type: 'string', reduce: { strategy: 'maximize' } },
            { type: 'array', reduce: { strategy: 'append' } },
          ],
        },
      },
    });
    expect(r.reduce({ v: 1 }, { v: 2 }, false)).toEqual({ v: 3 });
    expect(r.reduce({ v: 'b' }, { v: 'a' }, false)).toEqual({ v: 'b' });
    expect(r.reduce({ v: [1] }, { v: [2] }, false)).toEqual({ v: [1, 2] });
    expect(failure(() => r.reduce({ v: 'b' }, { v: 5 }, false)).code).toBe('SumWrongType');
  });

  it('anyOf: every valid branch contributes; equal annotations do not conflict', () => {
    const r = reducer({
      anyOf: [
        { type: 'number', reduce: sum },
        { type: 'number', minimum: 0, reduce: sum },
        { type: 'string' },
      ],
    });
    expect(r.reduce(1, 2, false)).toBe(3);
    expect(r.reduce(1, 'x', false)).toBe('x');
  });

  it('if/then/else: CDC deletes (_meta/op = d) delete the root in a full reduction', () => {
    const r = reducer({
      type: 'object',
      properties: { id: { type: 'string' }, n: { type: 'integer', reduce: sum } },
      if: { properties: { _meta: { properties: { op: { const: 'd' } } } } },
      // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
      then: { reduce: { strategy: 'merge', delete: true } },
      else: { reduce: merge },
    });
    const base = { id: 'a', n: 1, name: 'x', _meta: { op: 'c' } };
    const del = { id: 'a', _meta: { op: 'd' } };
    expect(r.reduce(base, { id: 'a', n: 2, _meta: { op: 'u' } }, true)).toEqual({
      id: 'a',
      n: 3,
      name: 'x',
      _meta: { op: 'u' },
    });
    expect(r.reduce(base, del, true)).toBeUndefined();
    expect(r.reduce(undefined, del, true)).toBeUndefined();
    expect(r.reduce(base, del, false)).toEqual({ id: 'a', n: 1, name: 'x', _meta: { op: 'd' } });
    expect(r.rootStrategy(del)).toBe('merge');
  });

  it('allOf and $ref (local and across documents) apply their annotations', () => {
    const r = reducer(
      {
        $defs: { counter: { type: 'integer', reduce: sum } },
        allOf: [{ reduce: merge }],
        properties: {
          a: { $ref: '#/$defs/counter' },
          b: { $ref: 'other.schema.json#/$defs/max' },
          c: { allOf: [{ $ref: 'other.schema.json#/$defs/max' }, { minimum: 0 }] },
        },
      },
      { 'test://cat/other.schema.json': { $defs: { max: { reduce: { strategy: 'maximize' } } } } },
    );
    expect(r.reduce({ a: 1, b: 5, c: 2 }, { a: 2, b: 3, c: 7 }, false)).toEqual({ a: 3, b: 5, c: 7 });
  });

  it('patternProperties and additionalProperties select strategies by property name', () => {
    const r = reducer({
      reduce: merge,
      properties: { fixed: { reduce: { strategy: 'firstWriteWins' } } },
      patternProperties: { '^n_': { reduce: sum } },
      additionalProperties: { reduce: { strategy: 'maximize' } },
    });
    expect(r.reduce({ fixed: 1, n_a: 1, other: 5 }, { fixed: 2, n_a: 2, other: 3, new: 1 }, false)).toEqual({
      fixed: 1,
      n_a: 3,
      other: 5,
      new: 1,
    });
  });

  it('2019-09 tuple items carry annotations per position', () => {
    const r = reducer({
      $schema: 'https://json-schema.org/draft/2019-09/schema',
      reduce: merge,
      items: [{ reduce: sum }, { reduce: { strategy: 'maximize' } }],
      additionalItems: { reduce: { strategy: 'firstWriteWins' } },
    });
    expect(r.reduce([1, 5, 'a'], [2, 3, 'b'], false)).toEqual([3, 5, 'a']);
  });

  it('2019-09 $recursiveRef trees validate and reduce recursively', () => {
    const registry = new SchemaRegistry({
      'test://cat/tree.json': {
        $schema: 'https://json-schema.org/draft/2019-09/schema',
        $recursiveAnchor: true,
        type: 'object',
        reduce: merge,
        properties: {
          n: { type: 'integer', reduce: sum },
          kids: { type: 'object', reduce: merge, additionalProperties: { $recursiveRef: '#' } },
        },
      },
    });
    const v = registry.validator('test://cat/tree.json');
    expect(v.isValid({ n: 1, kids: { a: { n: 2, kids: { b: { n: 3 } } } } })).toBe(true);
    expect(v.isValid({ n: 1, kids: { a: { n: 2, kids: { b: { n: 'x' } } } } })).toBe(false);
    const r = new Reducer(registry, 'test://cat/tree.json');
    expect(
      r.reduce(
        { n: 1, kids: { a: { n: 2 } } },
        { n: 1, kids: { a: { n: 3, kids: { b: { n: 1 } } } } },
        false,
      ),
    ).toEqual({
      n: 2,
      kids: { a: { n: 5, kids: { b: { n: 1 } } } },
    });
  });

  it('ConflictingStrategies when one location activates two strategies', () => {
    const r = reducer({
      reduce: merge,
      properties: { x: { allOf: [{ reduce: sum }, { reduce: { strategy: 'maximize' } }] } },
    });
    const e = failure(() => r.reduce({ x: 1 }, { x: 2 }, false));
    expect(e.code).toBe('ConflictingStrategies');
    expect(e.location).toBe('/x');
    expect(e.message).toContain('sum');
    expect(e.message).toContain('maximize');
    const any = reducer({
      anyOf: [
        { type: 'integer', reduce: sum },
        { minimum: 0, reduce: { strategy: 'minimize' } },
      ],
    });
    expect(any.reduce(1, -2, false)).toBe(-1);
    expect(failure(() => any.reduce(1, 2, false)).code).toBe('ConflictingStrategies');
  });

  it('annotations of one strategy combine their options (Estuary CDC: merge, and merge {delete} when op = d)', () => {
    const r = reducer({
      type: 'object',
      reduce: merge,
      properties: { n: { reduce: sum } },
      if: { properties: { _meta: { properties: { op: { const: 'd' } } } }, required: ['_meta'] },
      // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
      then: { reduce: { strategy: 'merge', delete: true } },
    });
    expect(r.reduce({ n: 1 }, { n: 2, _meta: { op: 'u' } }, true)).toEqual({ n: 3, _meta: { op: 'u' } });
    expect(r.reduce({ n: 1 }, { _meta: { op: 'd' } }, true)).toBeUndefined();
    const keys = reducer({
      allOf: [{ reduce: { strategy: 'merge', key: ['/a'] } }, { reduce: { strategy: 'merge', key: ['/b'] } }],
    });
    expect(failure(() => keys.reduce([], [], false)).code).toBe('ConflictingStrategies');
  });

  it('conditionals work under odd property names and unnormalized URIs', () => {
    const registry = new SchemaRegistry({
      'file:///cat/my schemas/s.json': {
        reduce: merge,
        properties: { 'we/ird %#~é': { oneOf: [{ type: 'integer', reduce: sum }, { type: 'string' }] } },
        additionalProperties: { $ref: '#/$defs/x%20y' },
        $defs: {
          'x y': { anyOf: [{ type: 'integer', reduce: { strategy: 'maximize' } }, { type: 'boolean' }] },
        },
      },
    });
    const r = new Reducer(registry, 'file:///cat/my schemas/s.json');
    expect(r.reduce({ 'we/ird %#~é': 1, m: 5 }, { 'we/ird %#~é': 2, m: 3 }, false)).toEqual({
      'we/ird %#~é': 3,
      m: 5,
    });
    expect(r.reduce({ 'we/ird %#~é': 1, m: 5 }, { 'we/ird %#~é': 'x', m: true }, false)).toEqual({
      'we/ird %#~é': 'x',
      m: true,
    });
    expect(registry.validator('file:///cat/my schemas/s.json#/$defs/x y').isValid(true)).toBe(true);
  });

  it('no annotation: lastWriteWins, also at the root', () => {
    const r = reducer({ type: 'object', properties: { a: { reduce: sum } } });
    expect(r.reduce({ a: 1, b: 1 }, { a: 2 }, false)).toEqual({ a: 2 });
  });
});

describe('lastWriteWins, firstWriteWins', () => {
  it('associative: false is NotAssociative only for unequal values in partial reductions', () => {
    const r = reducer({ reduce: { strategy: 'lastWriteWins', associative: false } });
    expect(r.reduce(1, 1.0, false)).toBe(1);
    expect(r.reduce(undefined, 2, false)).toBe(2);
    expect(failure(() => r.reduce(1, 2, false))).toBeInstanceOf(NotAssociativeError);
    expect(r.reduce(1, 2, true)).toBe(2);
  });

  it('firstWriteWins keeps lhs', () => {
    const r = reducer({ reduce: { strategy: 'firstWriteWins' } });
    expect(r.reduce('a', 'b', false)).toBe('a');
    expect(r.reduce(undefined, 'b', true)).toBe('b');
  });

  it('delete applies only in full reductions, also to rhs-only locations', () => {
    const r = reducer({
      reduce: merge,
      additionalProperties: {
        if: { type: 'null' },
        // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
        then: { reduce: { strategy: 'lastWriteWins', delete: true } },
        else: { reduce: merge },
      },
    });
    expect(r.reduce({ a: { x: 1 } }, { a: null, b: null }, false)).toEqual({ a: null, b: null });
    expect(r.reduce({ a: { x: 1 } }, { a: null, b: null }, true)).toEqual({});
    expect(r.reduce(undefined, { a: null, c: { d: 1 } }, true)).toEqual({ c: { d: 1 } });
  });
});

describe('merge', () => {
  it('keyed merge sorts and de-duplicates both sides, reducing equal keys with nested annotations', () => {
    const r = reducer({
      reduce: { strategy: 'merge', key: ['/k'] },
      items: { reduce: merge, properties: { n: { reduce: sum } } },
    });
    expect(
      r.reduce(
        [
          { k: 'b', n: 1 },
          { k: 'a', n: 1 },
        ],
        [
          { k: 'c', n: 1 },
          { k: 'a', n: 2 },
          { k: 'a', n: 3 },
        ],
        false,
      ),
    ).toEqual([
      { k: 'a', n: 6 },
      { k: 'b', n: 1 },
      { k: 'c', n: 1 },
    ]);
  });

  it('merges objects property by property without mutating inputs', () => {
    const r = reducer({ reduce: merge, properties: { n: { reduce: sum }, o: { reduce: merge } } });
    const lhs = Object.freeze({ n: 1, o: Object.freeze({ a: 1 }), keep: true });
    const rhs = Object.freeze({ n: 2, o: Object.freeze({ b: 2 }) });
    expect(r.reduce(lhs, rhs, false)).toEqual({ n: 3, o: { a: 1, b: 2 }, keep: true });
    expect(lhs).toEqual({ n: 1, o: { a: 1 }, keep: true });
  });

  it('handles a __proto__ property as data', () => {
    const r = reducer({ reduce: merge, additionalProperties: { reduce: sum } });
    const out = r.reduce(
      JSON.parse('{"__proto__": 1}'),
      JSON.parse('{"__proto__": 2, "constructor": 3}'),
      false,
    );
    expect(JSON.stringify(out)).toBe('{"__proto__":3,"constructor":3}');
    expect(({} as Record<string, unknown>).constructor).toBe(Object);
  });
});

describe('minimize / maximize with key', () => {
  it('deep-merges on equal keys; equal missing keys with scalars are MergeWrongType', () => {
    const r = reducer({
      reduce: { strategy: 'maximize', key: ['/1'] },
      prefixItems: [{ reduce: sum }, { type: 'integer' }],
    });
    expect(r.reduce([1, 3], [1, 4], false)).toEqual([1, 4]);
    expect(r.reduce([1, 4], [1, 4, '.'], false)).toEqual([2, 4, '.']);
    expect(r.reduce([1, 4], [5, 2], false)).toEqual([1, 4]);
    expect(failure(() => r.reduce(41, 42, false)).code).toBe('MergeWrongType');
  });
});

describe('set', () => {
  const objects = reducer({
    reduce: { strategy: 'set' },
    additionalProperties: { additionalProperties: { reduce: sum } },
  });
  const arrays = reducer({ reduce: { strategy: 'set', key: [''] } });

  it('(I,A) then (I,A)', () => {
    expect(
      objects.reduce(
        { add: { a: 1, b: 1 }, intersect: { a: 0, b: 0, c: 0 } },
        { add: { d: 1 }, intersect: { b: 5, c: 1 } },
        false,
      ),
    ).toEqual({ add: { b: 1, d: 1 }, intersect: { b: 5, c: 1 } });
    expect(
      arrays.reduce({ add: [1, 2], intersect: [1, 2, 3] }, { add: [4], intersect: [2, 3] }, false),
    ).toEqual({
      add: [2, 4],
      intersect: [2, 3],
    });
  });

  it('(I,A) then (R,A)', () => {
    expect(arrays.reduce({ add: [1, 2], intersect: [1, 2, 3] }, { add: [5], remove: [2, 3] }, false)).toEqual(
      {
        add: [1, 5],
        intersect: [1],
      },
    );
  });

  it('(R,A) then (I,A)', () => {
    expect(
      arrays.reduce({ add: [1, 2], remove: [3, 4] }, { add: [9], intersect: [2, 3, 4, 5] }, false),
    ).toEqual({
      add: [2, 9],
      intersect: [2, 5],
    });
  });

  it('(R,A) then (R,A), with equal added members reduced', () => {
    expect(
      objects.reduce({ add: { a: 1, b: 2 }, remove: { x: 0 } }, { add: { b: 3 }, remove: { a: 0 } }, false),
    ).toEqual({
      add: { b: 5 },
      remove: { a: 0, x: 0 },
    });
  });

  it('full reduction keeps only add', () => {
    expect(arrays.reduce({ add: [1, 2, 3] }, { remove: [2], add: [7] }, true)).toEqual({ add: [1, 3, 7] });
    expect(arrays.reduce(undefined, { remove: [2], add: [3, 1, 3] }, true)).toEqual({ add: [1, 3] });
  });

  it('SetWrongType for unknown properties, intersect with remove, mixed term types', () => {
    for (const [lhs, rhs] of [
      [{ add: [] }, { plus: [] }],
      [{ add: [] }, { intersect: [], remove: [] }],
      [{ add: {} }, { add: [] }],
      [{ add: [] }, 5],
    ] as [Json, Json][]) {
      const e = failure(() => arrays.reduce(lhs, rhs, false));
      expect(e.code, JSON.stringify(rhs)).toBe('SetWrongType');
      expect(e.location).toBe('');
    }
  });
});

describe('jsonSchemaMerge', () => {
  const r = reducer({ reduce: { strategy: 'jsonSchemaMerge' } });

  it('unites types and properties, intersects required, widens bounds', () => {
    expect(
      r.reduce(
        {
          type: 'object',
          required: ['a', 'b'],
          properties: { a: { type: 'integer', minimum: 0, maximum: 5 } },
        },
        { type: 'object', required: ['a'], properties: { a: { type: 'string' }, c: { type: 'boolean' } } },
        false,
      ),
    ).toEqual({
      type: 'object',
      required: ['a'],
      properties: { a: { type: ['integer', 'string'] }, c: { type: 'boolean' } },
    });
    expect(r.reduce({ type: 'integer', maximum: 3 }, { type: 'number', maximum: 9 }, false)).toEqual({
      type: 'number',
      maximum: 9,
    });
  });

  it('falls back to anyOf for other keywords, and rejects non-schemas', () => {
    expect(r.reduce({ pattern: '^a' }, { pattern: '^b' }, false)).toEqual({
      anyOf: [{ pattern: '^a' }, { pattern: '^b' }],
    });
    expect(r.reduce({ anyOf: [{ pattern: '^a' }, { pattern: '^b' }] }, { pattern: '^a' }, false)).toEqual({
      anyOf: [{ pattern: '^a' }, { pattern: '^b' }],
    });
    expect(failure(() => r.reduce({ type: 'string' }, 5, false)).code).toBe('JsonSchemaMergeWrongType');
  });
});

describe('Reducer construction', () => {
  it('reports unknown schemas and invalid annotations as SchemaError', () => {
    const registry = new SchemaRegistry({ 'test://a.json': { properties: { x: { $ref: '#/$defs/nope' } } } });
    expect(() => new Reducer(registry, 'test://missing.json')).toThrow(SchemaError);
    expect(() => new Reducer(registry, 'test://a.json')).toThrow(/does not resolve/);
  });
});
