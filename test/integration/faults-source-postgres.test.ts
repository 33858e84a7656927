/**
 * source-postgres-batch on the local stack (a real PostgreSQL, the capture's EventBridge schedule), rows
 * summed per region downstream, so a row read twice would count twice:
 * - the poll appends its rows, then saving its state fails (S3 refusing the state object's PutObject on
 *   every SDK attempt): EventBridge invokes it again, the re-poll appends the same rows with the same
 *   origins, and the collection's reduced view and the PostgreSQL materialization count each row once
 *   (docs/connectors.md, "Captures exactly once");
 * - a row that fails the collection's schema halts the capture at it: the poll appends nothing (not the
 *   good rows polled with it either) and saves no state, every poll fails the same way, and once the row
 *   is fixed the next poll reads it and the rows after it. Nothing is skipped.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { DynamoStateStore } from '../../shared/adapters/dynamodb.ts';
import { isObject } from '../../shared/json/types.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { integrationFixture, startAssembly } from '../support/assembly.ts';
import { startPostgres } from '../support/postgres.ts';
import { stateSaveRefusals } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/connector-faults/pg-capture.flow.yaml', import.meta.url));
const fixture = integrationFixture(FIXTURE);
const cleanup = fixture.cleanup;

type Sums = Record<string, { amount: number; n: number }>;

async function view(runner: AssemblyRunner): Promise<Sums> {
  const out: Sums = {};
  const store = new DynamoStateStore({ client: runner.admin.dynamodb, table: runner.resources.stateTable! });
  for await (const it of store.scan('faults/region-sums')) {
    const d = it.doc as { region: string; amount: number; n: number };
    out[d.region] = { amount: d.amount, n: d.n };
  }
  return out;
}

async function table(c: pg.Client): Promise<Sums> {
  const r = await c.query<{ region: string; amount: string; n: string }>(
    'SELECT region, amount, n FROM public.region_sums ORDER BY region',
  );
  return Object.fromEntries(r.rows.map((x) => [x.region, { amount: Number(x.amount), n: Number(x.n) }]));
}

function oracle(rows: { region: string; amount: number }[]): Sums {
  const out: Sums = {};
  for (const r of rows) {
    out[r.region] ??= { amount: 0, n: 0 };
    out[r.region].amount += r.amount;
    out[r.region].n++;
  }
  return out;
}

describe('source-postgres-batch: a poll that dies before saving its state, a row the schema refuses', () => {
  it('the re-poll counts nothing twice; the bad row halts the capture until fixed, nothing skipped', async () => {
    const server = await startPostgres();
    cleanup.push(() => server.stop());
    await server.createDatabase('shop');
    const shop = await server.client('shop');
    cleanup.push(() => shop.end());
    const warehouse = await server.client();
    cleanup.push(() => warehouse.end());
    await shop.query(
      'CREATE TABLE public.orders (order_id INTEGER PRIMARY KEY, region TEXT NOT NULL, amount INTEGER NOT NULL, n INTEGER NOT NULL DEFAULT 1, updated_at TIMESTAMPTZ NOT NULL)',
    );
    const rows: { order_id: number; region: string; amount: number }[] = [];
    const insert = async (from: number, n: number, amount = (i: number) => (i * 7) % 23) => {
      for (let i = from; i < from + n; i++) {
        const r = { order_id: i, region: `r${i % 3}`, amount: amount(i) };
        await shop.query(
          'INSERT INTO public.orders (order_id, region, amount, updated_at) VALUES ($1, $2, $3, $4)',
          [r.order_id, r.region, r.amount, new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString()],
        );
        rows.push(r);
      }
    };
    await insert(1, 30);

    const catalog = structuredClone(fixture.catalog);
    for (const t of [catalog.captures['faults/from-pg'], catalog.materializations['faults/sums-to-pg']]) {
      if (!isObject(t.endpoint.config)) throw new Error('fixture: no config');
      Object.assign(t.endpoint.config, {
        address: server.address,
        user: server.user,
        password: server.password,
      });
    }
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-faults-pgsrc-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    // The first save is the state made before the very first poll; the next one follows the poll's
    // append: refuse it on each of the SDK's three attempts.
    const refusals = stateSaveRefusals('faults/from-pg', 0, (ok) => {
      if (ok === 1) refusals.refuse = 3;
    });
    const runner = await startAssembly(catalog, { dataDir, hooks: refusals.hooks });
    cleanup.push(() => runner.stop());

    await runner.runSchedules();
    await runner.drain();
    expect(refusals.saves).toEqual({ ok: 2, refused: 3 });
    // Every row was appended twice (the poll, then the re-poll), and counted once.
    expect(runner.task('persister:faults/region-sums').metrics.DocsIn).toBe(2 * rows.length);
    expect(runner.task('materialization:faults/sums-to-pg').metrics.DocsIn).toBe(2 * rows.length);
    expect(runner.ruleErrors().join('\n')).toMatch(/SlowDown|reduce your request rate/);
    expect(await view(runner)).toEqual(oracle(rows));
    expect(await table(warehouse)).toEqual(oracle(rows));

    // A row the collection's schema refuses (amount minimum 0), among good ones polled with it.
    const good = rows.length;
    await insert(31, 3);
    await insert(34, 1, () => -5);
    await insert(35, 3);
    const before = await savedState(runner, refusals.key);
    for (let i = 0; i < 2; i++) {
      await runner.runSchedules();
      await runner.drain();
      expect(runner.ruleErrors().join('\n')).toMatch(/SchemaViolation|amount/);
    }
    // Halted at it: nothing of those polls appended, the state where it was.
    expect(await view(runner)).toEqual(oracle(rows.slice(0, good)));
    expect(await savedState(runner, refusals.key)).toBe(before);

    // Fixed at the source: the next poll reads it and the rows after it.
    await shop.query('UPDATE public.orders SET amount = 5 WHERE order_id = 34');
    const fixed = rows.find((r) => r.order_id === 34);
    if (fixed) fixed.amount = 5;
    await runner.runSchedules();
    await runner.drain();
    expect(await view(runner)).toEqual(oracle(rows));
    expect(await table(warehouse)).toEqual(oracle(rows));
    expect(runner.denied).toEqual([]);
  });
});

/** The capture's saved state object, as text. */
async function savedState(runner: AssemblyRunner, key: string): Promise<string | undefined> {
  const bucket = runner.task('capture:faults/from-pg').fn.fn.environment.SLUICE_BUCKET as string;
  const r = await runner.admin.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return r.Body?.transformToString();
}
