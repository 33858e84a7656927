/**
 * Every unit vector of /shared/spec/reductions.md, as table tests (rows cumulative), run twice: copying
 * (inputs must stay untouched) and owning lhs (`ownsLhs`: lhs updated in place; rhs untouched, and a
 * failed row leaves lhs exactly as it was).
 */
import { describe, expect, it } from 'vitest';
import type { Json } from '../../shared/json/types.ts';
import { NotAssociativeError, ReduceError, Reducer } from '../../shared/reduce/index.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';

type Row =
  | { p: Json; expect: Json }
  | { f: Json; expect: Json }
  | { p: Json; error: string }
  | { f: Json; error: string };

/** JSON text: compares values and property order. */
const text = (v: Json | undefined) => JSON.stringify(v);

function run(schema: Json, rows: Row[]): void {
  runMode(schema, rows, false);
  runMode(schema, rows, true);
}

function runMode(schema: Json, rows: Row[], ownsLhs: boolean): void {
  const registry = new SchemaRegistry({ 'test://vectors.schema.json': schema });
  const reducer = new Reducer(registry, 'test://vectors.schema.json');
  const mode = ownsLhs ? 'owning' : 'copying';
  let lhs: Json | undefined;
  rows.forEach((row, i) => {
    const full = 'f' in row;
    // Owning: lhs is the previous result, made of earlier rows' values; give each row a fresh rhs so
    // that lhs shares nothing with anything else.
    const rhs = structuredClone('f' in row ? row.f : row.p);
    const lhsBefore = text(lhs);
    const rhsBefore = text(rhs);
    if ('error' in row) {
      let caught: unknown;
      try {
        reducer.reduce(lhs, rhs, full, { ownsLhs });
      } catch (e) {
        caught = e;
      }
      expect(caught, `${mode} row ${i}`).toBeInstanceOf(ReduceError);
      expect((caught as ReduceError).code, `${mode} row ${i}`).toBe(row.error);
      if (row.error === 'NotAssociative') expect(caught).toBeInstanceOf(NotAssociativeError);
      expect(text(lhs), `${mode} row ${i}: a failed reduction leaves lhs as it was`).toBe(lhsBefore);
      expect(text(rhs), `${mode} row ${i}: rhs untouched`).toBe(rhsBefore);
      return;
    }
    const out = reducer.reduce(lhs, rhs, full, { ownsLhs });
    expect(out, `${mode} row ${i}: ${lhsBefore} + ${rhsBefore}`).toEqual(row.expect);
    expect(text(rhs), `${mode} row ${i}: rhs untouched`).toBe(rhsBefore);
    if (!ownsLhs) expect(text(lhs), `${mode} row ${i}: lhs untouched`).toBe(lhsBefore);
    lhs = out;
  });
}

describe('reductions.md unit vectors', () => {
  it('sum', () => {
    run({ reduce: { strategy: 'sum' } }, [
      { p: 0, expect: 0 },
      { p: 123, expect: 123 },
      { p: 45, expect: 168 },
      { p: -70, expect: 98 },
      { p: 0.1, expect: 98.1 },
      { p: -98.1, expect: 0 },
      { p: 'whoops', error: 'SumWrongType' },
    ]);
  });

  it('sum over numeric strings', () => {
    run({ type: ['string', 'integer'], format: 'integer', reduce: { strategy: 'sum' } }, [
      { p: '1', expect: '1' },
      { p: '9000000000000000000', expect: '9000000000000000001' },
      { p: 1233, expect: '9000000000000001234' },
    ]);
  });

  it('append (if null then lastWriteWins else append)', () => {
    run(
      {
        if: { type: 'null' },
        // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
        then: { reduce: { strategy: 'lastWriteWins' } },
        else: { reduce: { strategy: 'append' } },
      },
      [
        { p: [], expect: [] },
        { p: [0, 1], expect: [0, 1] },
        { p: [2, 3, 4], expect: [0, 1, 2, 3, 4] },
        { p: {}, error: 'AppendWrongType' },
        { p: null, expect: null },
        { p: [5, 6], expect: null },
      ],
    );
  });

  it('merge without key, items maximize', () => {
    run({ reduce: { strategy: 'merge' }, items: { reduce: { strategy: 'maximize' } } }, [
      { p: [0, 1, 0], expect: [0, 1, 0] },
      { p: [3, 0, 2], expect: [3, 1, 2] },
      { p: [-1, 0, 4, 'a'], expect: [3, 1, 4, 'a'] },
    ]);
  });

  it('merge with key [""] (if null then lastWriteWins)', () => {
    run(
      {
        if: { type: 'null' },
        // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
        then: { reduce: { strategy: 'lastWriteWins' } },
        else: { reduce: { strategy: 'merge', key: [''] } },
      },
      [
        { p: [5, 9], expect: [5, 9] },
        { p: [7], expect: [5, 7, 9] },
        { p: [2, 4, 5], expect: [2, 4, 5, 7, 9] },
        { p: null, expect: null },
        { p: [1, 2], error: 'NotAssociative' },
        { f: [1, 2], expect: [1, 2] },
      ],
    );
  });

  it('merge of objects, additionalProperties "del" deletes on full reduction', () => {
    run(
      {
        reduce: { strategy: 'merge' },
        additionalProperties: {
          if: { const: 'del' },
          // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
          then: { reduce: { strategy: 'lastWriteWins', delete: true } },
        },
      },
      [
        { p: { '5': 5, '9': 9 }, expect: { '5': 5, '9': 9 } },
        { p: { '5': 'del', '6': 6 }, expect: { '5': 'del', '6': 6, '9': 9 } },
        { f: { '5': 'del', '7': 7 }, expect: { '6': 6, '7': 7, '9': 9 } },
      ],
    );
  });

  it('minimize and maximize without key', () => {
    const min: Row[] = [
      { p: 3, expect: 3 },
      { p: 4, expect: 3 },
      { p: 3, expect: 3 },
      { p: 2, expect: 2 },
    ];
    run({ reduce: { strategy: 'minimize' } }, min);
    run({ reduce: { strategy: 'maximize' } }, [
      { p: 3, expect: 3 },
      { p: 4, expect: 4 },
      { p: 4, expect: 4 },
      { p: 2, expect: 4 },
    ]);
  });

  it('minimize with key /k, n summed on equal keys', () => {
    run(
      { reduce: { strategy: 'minimize', key: ['/k'] }, properties: { n: { reduce: { strategy: 'sum' } } } },
      [
        { p: { k: 3, n: 1 }, expect: { k: 3, n: 1 } },
        { p: { k: 4, n: 1 }, expect: { k: 3, n: 1 } },
        { p: { k: 3, n: 1, '!': true }, expect: { k: 3, n: 2, '!': true } },
        { p: { k: 2, n: 1 }, expect: { k: 2, n: 1 } },
        { p: { k: null, n: -1 }, expect: { k: null, n: -1 } },
      ],
    );
  });

  it('RFC 7396 merge patch', () => {
    const patch = {
      $defs: {
        patch: {
          if: { type: 'object' },
          // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
          then: { reduce: { strategy: 'merge' }, additionalProperties: { $ref: '#/$defs/patch' } },
          else: {
            if: { type: 'null' },
            // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
            then: { reduce: { strategy: 'lastWriteWins', delete: true } },
            else: { reduce: { strategy: 'lastWriteWins' } },
          },
        },
      },
      $ref: '#/$defs/patch',
    };
    run(patch, [
      { p: { a: 32.6, c: { d: [42], f: 'g' } }, expect: { a: 32.6, c: { d: [42], f: 'g' } } },
      { p: { c: { d: 'e' } }, expect: { a: 32.6, c: { d: 'e', f: 'g' } } },
      { f: { a: 'z', c: { f: null } }, expect: { a: 'z', c: { d: 'e' } } },
    ]);
  });
});
