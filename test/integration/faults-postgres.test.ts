/**
 * materialize-postgres on the local stack, with its connection broken at COMMIT by a TCP proxy between
 * the function and a real PostgreSQL (test/support/pg-fault-proxy.ts):
 * - the backend gone before COMMIT (the transaction rolls back): the batch fails, is delivered again
 *   and applied once;
 * - COMMIT applied but its answer lost (the connection dropped right after): the warm instance cannot
 *   tell; the redelivered batch must find the committed checkpoint and apply nothing twice.
 * After each, the table equals the oracle (per-user count and total: a document doubled or lost shows).
 * And under `park`, a CHECK constraint the user put on the table refusing one user's rows (SQLSTATE
 * 23514): only that user's documents are parked, the other rows of their batches commit once, and after
 * the constraint is dropped a redrive applies the parked ones once (a second redrive finds nothing);
 * under `halt` (the default) the shard stops at the record holding such a row, the records before it
 * applied (the mapping bisects down to it), nothing after it, and resumes there once it is dropped.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isObject } from '../../shared/json/types.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { MappingHaltedError } from '../../shared/local/esm.ts';
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

/**
 * A real PostgreSQL and the fixture's flow on the local stack, its materialization pointed at the server
 * (or, with `proxy`, at a fault proxy in front of it); everything is stopped after the test.
 */
async function pgStack(name: string, opts: { proxy?: boolean; context?: Record<string, unknown> } = {}) {
  const server = await startPostgres();
  cleanup.push(() => server.stop());
  const proxy = opts.proxy ? await startPgFaultProxy(server.host, server.port) : undefined;
  if (proxy) cleanup.push(() => proxy.close());
  const admin = await server.client();
  cleanup.push(() => admin.end());
  const catalog = structuredClone(fixture.catalog);
  const cfg = catalog.materializations['faults/to-pg'].endpoint.config;
  if (!isObject(cfg)) throw new Error('fixture: no config');
  Object.assign(cfg, {
    address: proxy?.address ?? server.address,
    user: server.user,
    password: server.password,
  });
  const dataDir = mkdtempSync(join(tmpdir(), `sluice-faults-${name}-`));
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const runner = await startAssembly(catalog, { dataDir, shards: 1, context: opts.context });
  cleanup.push(() => runner.stop());
  return { server, proxy, admin, runner };
}

type Sum = { user: string; count: number; total: number };

/**
 * What a test posts to the fixture's ingest (one row per event: count 1, its amount as total), kept in
 * `sent`, and the table the oracle expects of `docs` (all sent, by default).
 */
function sums(runner: AssemblyRunner, shape: { users: number; mul: number; mod: number }) {
  const sent: Sum[] = [];
  return {
    sent,
    batch: (from: number, n: number): Sum[] =>
      sumEvents(n, from, shape).map((e) => ({ user: e.user, count: 1, total: e.amount })),
    post: async (docs: Sum[]) => {
      sent.push(...docs);
      expect(await postJson(`${runner.ingestUrl}/faults/ingest/sums`, docs)).toBe(200);
    },
    oracle: (docs: Sum[] = sent) => sumOracle(docs.map((d) => ({ id: '', user: d.user, amount: d.total }))),
  };
}

describe('materialize-postgres with its connection broken at COMMIT', () => {
  it('a rolled-back and an applied-but-unacknowledged COMMIT: the table equals the oracle, nothing doubled or lost', async () => {
    const { proxy: p, admin, runner } = await pgStack('pg', { proxy: true });
    const proxy = p!;

    const { batch, post, oracle } = sums(runner, { users: 5, mul: 13, mod: 41 });

    await post(batch(0, 40));
    await runner.drain();
    expect(await table(admin)).toEqual(oracle());

    // The backend goes away before COMMIT: rolled back, the batch is delivered again.
    proxy.arm('drop-before');
    await post(batch(40, 40));
    await runner.drain();
    expect(proxy.broken).toBe(1);
    expect(await table(admin)).toEqual(oracle());

    // COMMIT applied, its answer lost: the same warm instance gets the batch again.
    proxy.arm('drop-after');
    await post(batch(80, 40));
    await runner.drain();
    expect(proxy.broken).toBe(2);
    const fn = runner.task('materialization:faults/to-pg');
    expect(fn.metrics.TaskErrors ?? 0).toBe(2);
    expect(await table(admin)).toEqual(oracle());

    // And it goes on normally afterwards.
    await post(batch(120, 20));
    await runner.drain();
    expect(await table(admin)).toEqual(oracle());
  });
});

describe('materialize-postgres under park with a row the destination refuses', () => {
  it('parks only the refused documents; the other rows are committed once; redrive after the fix applies them once', async () => {
    const { admin, runner } = await pgStack('pgpark', { context: { onFailure: 'park' } });
    const label = 'materialization:faults/to-pg';

    const { batch, post, oracle } = sums(runner, { users: 5, mul: 17, mod: 37 });

    await post(batch(0, 20));
    await runner.drain();
    expect(await table(admin)).toEqual(oracle());
    // The user's own rule on the destination table, for new writes: u4 is refused (SQLSTATE 23514, the row's fault).
    await admin.query(`ALTER TABLE public.sums ADD CONSTRAINT no_u4 CHECK ("user" <> 'u4') NOT VALID`);
    const before = oracle().u4;
    for (let i = 20; i < 80; i += 20) await post(batch(i, 20));
    await runner.drain();
    const { u4, ...others } = oracle();
    const { u4: stuck, ...rest } = await table(admin);
    expect(rest).toEqual(others);
    expect(stuck).toEqual(before);
    const parked = await runner.parkingLot(label).list();
    const docs = parked.map((p) => p.parked.doc as { user: string; count: number; total: number });
    expect(new Set(docs.map((d) => d.user))).toEqual(new Set(['u4']));
    expect(parked.every((p) => /no_u4|23514|check constraint/i.test(p.parked.error))).toBe(true);
    expect(new Set(parked.map((p) => p.key)).size).toBe(parked.length);
    expect(docs.reduce((n, d) => n + d.count, 0)).toBe(u4.count - before.count);
    expect(docs.reduce((n, d) => n + d.total, 0)).toBe(u4.total - before.total);

    // Fixed: the redrive applies each parked document once; a second one has nothing left.
    await admin.query('ALTER TABLE public.sums DROP CONSTRAINT no_u4');
    const r = await runner.redrive(label);
    expect(r).toMatchObject({ redriven: parked.length, remaining: 0 });
    expect(await table(admin)).toEqual(oracle());
    expect(await runner.redrive(label)).toMatchObject({ redriven: 0, remaining: 0 });
    expect(await table(admin)).toEqual(oracle());
    expect(runner.denied).toEqual([]);
  });
});

describe('materialize-postgres under halt with a row the destination refuses', () => {
  it('halts at the record holding it (bisected down to it), nothing after applied; once fixed, resumes there exactly once', async () => {
    const { admin, runner } = await pgStack('pghalt');

    const { sent, batch, post, oracle } = sums(runner, { users: 5, mul: 11, mod: 29 });

    await post(batch(0, 20));
    await runner.drain();
    expect(await table(admin)).toEqual(oracle());
    // Requests without u4, then one with it, then more without: the shard stops at the one with u4.
    await admin.query(`ALTER TABLE public.sums ADD CONSTRAINT no_u4 CHECK ("user" <> 'u4') NOT VALID`);
    const clean = (from: number) => batch(from, 20).filter((d) => d.user !== 'u4');
    await post(clean(20));
    await post(clean(40));
    const held = sent.length;
    await post(batch(60, 20));
    await post(clean(80));
    const halted = await runner.drain().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(halted).toBeInstanceOf(MappingHaltedError);
    expect((halted as MappingHaltedError).halt.error).toMatch(/no_u4|check constraint/);
    expect(await table(admin)).toEqual(oracle(sent.slice(0, held)));

    await admin.query('ALTER TABLE public.sums DROP CONSTRAINT no_u4');
    await runner.drain();
    expect(await table(admin)).toEqual(oracle());
  });
});
