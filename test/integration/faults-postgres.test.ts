/**
 * materialize-postgres on the local stack, with its connection broken at COMMIT by a TCP proxy between
 * the function and a real PostgreSQL (test/support/pg-fault-proxy.ts):
 * - the backend gone before COMMIT (the transaction rolls back): the batch fails, is delivered again
 *   and applied once;
 * - COMMIT applied but its answer lost (the connection dropped right after): the warm instance cannot
 *   tell; the redelivered batch must find the committed checkpoint and apply nothing twice.
 * After each, the table equals the oracle (per-user count and total: a document doubled or lost shows).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isObject } from '../../shared/json/types.ts';
import { integrationFixture, startAssembly } from '../support/assembly.ts';
import { startPgFaultProxy } from '../support/pg-fault-proxy.ts';
import { startPostgres } from '../support/postgres.ts';
import { postJson, sumEvents, sumOracle } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/connector-faults/pg.flow.yaml', import.meta.url));
const fixture = integrationFixture(FIXTURE);
const cleanup = fixture.cleanup;

async function table(c: pg.Client): Promise<Record<string, { count: number; total: number }>> {
  const r = await c.query<{ user: string; count: string; total: string }>(
    'SELECT "user", count, total FROM public.sums ORDER BY "user"',
  );
  return Object.fromEntries(r.rows.map((x) => [x.user, { count: Number(x.count), total: Number(x.total) }]));
}

describe('materialize-postgres with its connection broken at COMMIT', () => {
  it('a rolled-back and an applied-but-unacknowledged COMMIT: the table equals the oracle, nothing doubled or lost', async () => {
    const server = await startPostgres();
    cleanup.push(() => server.stop());
    const proxy = await startPgFaultProxy(server.host, server.port);
    cleanup.push(() => proxy.close());
    const admin = await server.client();
    cleanup.push(() => admin.end());
    const catalog = structuredClone(fixture.catalog);
    const cfg = catalog.materializations['faults/to-pg'].endpoint.config;
    if (!isObject(cfg)) throw new Error('fixture: no config');
    Object.assign(cfg, { address: proxy.address, user: server.user, password: server.password });
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-faults-pg-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const runner = await startAssembly(catalog, { dataDir, shards: 1 });
    cleanup.push(() => runner.stop());

    const shape = { users: 5, mul: 13, mod: 41 };
    const sent: { user: string; count: number; total: number }[] = [];
    const post = async (from: number, n: number) => {
      const docs = sumEvents(n, from, shape).map((e) => ({ user: e.user, count: 1, total: e.amount }));
      sent.push(...docs);
      expect(await postJson(`${runner.ingestUrl}/faults/ingest/sums`, docs)).toBe(200);
    };
    const oracle = () => sumOracle(sent.map((d) => ({ id: '', user: d.user, amount: d.total })));

    await post(0, 40);
    await runner.drain();
    expect(await table(admin)).toEqual(oracle());

    // The backend goes away before COMMIT: rolled back, the batch is delivered again.
    proxy.arm('drop-before');
    await post(40, 40);
    await runner.drain();
    expect(proxy.broken).toBe(1);
    expect(await table(admin)).toEqual(oracle());

    // COMMIT applied, its answer lost: the same warm instance gets the batch again.
    proxy.arm('drop-after');
    await post(80, 40);
    await runner.drain();
    expect(proxy.broken).toBe(2);
    const fn = runner.task('materialization:faults/to-pg');
    expect(fn.metrics.TaskErrors ?? 0).toBe(2);
    expect(await table(admin)).toEqual(oracle());

    // And it goes on normally afterwards.
    await post(120, 20);
    await runner.drain();
    expect(await table(admin)).toEqual(oracle());
  });
});
