/**
 * The warehouse example end to end on the local stack, through its synthesized assembly (functions in
 * Lambda's sandbox, under their roles): a real PostgreSQL `shop.public.orders` table is
 * polled by source-postgres-batch (cursor `updated_at`), rolled up by day and region by the example's
 * TypeScript derivation, and materialized into a PostgreSQL reporting table (exactly once) and an S3 lake
 * (delta files). The example's catalog is loaded as is; only the built model's connection addresses are
 * pointed at the test server, with the test server's password (a `${ENV}` reference resolves nowhere
 * on Lambda: deployed catalogs use secretsmanager:/ssm: references).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../shared/adapters/s3.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { isObject } from '../../shared/json/types.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { startAssembly } from '../support/assembly.ts';
import { type PgServer, startPostgres } from '../support/postgres.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/warehouse/flow.yaml', import.meta.url));
let server: PgServer;
let shop: pg.Client;
let reporting: pg.Client;
let catalog: BuiltCatalog;
let dataDir: string;

beforeAll(async () => {
  server = await startPostgres();
  await server.createDatabase('shop');
  await server.createDatabase('reporting');
  shop = await server.client('shop');
  reporting = await server.client('reporting');
  process.env.WAREHOUSE_PG_PASSWORD = server.password;
  const r = await loadCatalog(EXAMPLE);
  if (!r.catalog) throw new Error(JSON.stringify(r.diagnostics));
  catalog = r.catalog;
  for (const t of [...Object.values(catalog.captures), ...Object.values(catalog.materializations)]) {
    const cfg = t.endpoint.config;
    if (isObject(cfg) && typeof cfg.address === 'string') {
      cfg.address = server.address;
      cfg.user = server.user;
      cfg.password = server.password;
    }
  }
  dataDir = mkdtempSync(join(tmpdir(), 'sluice-warehouse-'));
});
afterAll(async () => {
  await shop?.end();
  await reporting?.end();
  await server?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

interface Order {
  order_id: number;
  region: string;
  customer: string;
  amount: number;
  created_at: string;
}

async function insert(orders: Order[], updatedAt: string): Promise<void> {
  for (const o of orders)
    await shop.query(
      'INSERT INTO public.orders (order_id, region, customer, amount, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)',
      [o.order_id, o.region, o.customer, o.amount, o.created_at, updatedAt],
    );
}

/** The roll-up oracle: per (day, region), orders counted and amounts summed. */
function rollup(orders: Order[]): [string, string, number, number][] {
  const m = new Map<string, [string, string, number, number]>();
  for (const o of orders) {
    const day = o.created_at.slice(0, 10);
    const k = `${day}|${o.region}`;
    const cur = m.get(k) ?? [day, o.region, 0, 0];
    m.set(k, [day, o.region, cur[2] + 1, cur[3] + o.amount]);
  }
  return [...m.values()].sort((a, b) => (a[0] + a[1] < b[0] + b[1] ? -1 : 1));
}

async function table(): Promise<[string, string, number, number][]> {
  const r = await reporting.query<{ day: string; region: string; orders: string; revenue: number }>(
    "SELECT to_char(day, 'YYYY-MM-DD') AS day, region, orders, revenue FROM public.daily_sales_by_region ORDER BY day, region",
  );
  return r.rows.map((x) => [x.day, x.region, Number(x.orders), x.revenue]);
}

describe('examples/warehouse end to end', () => {
  it('PostgreSQL orders → roll-up → PostgreSQL reporting table and S3 lake, across a restart', async () => {
    await shop.query(`CREATE TABLE public.orders (
      order_id INTEGER PRIMARY KEY, region TEXT NOT NULL, customer TEXT, amount DOUBLE PRECISION NOT NULL,
      created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL)`);
    const first: Order[] = Array.from({ length: 30 }, (_, i) => ({
      order_id: i + 1,
      region: ['emea', 'amer', 'apac'][i % 3] as string,
      customer: `c${i % 4}`,
      amount: 10 + i * 2.5,
      created_at: `2026-11-${String(20 + (i % 3)).padStart(2, '0')}T0${i % 9}:00:00.000Z`,
    }));
    await insert(first, '2026-11-23T00:00:00Z');

    const start = async () => {
      const r = await startAssembly(catalog, { dataDir });
      // The lake bucket is the user's (not part of the stack): it exists before the flow writes to it.
      await new S3BlobStore({ client: r.admin.s3, bucket: 'acme-sales-lake' }).ensureBucket();
      return r;
    };
    const settle = async (r: AssemblyRunner) => {
      await r.runSchedules();
      expect(r.ruleErrors()).toEqual([]);
      await r.drain();
      expect(r.denied.map((d) => d.message)).toEqual([]);
    };
    const runner = await start();
    await settle(runner);
    expect(await table()).toEqual(rollup(first));
    // the lake holds gzipped JSON-lines delta files whose documents add up to the same roll-up
    const lake = new S3BlobStore({ client: runner.admin.s3, bucket: 'acme-sales-lake' });
    const files = await lake.list('rollups/daily_by_region/');
    expect(files.length).toBeGreaterThan(0);
    const deltas: { day: string; region: string; orders: number; revenue: number }[] = [];
    for (const f of files.filter((k) => k.endsWith('.jsonl.gz'))) {
      const body = await lake.get(f);
      if (!body) continue;
      for (const line of gunzipSync(body).toString().split('\n')) if (line) deltas.push(JSON.parse(line));
    }
    const summed = new Map<string, [string, string, number, number]>();
    for (const d of deltas) {
      const k = `${d.day}|${d.region}`;
      const cur = summed.get(k) ?? [d.day, d.region, 0, 0];
      summed.set(k, [d.day, d.region, cur[2] + d.orders, cur[3] + d.revenue]);
    }
    expect([...summed.values()].sort((a, b) => (a[0] + a[1] < b[0] + b[1] ? -1 : 1))).toEqual(rollup(first));
    await runner.stop();

    // New rows while stopped: the restarted runner resumes from the saved cursor (nothing re-read).
    const second: Order[] = Array.from({ length: 12 }, (_, i) => ({
      order_id: 100 + i,
      region: i % 2 ? 'emea' : 'latam',
      customer: `d${i}`,
      amount: 5 + i,
      created_at: `2026-11-2${i % 2}T12:00:00.000Z`,
    }));
    await insert(second, '2026-11-24T00:00:00Z');
    const again = await start();
    try {
      await settle(again);
      // Exactly the new rows were captured (a re-read would be counted twice in the roll-up).
      expect(await table()).toEqual(rollup([...first, ...second]));
    } finally {
      await again.stop();
    }
  });
});
