/**
 * Reduction cases taken from Estuary's own sources (each `it` names the file it comes from), run
 * row by row like Estuary's `run_reduce_cases` (crates/doc/src/reduce/mod.rs): the first row is the
 * initial lhs, each result becomes the next lhs. `p` rows are partial (associative) reductions,
 * `f` rows full ones.
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

function run(schema: Json, rows: Row[], extra: Record<string, Json> = {}): void {
  for (const ownsLhs of [false, true]) {
    const registry = new SchemaRegistry({ 'test://estuary.schema.json': schema, ...extra });
    const reducer = new Reducer(registry, 'test://estuary.schema.json');
    let lhs: Json | undefined;
    rows.forEach((row, i) => {
      const full = 'f' in row;
      const rhs = structuredClone('f' in row ? row.f : row.p);
      const at = `${ownsLhs ? 'owning' : 'copying'} row ${i}`;
      if ('error' in row) {
        let caught: unknown;
        try {
          reducer.reduce(lhs, rhs, full, { ownsLhs });
        } catch (e) {
          caught = e;
        }
        expect(caught, at).toBeInstanceOf(ReduceError);
        expect((caught as ReduceError).code, at).toBe(row.error);
        if (row.error === 'NotAssociative') expect(caught, at).toBeInstanceOf(NotAssociativeError);
        return;
      }
      // Like Estuary's runner, the first document is taken as it is.
      const out = lhs === undefined ? rhs : reducer.reduce(lhs, rhs, full, { ownsLhs });
      expect(out, at).toStrictEqual(row.expect);
      lhs = out;
    });
  }
}

const ifNullThen = (strategy: Json) => ({
  if: { type: 'null' },
  // biome-ignore lint/suspicious/noThenProperty: the JSON Schema keyword
  then: { reduce: { strategy: 'lastWriteWins' } },
  else: { reduce: strategy },
});

describe('merge onto a null (or other) lhs', () => {
  // crates/doc/src/reduce/strategy.rs, test_merge_objects. The reference docs
  // (site/docs/reference/reduction-strategies/merge.md) still say a null lhs "remains null"; the
  // source no longer does that: a partial reduction is NotAssociative, a full one takes rhs.
  it('objects (strategy.rs test_merge_objects)', () => {
    run(ifNullThen({ strategy: 'merge' }), [
      { p: { '5': 5, '9': 9 }, expect: { '5': 5, '9': 9 } },
      { p: { '7': 7 }, expect: { '5': 5, '7': 7, '9': 9 } },
      { p: { '2': 2, '4': 4, '5': 55 }, expect: { '2': 2, '4': 4, '5': 55, '7': 7, '9': 9 } },
      {
        p: { '1': 1, '2': 22, '7': 77, '10': 10 },
        expect: { '1': 1, '2': 22, '4': 4, '5': 55, '7': 77, '9': 9, '10': 10 },
      },
      { p: 'whoops', error: 'MergeWrongType' },
      { p: null, expect: null },
      { p: { '9': 9 }, error: 'NotAssociative' },
      { f: { '9': 9 }, expect: { '9': 9 } },
    ]);
  });

  it('arrays by index, items maximize (strategy.rs test_merge_array_in_place)', () => {
    run({ reduce: { strategy: 'merge' }, items: { reduce: { strategy: 'maximize' } } }, [
      { p: [], expect: [] },
      { p: 'whoops', error: 'MergeWrongType' },
      { p: [0, 1, 0], expect: [0, 1, 0] },
      { p: [3, 0, 2], expect: [3, 1, 2] },
      { p: [-1, 0, 4, 'a'], expect: [3, 1, 4, 'a'] },
      { p: [0, 32.6, 0, 'b'], expect: [3, 32.6, 4, 'b'] },
      { p: {}, error: 'NotAssociative' },
      { f: { a: 'b' }, expect: { a: 'b' } },
    ]);
  });

  it('sorted scalars with key [""] (strategy.rs test_merge_ordered_scalars)', () => {
    run(ifNullThen({ strategy: 'merge', key: [''] }), [
      { p: [5, 9], expect: [5, 9] },
      { p: [7], expect: [5, 7, 9] },
      { p: [2, 4, 5], expect: [2, 4, 5, 7, 9] },
      { p: [1, 2, 7, 10], expect: [1, 2, 4, 5, 7, 9, 10] },
      { p: null, expect: null },
      { p: [1, 2], error: 'NotAssociative' },
      { f: [1, 2], expect: [1, 2] },
    ]);
  });

  it('append onto null stays null (strategy.rs test_append_array)', () => {
    run(ifNullThen({ strategy: 'append' }), [
      { p: [], expect: [] },
      { p: 'whoops', error: 'AppendWrongType' },
      { p: [0, 1], expect: [0, 1] },
      { p: [2, 3, 4], expect: [0, 1, 2, 3, 4] },
      { p: [-1, 'a'], expect: [0, 1, 2, 3, 4, -1, 'a'] },
      { p: {}, error: 'AppendWrongType' },
      { p: null, expect: null },
      { p: [5, 6, 4], expect: null },
    ]);
  });
});

describe('a reduce annotation beside a $ref', () => {
  // site/docs/reference/reduction-strategies/minimize-and-maximize.md: `max` is `$ref: "#min-max-value"`
  // (whose target says `minimize`) with its own `maximize`. The annotation written at the location
  // wins, as in Estuary's doc::Shape inference: crates/doc/src/shape/inference.rs (Shape::infer_inner
  // reads a schema's own keywords first, then intersects each `$ref` referent and `allOf` branch into
  // it) and intersect.rs (Reduction::intersect keeps the left-hand side unless it is unset).
  const minMaxKey: Json = {
    type: 'object',
    reduce: { strategy: 'merge' },
    properties: {
      key: { type: 'string' },
      min: {
        $anchor: 'min-max-value',
        type: 'array',
        items: [{ type: 'string' }, { type: 'number', reduce: { strategy: 'sum' } }],
        reduce: { strategy: 'minimize', key: ['/0'] },
      },
      max: { $ref: '#min-max-value', reduce: { strategy: 'maximize', key: ['/0'] } },
    },
    required: ['key'],
  };

  it('the docs min/max-key example (minimize-and-maximize.md)', () => {
    run(minMaxKey, [
      {
        p: { key: 'key', min: ['a', 1], max: ['a', 1] },
        expect: { key: 'key', min: ['a', 1], max: ['a', 1] },
      },
      {
        p: { key: 'key', min: ['c', 2], max: ['c', 2] },
        expect: { key: 'key', min: ['a', 1], max: ['c', 2] },
      },
      {
        p: { key: 'key', min: ['b', 3], max: ['b', 3] },
        expect: { key: 'key', min: ['a', 1], max: ['c', 2] },
      },
      // Min of equal keys ["a", 1] and ["a", 4] => ["a", 5].
      {
        p: { key: 'key', min: ['a', 4], max: ['a', 4] },
        expect: { key: 'key', min: ['a', 5], max: ['c', 2] },
      },
    ]);
  });

  it('also beside allOf, and through chains of $refs; siblings still conflict', () => {
    run(
      {
        $defs: {
          lo: { reduce: { strategy: 'minimize' } },
          mid: { $ref: '#/$defs/lo', reduce: { strategy: 'sum' } },
        },
        allOf: [{ $ref: '#/$defs/mid' }],
        reduce: { strategy: 'maximize' },
      },
      [
        { p: 3, expect: 3 },
        { p: 5, expect: 5 },
        { p: 4, expect: 5 },
      ],
    );
    // A $ref to a schema whose own annotation beats the one its own $ref reaches.
    run(
      {
        $defs: {
          lo: { reduce: { strategy: 'minimize' } },
          mid: { $ref: '#/$defs/lo', reduce: { strategy: 'sum' } },
        },
        $ref: '#/$defs/mid',
      },
      [
        { p: 3, expect: 3 },
        { p: 5, expect: 8 },
      ],
    );
    run({ allOf: [{ reduce: { strategy: 'sum' } }, { reduce: { strategy: 'maximize' } }] }, [
      { p: 1, expect: 1 },
      { p: 2, error: 'ConflictingStrategies' },
    ]);
  });
});

describe('sum', () => {
  it('numbers (strategy.rs test_sum, first part)', () => {
    // Left out: `u64::MAX - 32`, which a JavaScript number cannot hold exactly.
    run({ reduce: { strategy: 'sum' } }, [
      { p: 0, expect: 0 },
      { p: 'whoops', error: 'SumWrongType' },
      { p: 123, expect: 123 },
      { p: 45, expect: 168 },
      { p: -70, expect: 98 },
      { p: 0.1, expect: 98.1 },
      { p: -98.1, expect: 0 },
      { p: Number.MAX_VALUE, expect: Number.MAX_VALUE },
      { p: Number.MAX_VALUE / 10, error: 'SumNumericOverflow' },
      { p: -1, expect: Number.MAX_VALUE },
      { p: -Number.MAX_VALUE / 2, expect: Number.MAX_VALUE / 2 },
      { p: -Number.MAX_VALUE / 2, expect: 0 },
      { p: 'whoops', error: 'SumWrongType' },
    ]);
  });

  it('string-encoded numbers coerce to arbitrary precision (strategy.rs test_sum, second part)', () => {
    // A double joins a decimal with 16 significant digits (bigdecimal's `{:.15e}` conversion):
    // 86753.09 counts as 86753.09000000000.
    run({ reduce: { strategy: 'sum' } }, [
      { p: 0, expect: 0 },
      { p: '1', expect: '1' },
      { p: '9000000000000000000', expect: '9000000000000000001' },
      { p: '10000000000000000000', expect: '19000000000000000001' },
      { p: 1233, expect: '19000000000000001234' },
      { p: -10000, expect: '18999999999999991234' },
      { p: 86753.09, expect: '19000000000000077987.09000000000' },
      { p: '10203.040506070812', expect: '19000000000000088190.130506070812' },
    ]);
  });

  it('bigSum as its docs page says (reduction-strategies/big-sum.md): numbers and numeric strings in, always a string out', () => {
    // The page came with estuary/flow PR #1476 (closed unmerged); #1477 made `sum` add numeric strings.
    // Catalogs written from the docs use `bigSum`: it is accepted and behaves as documented, and the
    // page's example gives the same with `sum`.
    for (const strategy of ['bigSum', 'sum'])
      run(
        { type: 'object', reduce: { strategy: 'merge' }, properties: { value: { reduce: { strategy } } } },
        [
          { p: { key: 'key', value: 5 }, expect: { key: 'key', value: 5 } },
          { p: { key: 'key', value: '-1.2' }, expect: { key: 'key', value: '3.8' } },
        ],
      );
    run({ reduce: { strategy: 'bigSum' } }, [
      { p: '18446744073709551615', expect: '18446744073709551615' },
      { p: 1, expect: '18446744073709551616' },
      { p: '0.5', expect: '18446744073709551616.5' },
      { p: true, error: 'BigSumWrongType' },
    ]);
  });

  it('a string without lhs is added to 0, which writes it in plain notation (strategy.rs sum: no lhs is PosInt(0))', () => {
    run(
      {
        type: 'object',
        reduce: { strategy: 'merge' },
        additionalProperties: { reduce: { strategy: 'sum' } },
      },
      [
        { p: { a: 1 }, expect: { a: 1 } },
        {
          p: { b: '1e3', c: '0.50', d: '+.5', e: '1_000', f: 7 },
          expect: { a: 1, b: '1000', c: '0.50', d: '0.5', e: '1000', f: 7 },
        },
        { p: { g: 'x' }, error: 'SumWrongType' },
      ],
    );
    run({ reduce: { strategy: 'merge' }, items: { reduce: { strategy: 'sum' } } }, [
      { p: [1], expect: [1] },
      { p: [1, '2e1'], expect: [2, '20'] },
    ]);
  });
});
