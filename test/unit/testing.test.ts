// The catalog test runner against hand-made catalogs: ingest-step combining, isolation, diffs.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { TestSpec } from '../../shared/catalog/model.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { supersetDiff, TestRunner } from '../../shared/testing/runner.ts';
import { f64Eq, verifyEqual } from '../../shared/testing/verify-equal.ts';

const bank = join(import.meta.dirname, '..', 'fixtures', 'bank', 'flow.yaml');

async function setup() {
  const { catalog, diagnostics } = await loadCatalog(bank);
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return {
    catalog: catalog!,
    runner: await TestRunner.create(catalog!, new SchemaRegistry(catalog!.schemas)),
  };
}

function test(name: string, steps: TestSpec['steps']): TestSpec {
  return { name, steps, source: { file: bank, line: 1, col: 1, pointer: '' } };
}
const at = { file: bank, line: 1, col: 1, pointer: '' };

describe('TestRunner', () => {
  it('combines one ingest step by key before derivations see it', async () => {
    const { runner } = await setup();
    const r = await runner.run(
      test('t', [
        {
          kind: 'ingest',
          collection: 'acmeBank/transfers',
          documents: [
            { id: 1, sender: 'a', recipient: 'b', amount: 5 },
            { id: 1, sender: 'a', recipient: 'b', amount: 7 }, // same key: last write wins, derivation sees one
          ],
          source: at,
        },
        {
          kind: 'verify',
          collection: { name: 'acmeBank/balances' },
          documents: [
            { user: 'a', balance: -7 },
            { user: 'b', balance: 7 },
          ],
          source: at,
        },
      ]),
    );
    expect(r.failure).toBeUndefined();
    expect(r.passed).toBe(true);
  });

  it('fails an ingest of an invalid document naming its index and the schema error', async () => {
    const { runner } = await setup();
    const r = await runner.run(
      test('t', [
        {
          kind: 'ingest',
          collection: 'acmeBank/transfers',
          documents: [
            { id: 1, sender: 'a', recipient: 'b', amount: 5 },
            { id: 2, sender: 'a', recipient: 'b', amount: 'x' },
          ],
          source: at,
        },
      ]),
    );
    expect(r.passed).toBe(false);
    expect(r.failure?.step).toBe(0);
    expect(r.failure?.message).toMatch(/document 1/);
    expect(r.failure?.message).toContain('/amount');
  });

  it('reports unexpected and missing documents by index', async () => {
    const { runner } = await setup();
    const ingest = {
      kind: 'ingest' as const,
      collection: 'acmeBank/transfers',
      documents: [{ id: 1, sender: 'a', recipient: 'b', amount: 5 }],
      source: at,
    };
    const extra = await runner.run(
      test('t', [
        ingest,
        { kind: 'verify', collection: { name: 'acmeBank/balances' }, documents: [{ user: 'a' }], source: at },
      ]),
    );
    expect(extra.failure?.diff).toContain('unexpected document at index 1: {"user":"b","balance":5}');
    const missing = await runner.run(
      test('t', [
        ingest,
        {
          kind: 'verify',
          collection: { name: 'acmeBank/balances' },
          documents: [{}, {}, { user: 'c' }],
          source: at,
        },
      ]),
    );
    expect(missing.failure?.diff?.[0]).toBe('missing expected document at index 2: {"user":"c"}');
  });

  it('isolates test cases from each other', async () => {
    const { runner } = await setup();
    const ingest = {
      kind: 'ingest' as const,
      collection: 'acmeBank/transfers',
      documents: [{ id: 1, sender: 'a', recipient: 'b', amount: 5 }],
      source: at,
    };
    const verify = {
      kind: 'verify' as const,
      collection: { name: 'acmeBank/balances' },
      documents: [
        { user: 'a', balance: -5 },
        { user: 'b', balance: 5 },
      ],
      source: at,
    };
    expect((await runner.run(test('one', [ingest, verify]))).passed).toBe(true);
    expect((await runner.run(test('two', [ingest, verify]))).passed).toBe(true);
  });
});

describe("scheduling of Estuary's test driver (go/testing/action.go RunTestCase)", () => {
  const selfCredit = join(import.meta.dirname, '..', 'fixtures', 'self-credit', 'flow.yaml');

  it('runs ready derivations before an ingest: a derivation reading its own output is credited in time', async () => {
    const { catalog, diagnostics } = await loadCatalog(selfCredit);
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const runner = await TestRunner.create(catalog!, new SchemaRegistry(catalog!.schemas));
    const r = await runner.run(catalog!.tests['ledger/tests/credit-before-next-ingest']);
    // Before the fix only verify steps settled: payment 2 was debited before payment 1's credit and refused.
    expect(r.failure).toBeUndefined();
    expect(r.passed).toBe(true);
  });
});

describe('float tolerance of verify (Estuary crates/doc/src/diff.rs)', () => {
  it('f64_eq: the vectors of diff.rs test_f64_eq', () => {
    const sub = (a: number, b: number) => a - b;
    expect(f64Eq(0.0, 0.0)).toBe(true);
    expect(f64Eq(0.0, sub(4.01, 4.01))).toBe(true);
    expect(f64Eq(3.3e-12, sub(6.6e-12, 3.3e-12))).toBe(true);
    expect(f64Eq(2.0, sub(2.0, Number.EPSILON))).toBe(true);
    expect(f64Eq(0.0, sub(0.0, Number.EPSILON))).toBe(true);
    expect(f64Eq(1.0e-10, sub(1.0e-10, Number.EPSILON))).toBe(true);
    expect(f64Eq(1.01e-16, 1.04e-16)).toBe(true);
    expect(f64Eq(1.3999999999999775, 1.3999999999999773)).toBe(true); // "an actual failure during catalog tests"
    expect(f64Eq(1.0, 1.00001)).toBe(false);
    expect(f64Eq(4.56e10, 4.5603e10)).toBe(false);
  });

  it('floats within epsilon match; integers and other values compare exactly', () => {
    expect(verifyEqual(44.1, 44.099999999999994)).toBe(true); // Estuary's temp-sensors example
    expect(verifyEqual(0.3, 0.1 + 0.2)).toBe(true);
    expect(verifyEqual(44.1, 44.10001)).toBe(false);
    expect(verifyEqual(3, 3.0)).toBe(true);
    expect(verifyEqual(9007199254740992, 9007199254740994)).toBe(false);
    expect(verifyEqual('44.1', '44.099999999999994')).toBe(false);
    expect(supersetDiff({ t: { avg: 44.1 } }, { t: { avg: 44.099999999999994 } }, '', true)).toEqual([]);
  });

  it('a test of float sums passes the way it does in Estuary', async () => {
    const { runner } = await setup();
    const r = await runner.run(
      test('floats', [
        {
          kind: 'ingest',
          collection: 'acmeBank/transfers',
          documents: [
            { id: 1, sender: 'a', recipient: 'b', amount: 0.1 },
            { id: 2, sender: 'a', recipient: 'b', amount: 0.2 },
          ],
          source: at,
        },
        {
          kind: 'verify',
          collection: { name: 'acmeBank/balances' },
          documents: [
            { user: 'a', balance: -0.3 },
            { user: 'b', balance: 0.3 },
          ],
          source: at,
        },
      ]),
    );
    expect(r.failure).toBeUndefined();
  });
});

describe('supersetDiff', () => {
  it('accepts extra actual fields, ignores root _meta, compares numbers by value', () => {
    expect(
      supersetDiff(
        { a: 1, b: { c: 2 } },
        { a: 1.0, b: { c: 2, d: 3 }, e: 4, _meta: { uuid: 'x' } },
        '',
        true,
      ),
    ).toEqual([]);
    expect(supersetDiff({ _meta: { op: 'd' } }, { a: 1 }, '', true)).toEqual([]);
  });
  it('names the pointer of each difference', () => {
    expect(supersetDiff({ a: { 'x/y': [1, 2] } }, { a: { 'x/y': [1, 3] } }, '', true)).toEqual([
      '/a/x~1y/1: expected 2, actual 3',
    ]);
    expect(supersetDiff({ a: 1 }, {}, '', true)).toEqual(['/a: missing; expected 1']);
    expect(supersetDiff({ a: [1] }, { a: [1, 2] }, '', true)).toEqual([
      '/a: 1 more item(s) than expected: [2]',
    ]);
  });
});
